"""ONNX importers for shape and data-movement ops, checked against onnxruntime (opset variants, dynamic shapes)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP, helper as oh, numpy_helper

import inferrt

RNG = np.random.default_rng(0)
from onnx_check import NP2ONNX as _NP2ONNX, check, make_model, vi as _vi  # noqa: E402,F401


def rand(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def dyn(shape, keep=()):
    """An ONNX shape with every dim symbolic except the indices in ``keep``."""
    return [d if i in keep else f"d{i}" for i, d in enumerate(shape)]


# ----------------------------------------------------------------------------------------------- Shape / Size
@pytest.mark.parametrize("opset,kw", [(13, {}), (15, {"start": 1}), (15, {"start": -3, "end": -1}),
                                      (15, {"end": 10})])
def test_shape(opset, kw):
    x = rand(2, 3, 4, 5)
    check([oh.make_node("Shape", ["x"], ["y"], **kw)], {"x": (x, None)}, ["y"], opset=opset)


def test_shape_dynamic_and_size():
    x = rand(2, 3, 4)
    nodes = [oh.make_node("Shape", ["x"], ["s"]), oh.make_node("Size", ["x"], ["n"])]
    check(nodes, {"x": (x, ["N", 3, "W"])}, ["s", "n"])


# ----------------------------------------------------------------------------------------------- Reshape & co
@pytest.mark.parametrize("shape,allowzero", [([0, -1], 0), ([3, 0, 2], 1), ([-1], 0), ([2, 3, 2, 2], 0)])
def test_reshape(shape, allowzero):
    x = rand(2, 3, 4) if not allowzero else rand(3, 0, 2)
    check([oh.make_node("Reshape", ["x", "s"], ["y"], allowzero=allowzero)], {"x": (x, None)}, ["y"],
          inits={"s": np.array(shape, np.int64)}, opset=14)


@pytest.mark.parametrize("axis", [0, 1, 2, -1, 3])
def test_flatten(axis):
    x = rand(2, 3, 4)
    check([oh.make_node("Flatten", ["x"], ["y"], axis=axis)], {"x": (x, None)}, ["y"], opset=13)


@pytest.mark.parametrize("keep", [(), (1,), (0, 2)])
def test_flatten_dynamic(keep):
    x = rand(2, 3, 4)
    check([oh.make_node("Flatten", ["x"], ["y"], axis=1)], {"x": (x, dyn(x.shape, keep))}, ["y"])


@pytest.mark.parametrize("opset", [11, 13])
def test_squeeze_unsqueeze(opset):
    x = rand(1, 3, 1, 4)
    if opset < 13:
        nodes = [oh.make_node("Squeeze", ["x"], ["s"], axes=[0, -2]), oh.make_node("Unsqueeze", ["s"], ["u"],
                                                                                    axes=[0, 3, -1])]
        inits = {}
    else:
        nodes = [oh.make_node("Squeeze", ["x", "a"], ["s"]), oh.make_node("Unsqueeze", ["s", "b"], ["u"])]
        inits = {"a": np.array([0, -2], np.int64), "b": np.array([0, 3, -1], np.int64)}
    check(nodes + [oh.make_node("Squeeze", ["x"], ["all"])], {"x": (x, None)}, ["s", "u", "all"], inits=inits,
          opset=opset)


def test_squeeze_unsqueeze_dynamic():
    x = rand(1, 3, 1, 4)
    nodes = [oh.make_node("Squeeze", ["x", "a"], ["s"]), oh.make_node("Unsqueeze", ["s", "b"], ["u"])]
    check(nodes, {"x": (x, [1, "c", 1, "w"])}, ["s", "u"],
          inits={"a": np.array([2], np.int64), "b": np.array([1, 4], np.int64)})


def test_squeeze_unsqueeze_keep_the_dims_known_at_build_time():
    """With a dynamic input, Squeeze/Unsqueeze keep the known dims (the inserted 1s included) instead of reshaping to
    a run-time shape vector (all -1): the index depth of a GatherND whose indices are unsqueezed and concatenated
    (as torch's dynamo exporter writes for BERT's attention mask) must be known when the GatherND is imported."""
    data = rand(3, 5)
    x = rand(2, 4)
    nodes = [oh.make_node("Shape", ["x"], ["sh"]),
             oh.make_node("Greater", ["x", "zero"], ["pos"]), oh.make_node("Cast", ["pos"], ["e0"], to=TP.INT64),
             oh.make_node("Expand", ["three", "sh"], ["e1"]),
             oh.make_node("Unsqueeze", ["e0", "last"], ["u0"]), oh.make_node("Unsqueeze", ["e1", "last"], ["u1"]),
             oh.make_node("Concat", ["u0", "u1"], ["idx"], axis=-1),
             oh.make_node("GatherND", ["data", "idx"], ["g"]),
             oh.make_node("Squeeze", ["u0", "last"], ["s0"])]
    inits = {"zero": np.zeros((), np.float32), "three": np.array([[3]], np.int64), "last": np.array([-1], np.int64),
             "data": data}
    model = make_model(nodes, {"x": (x, ["n", "m"])}, ["g", "s0"], inits=inits)
    network = inferrt.Builder(inferrt.Logger()).create_network()
    assert inferrt.OnnxParser(network, inferrt.Logger()).parse(model.SerializeToString())
    shapes = {network.get_layer(i).get_output(0).name: tuple(network.get_layer(i).get_output(0).shape)
              for i in range(network.num_layers)}
    assert shapes["u0"] == (-1, -1, 1) and shapes["idx"] == (-1, -1, 2) and shapes["s0"] == (-1, -1)
    check(nodes, {"x": (x, ["n", "m"])}, ["g", "s0"], inits=inits)


@pytest.mark.parametrize("perm", [None, [0, 2, 1, 3], [3, 1, 0, 2]])
def test_transpose(perm):
    x = rand(2, 3, 4, 5)
    kw = {} if perm is None else {"perm": perm}
    check([oh.make_node("Transpose", ["x"], ["y"], **kw)], {"x": (x, None)}, ["y"])


def test_concat_dynamic():
    a, b = rand(2, 3), rand(2, 5)
    check([oh.make_node("Concat", ["a", "b"], ["y"], axis=-1)], {"a": (a, ["n", 3]), "b": (b, ["n", 5])}, ["y"])


# ----------------------------------------------------------------------------------------------- Split / Slice
@pytest.mark.parametrize("opset,mode", [(11, "attr"), (13, "input"), (13, "equal"), (18, "num"), (18, "uneven")])
def test_split(opset, mode):
    x = rand(2, 7 if mode == "uneven" else 6)
    inits, kw, n = {}, {}, 3
    inputs = ["x"]
    if mode == "attr":
        kw["split"] = [1, 2, 3]
    elif mode == "input":
        inits["sp"] = np.array([4, 2], np.int64)
        inputs.append("sp")
        n = 2
    elif mode in ("num", "uneven"):
        kw["num_outputs"] = 3
    outs = [f"y{i}" for i in range(n)]
    check([oh.make_node("Split", inputs, outs, axis=1, **kw)], {"x": (x, None)}, outs, inits=inits, opset=opset)


def test_split_dynamic():
    x = rand(2, 6)
    check([oh.make_node("Split", ["x"], ["a", "b"], axis=1)], {"x": (x, [2, "w"])}, ["a", "b"])


BIG = np.iinfo(np.int64).max
SLICES = [
    ([1], [3], [1], None),
    ([0, -3], [BIG, -1], [0, 2], None),
    ([-1], [-BIG], [1], [-1]),
    ([5, 0], [-10, 10], [2, 1], [-2, 3]),
    ([0], [100], [-1], [2]),
    ([2], [1], [0], None),
]


@pytest.mark.parametrize("starts,ends,axes,steps", SLICES)
@pytest.mark.parametrize("dynamic", [False, True])
def test_slice(starts, ends, axes, steps, dynamic):
    x = rand(4, 5, 6)
    inits = {"s": np.array(starts, np.int64), "e": np.array(ends, np.int64), "a": np.array(axes, np.int64)}
    ins = ["x", "s", "e", "a"]
    if steps is not None:
        inits["t"] = np.array(steps, np.int64)
        ins.append("t")
    check([oh.make_node("Slice", ins, ["y"])], {"x": (x, dyn(x.shape) if dynamic else None)}, ["y"], inits=inits)


@pytest.mark.parametrize("starts,ends,axes,steps", SLICES)
def test_slice_with_runtime_axes_and_steps(starts, ends, axes, steps):
    """Every Slice operand fed at run time (TensorRT needs constant axes and steps; inferrt computes the bounds in
    the graph), against onnxruntime on the same values."""
    x = rand(4, 5, 6)
    inputs = {"x": (x, None), "s": (np.array(starts, np.int64), None), "e": (np.array(ends, np.int64), None),
              "a": (np.array(axes, np.int64), None)}
    ins = ["x", "s", "e", "a"]
    if steps is not None:
        inputs["t"] = (np.array(steps, np.int64), None)
        ins.append("t")
    check([oh.make_node("Slice", ins, ["y"])], inputs, ["y"])


@pytest.mark.parametrize("opset", [13, 18])
@pytest.mark.parametrize("sizes", [[1, 5, 0], [0, 0, 6], [3, 2, 1]])
def test_split_with_runtime_sizes(opset, sizes):
    x = rand(2, 6, 3)
    check([oh.make_node("Split", ["x", "sp"], ["a", "b", "c"], axis=1)],
          {"x": (x, None), "sp": (np.array(sizes, np.int64), None)}, ["a", "b", "c"], opset=opset)


@pytest.mark.parametrize("sizes", [[2, 9], [2, 3]])
def test_split_with_runtime_sizes_that_do_not_cover_the_axis_is_an_error(sizes):
    from onnx_check import make_model

    x = rand(2, 6)
    model = make_model([oh.make_node("Split", ["x", "sp"], ["a", "b"], axis=1, name="sp1")],
                       {"x": (x, None), "sp": (np.array(sizes, np.int64), None)}, ["a", "b"])
    engine = inferrt.build_engine(model, device="cpu")
    with pytest.raises(inferrt.ExecutionError, match="sp1"):
        engine.create_execution_context().infer({"x": x, "sp": np.array(sizes, np.int64)})


def test_slice_opset1_and_dynamic_bounds():
    x = rand(4, 5)
    check([oh.make_node("Slice", ["x"], ["y"], starts=[1, -4], ends=[100, -1], axes=[0, 1])], {"x": (x, None)}, ["y"],
          opset=9)
    s = np.array([1], np.int64)
    check([oh.make_node("Slice", ["x", "s", "e"], ["y"])], {"x": (x, None), "s": (s, None)}, ["y"],
          inits={"e": np.array([-1], np.int64)})


# ----------------------------------------------------------------------------------------------- Shape chains
def _chain_nodes():
    """y = Reshape(x, Concat(Gather(Shape(x), 0), [-1])) -- the common exporter pattern."""
    return [oh.make_node("Shape", ["x"], ["s"]),
            oh.make_node("Gather", ["s", "i0"], ["d0"], axis=0),
            oh.make_node("Unsqueeze", ["d0", "ax"], ["d0u"]),
            oh.make_node("Concat", ["d0u", "m1"], ["tgt"], axis=0),
            oh.make_node("Reshape", ["x", "tgt"], ["y"])]


@pytest.mark.parametrize("dynamic", [False, True])
def test_shape_gather_concat_reshape_chain(dynamic):
    x = rand(3, 4, 5)
    inits = {"i0": np.array(0, np.int64), "ax": np.array([0], np.int64), "m1": np.array([-1], np.int64)}
    check(_chain_nodes(), {"x": (x, ["b", 4, "t"] if dynamic else None)}, ["y"], inits=inits)


def test_shape_chain_folds_to_static_reshape():
    x = rand(3, 4, 5)
    inits = {"i0": np.array(0, np.int64), "ax": np.array([0], np.int64), "m1": np.array([-1], np.int64)}
    model = make_model(_chain_nodes(), {"x": (x, None)}, ["y"], inits)
    logger = inferrt.Logger(inferrt.Logger.ERROR)
    net = inferrt.Builder(logger).create_network()
    assert inferrt.OnnxParser(net, logger).parse(model.SerializeToString())
    assert tuple(net.get_output(0).shape) == (3, 20)


def test_shape_chain_dynamic_is_shape_tensor_reshape():
    x = rand(3, 4, 5)
    inits = {"i0": np.array(0, np.int64), "ax": np.array([0], np.int64), "m1": np.array([-1], np.int64)}
    model = make_model(_chain_nodes(), {"x": (x, ["b", 4, 5])}, ["y"], inits)
    logger = inferrt.Logger(inferrt.Logger.ERROR)
    net = inferrt.Builder(logger).create_network()
    assert inferrt.OnnxParser(net, logger).parse(model.SerializeToString())
    shuffles = [l for l in net if l.type == inferrt.LayerType.SHUFFLE and l.num_inputs > 1 and l.get_input(1)]
    assert shuffles, "the dynamic reshape target must come from a shape tensor (shuffle input 1)"
    assert len(net.get_output(0).shape) == 2


# ----------------------------------------------------------------------------------------------- Gather / Scatter
@pytest.mark.parametrize("axis,idx", [(0, np.array([2, -1, 0])), (1, np.array(1)), (-1, np.array([[0, 3], [-2, 1]]))])
def test_gather(axis, idx):
    x = rand(3, 4, 5)
    check([oh.make_node("Gather", ["x", "i"], ["y"], axis=axis)], {"x": (x, None)}, ["y"],
          inits={"i": idx.astype(np.int64)})


def test_gather_dynamic_indices_input():
    x = rand(5, 4)
    i = np.array([[4, 0], [-1, 2]], np.int32)
    check([oh.make_node("Gather", ["x", "i"], ["y"], axis=0)], {"x": (x, ["n", 4]), "i": (i, ["a", "b"])}, ["y"])


def test_gather_elements_and_nd():
    x = rand(3, 4)
    ie = np.array([[0, 2, 1, -1], [3, 3, 0, 0]], np.int64)
    ind = np.array([[[0, 1]], [[2, 3]]], np.int64)
    nodes = [oh.make_node("GatherElements", ["x", "ie"], ["e"], axis=1),
             oh.make_node("GatherND", ["x", "ind"], ["nd"])]
    check(nodes, {"x": (x, None)}, ["e", "nd"], inits={"ie": ie, "ind": ind})
    xb = rand(2, 3, 4)
    ib = np.array([[1], [2]], np.int64)
    check([oh.make_node("GatherND", ["x", "i"], ["y"], batch_dims=1)], {"x": (xb, None)}, ["y"], inits={"i": ib})


@pytest.mark.parametrize("op,opset,red", [("Scatter", 9, None), ("ScatterElements", 11, None),
                                          ("ScatterElements", 16, "add"), ("ScatterElements", 18, "max")])
def test_scatter_elements(op, opset, red):
    x = rand(3, 4)
    idx = np.array([[1, 0, 2, -1]], np.int64)
    upd = rand(1, 4)
    kw = {"axis": 1} if red is None else {"axis": 1, "reduction": red}
    if op == "Scatter":
        kw = {"axis": 1}
    check([oh.make_node(op, ["x", "i", "u"], ["y"], **kw)], {"x": (x, None), "u": (upd, None)}, ["y"],
          inits={"i": idx}, opset=opset)


@pytest.mark.parametrize("red", [None, "mul"])
def test_scatter_nd(red):
    x = rand(4, 3)
    idx = np.array([[1], [3]], np.int64)
    upd = rand(2, 3)
    kw = {} if red is None else {"reduction": red}
    check([oh.make_node("ScatterND", ["x", "i", "u"], ["y"], **kw)], {"x": (x, None), "u": (upd, None)}, ["y"],
          inits={"i": idx}, opset=16 if red else 13)


# ----------------------------------------------------------------------------------------------- Expand / Tile / Pad
@pytest.mark.parametrize("xs,shape,dynamic", [((3, 1), [2, 3, 4], False), ((1, 4), [3, 1], False),
                                              ((3, 1), [2, 1, 5], True), ((2, 3), [3], False)])
def test_expand(xs, shape, dynamic):
    x = rand(*xs)
    check([oh.make_node("Expand", ["x", "s"], ["y"])], {"x": (x, ["n", 1] if dynamic else None)}, ["y"],
          inits={"s": np.array(shape, np.int64)})


def test_expand_dynamic_shape_input():
    x = rand(3, 1)
    s = np.array([2, 3, 4], np.int64)
    check([oh.make_node("Expand", ["x", "s"], ["y"])], {"x": (x, None), "s": (s, None)}, ["y"])


@pytest.mark.parametrize("dynamic", [False, True])
def test_tile(dynamic):
    x = rand(2, 3)
    check([oh.make_node("Tile", ["x", "r"], ["y"])], {"x": (x, dyn(x.shape) if dynamic else None)}, ["y"],
          inits={"r": np.array([2, 3], np.int64)})


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
@pytest.mark.parametrize("dynamic", [False, True])
def test_pad(mode, dynamic):
    x = rand(2, 3, 4)
    pads = np.array([0, 1, 2, 1, 2, 1], np.int64)
    ins = ["x", "p"] + (["v"] if mode == "constant" else [])
    inits = {"p": pads, "v": np.array(1.5, np.float32)}
    check([oh.make_node("Pad", ins, ["y"], mode=mode)], {"x": (x, dyn(x.shape) if dynamic else None)}, ["y"],
          inits=inits, opset=19)


def test_pad_opset2_axes18_and_negative():
    x = rand(3, 5)
    check([oh.make_node("Pad", ["x"], ["y"], pads=[1, 0, 0, 2], value=-1.0)], {"x": (x, None)}, ["y"], opset=2,
          ref={"y": np.pad(x, ((1, 0), (0, 2)), constant_values=-1.0)})
    check([oh.make_node("Pad", ["x", "p", "", "a"], ["y"])], {"x": (x, None)}, ["y"], opset=18,
          inits={"p": np.array([2, -1], np.int64), "a": np.array([-1], np.int64)})


# ----------------------------------------------------------------------------------------------- constants
def test_constants_and_constant_of_shape():
    x = rand(2, 3)
    nodes = [oh.make_node("Constant", [], ["c1"], value=numpy_helper.from_array(rand(2, 3))),
             oh.make_node("Constant", [], ["c2"], value_floats=[1.0, 2.0, 3.0]),
             oh.make_node("Constant", [], ["c3"], value_int=7),
             oh.make_node("Constant", [], ["c4"], value_ints=[1, 2]),
             oh.make_node("Constant", [], ["c5"], value_float=0.5),
             oh.make_node("Add", ["x", "c1"], ["y"]),
             oh.make_node("Shape", ["x"], ["s"]),
             oh.make_node("ConstantOfShape", ["s"], ["z"], value=numpy_helper.from_array(np.array([3], np.int64)))]
    check(nodes, {"x": (x, None)}, ["y", "c2", "c3", "c4", "c5", "z"])
    check(nodes[-2:], {"x": (x, ["n", 3])}, ["z"])


@pytest.mark.parametrize("vals,dt", [((0, 10, 3), np.int64), ((1.0, -2.0, -0.5), np.float32), ((5, 2, 1), np.int32)])
def test_range(vals, dt):
    inits = {k: np.array(v, dt) for k, v in zip("sld", vals)}
    check([oh.make_node("Range", ["s", "l", "d"], ["y"])], {}, ["y"], inits=inits)


def test_range_dynamic():
    x = rand(5, 2)
    nodes = [oh.make_node("Shape", ["x"], ["s"]), oh.make_node("Gather", ["s", "z"], ["n"], axis=0),
             oh.make_node("Range", ["z", "n", "one"], ["y"])]
    check(nodes, {"x": (x, ["n", 2])}, ["y"], inits={"z": np.array(0, np.int64), "one": np.array(1, np.int64)})


def test_where_identity_dropout():
    c = RNG.random((2, 1, 4)) > 0.5
    a, b = rand(3, 4), rand(2, 3, 1)
    nodes = [oh.make_node("Where", ["c", "a", "b"], ["w"]), oh.make_node("Identity", ["a"], ["i"]),
             oh.make_node("Dropout", ["a"], ["d"])]
    check(nodes, {"c": (c, None), "a": (a, None), "b": (b, None)}, ["w", "i", "d"], opset=13)
    # the mask is all true in inference (ONNX spec and reference; onnxruntime returns all false)
    ref = {"d": a, "m": np.ones(a.shape, np.bool_)}
    check([oh.make_node("Dropout", ["a"], ["d", "m"])], {"a": (a, None)}, ["d", "m"], opset=13, ref=ref)
    check([oh.make_node("Dropout", ["a"], ["d", "m"], ratio=0.3)], {"a": (a, ["r", 4])}, ["d", "m"], opset=10,
          ref=ref)


@pytest.mark.parametrize("to", [TP.INT32, TP.INT64, TP.BOOL, TP.FLOAT16, TP.UINT8, TP.DOUBLE])
def test_cast(to):
    x = (rand(3, 4) * 3).astype(np.float32)
    if to == TP.UINT8:
        x = np.abs(x)
    check([oh.make_node("Cast", ["x"], ["y"], to=to)], {"x": (x, None)}, ["y"], atol=1e-2)


def test_cast_like():
    x = np.array([1, -2, 3], np.int64)
    t = rand(2)
    check([oh.make_node("CastLike", ["x", "t"], ["y"])], {"x": (x, None), "t": (t, None)}, ["y"])


# ----------------------------------------------------------------------------------------------- rearrangements
@pytest.mark.parametrize("mode", ["DCR", "CRD"])
@pytest.mark.parametrize("dynamic", [False, True])
def test_depth_to_space(mode, dynamic):
    x = rand(2, 8, 3, 2)
    check([oh.make_node("DepthToSpace", ["x"], ["y"], blocksize=2, mode=mode)],
          {"x": (x, dyn(x.shape, keep=(1,)) if dynamic else None)}, ["y"])


@pytest.mark.parametrize("dynamic", [False, True])
def test_space_to_depth(dynamic):
    x = rand(2, 3, 4, 6)
    prof = {"x": ((1, 3, 2, 2), x.shape, (4, 3, 8, 8))} if dynamic else None
    check([oh.make_node("SpaceToDepth", ["x"], ["y"], blocksize=2)],
          {"x": (x, dyn(x.shape, keep=(1,)) if dynamic else None)}, ["y"], profiles=prof)


def test_space_to_depth_crd_inverts_depth_to_space_crd():
    """SpaceToDepth's newer ``mode`` attribute: CRD undoes DepthToSpace CRD (onnxruntime lacks it yet)."""
    x = rand(2, 8, 3, 2)
    nodes = [oh.make_node("DepthToSpace", ["x"], ["d"], blocksize=2, mode="CRD"),
             oh.make_node("SpaceToDepth", ["d"], ["y"], blocksize=2, mode="CRD")]
    model = make_model(nodes, {"x": (x, None)}, ["y"], ref={"y": x})
    model.opset_import[0].version = max(onnx.defs.onnx_opset_version(), 17)
    got = inferrt.build_engine(model, device="cpu").create_execution_context().infer({"x": x})["y"]
    np.testing.assert_array_equal(got, x)


@pytest.mark.parametrize("upper,k", [(1, 0), (0, 0), (1, -1), (0, 2)])
def test_trilu(upper, k):
    x = rand(2, 4, 5)
    check([oh.make_node("Trilu", ["x", "k"], ["y"], upper=upper)], {"x": (x, None)}, ["y"],
          inits={"k": np.array(k, np.int64)})


@pytest.mark.parametrize("upper,k", [(1, 0), (0, 0), (1, -1), (0, 2)])
@pytest.mark.parametrize("rows,cols", [(4, 5), (6, 3)])
def test_trilu_dynamic_last_dims(upper, k, rows, cols):
    """Last two dims known only at run time (PyTorch's causal masks with a dynamic sequence): the mask is built
    from Range over the dims; one engine at two shapes."""
    x = rand(2, rows, cols)
    check([oh.make_node("Trilu", ["x", "k"], ["y"], upper=upper)], {"x": (x, dyn(x.shape, keep=(0,)))}, ["y"],
          inits={"k": np.array(k, np.int64)}, profiles={"x": ((2, 1, 1), (2, 4, 4), (2, 8, 8))})


def test_eye_like():
    x = rand(3, 5)
    check([oh.make_node("EyeLike", ["x"], ["y"], k=1, dtype=TP.INT32)], {"x": (x, None)}, ["y"])


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_one_hot(axis):
    idx = np.array([[1, 4], [-1, 0]], np.int64)
    check([oh.make_node("OneHot", ["i", "d", "v"], ["y"], axis=axis)], {"i": (idx, None)}, ["y"],
          inits={"d": np.array(5, np.int64), "v": np.array([-1.0, 2.0], np.float32)})


@pytest.mark.parametrize("opset,largest,axis", [(1, 1, -1), (10, 1, 1), (11, 0, 0), (11, 1, -1)])
def test_topk(opset, largest, axis):
    x = RNG.permutation(60).reshape(3, 4, 5).astype(np.float32)
    if opset == 1:
        node = oh.make_node("TopK", ["x"], ["v", "i"], k=2, axis=axis)
        inits = {}
        ref_idx = np.argsort(-x, axis=axis)[..., :2]
        ref = {"v": np.take_along_axis(x, ref_idx, axis), "i": ref_idx}
        check([node], {"x": (x, None)}, ["v", "i"], opset=opset, ref=ref)
        return
    kw = {"axis": axis} if opset == 10 else {"axis": axis, "largest": largest}
    inits = {"k": np.array([2], np.int64)}
    check([oh.make_node("TopK", ["x", "k"], ["v", "i"], **kw)], {"x": (x, None)}, ["v", "i"], inits=inits,
          opset=opset)


@pytest.mark.parametrize("exclusive,reverse", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_cumsum(exclusive, reverse):
    x = rand(3, 4)
    check([oh.make_node("CumSum", ["x", "a"], ["y"], exclusive=exclusive, reverse=reverse)], {"x": (x, None)}, ["y"],
          inits={"a": np.array(-1, np.int64)})


def test_reverse_sequence():
    x = rand(4, 3, 2)
    check([oh.make_node("ReverseSequence", ["x", "l"], ["y"], batch_axis=1, time_axis=0)], {"x": (x, None)}, ["y"],
          inits={"l": np.array([4, 1, 3], np.int64)})


# ----------------------------------------------------------------------------------------------- errors
def _import_error(node, x, inits, opset=17):
    """The ImportFailure one importer raises (called directly: onnx's own checks would catch these first)."""
    from inferrt.onnx.context import ImportContext, NodeView
    from inferrt.onnx.registry import ImportFailure, lookup

    net = inferrt.Builder(inferrt.Logger(inferrt.Logger.INTERNAL_ERROR)).create_network()
    ctx = ImportContext(net, {"": opset})
    ctx.bind("x", net.add_input("x", inferrt.float32, x.shape))
    for k, v in inits.items():
        ctx.add_constant_value(k, v)
    with pytest.raises(ImportFailure) as e:
        lookup("", node.op_type, opset)(ctx, NodeView(node, 0))
    return e.value.message


@pytest.mark.parametrize("node,inits,needle", [
    (oh.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"]),
     {"s": np.array([0], np.int64), "e": np.array([2], np.int64), "a": np.array([0], np.int64),
      "t": np.array([0], np.int64)}, "steps must not be 0"),
    (oh.make_node("Squeeze", ["x", "a"], ["y"]), {"a": np.array([1], np.int64)}, "cannot squeeze axis 1"),
    (oh.make_node("Transpose", ["x"], ["y"], perm=[0, 0]), {}, "not a permutation"),
    (oh.make_node("Split", ["x", "s"], ["a", "b"], axis=1), {"s": np.array([1, 1], np.int64)}, "do not add up"),
    (oh.make_node("Unsqueeze", ["x", "a"], ["y"]), {"a": np.array([5], np.int64)}, "out of range"),
])
def test_bad_nodes_fail_naming_the_node(node, inits, needle):
    node.name = "bad_node"
    msg = _import_error(node, rand(2, 3), inits)
    assert "bad_node" in msg and needle in msg, msg


# ----------------------------------------------------------------------------------------------- run-time operands
def test_runtime_pads_repeats_k_depth():
    """Operands that are graph inputs (known only at run time) feed the layers' tensor inputs."""
    x = rand(2, 3)
    pads = np.array([1, 0, 0, 2], np.int64)
    check([oh.make_node("Pad", ["x", "p"], ["y"], mode="reflect")], {"x": (x, None), "p": (pads, None)}, ["y"])
    reps = np.array([2, 1], np.int64)
    check([oh.make_node("Tile", ["x", "r"], ["y"])], {"x": (x, None), "r": (reps, None)}, ["y"])
    v = RNG.permutation(12).reshape(3, 4).astype(np.float32)
    k = np.array([3], np.int64)
    check([oh.make_node("TopK", ["v", "k"], ["a", "b"], axis=1)], {"v": (v, None), "k": (k, None)}, ["a", "b"])
    idx = np.array([0, 2, 1], np.int64)
    depth = np.array(4, np.int64)
    check([oh.make_node("OneHot", ["i", "d", "vals"], ["y"])], {"i": (idx, None), "d": (depth, None)}, ["y"],
          inits={"vals": np.array([0, 1], np.int64)})


def test_runtime_resize_scales():
    x = rand(1, 1, 3, 4)
    sc = np.array([1, 1, 2, 1.5], np.float32)
    check([oh.make_node("Resize", ["x", "", "s"], ["y"], mode="linear")], {"x": (x, None), "s": (sc, None)}, ["y"])


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
@pytest.mark.parametrize("axes", [[1, 2], [-1], [0, -2]])
def test_pad_with_runtime_axes(mode, axes):
    """Pad-18's axes fed at run time (TensorRT needs them constant), against onnxruntime."""
    x = rand(3, 4, 5)
    pads = np.array([1, 2] * len(axes), np.int64)
    check([oh.make_node("Pad", ["x", "p", "", "a"], ["y"], mode=mode)],
          {"x": (x, None), "a": (np.array(axes, np.int64), None)}, ["y"], inits={"p": pads}, opset=18)


@pytest.mark.parametrize("op,feeds,words", [
    ("Slice", {"s": [0], "e": [3], "a": [1], "t": [0]}, "steps must not be 0"),
    ("Slice", {"s": [0], "e": [3], "a": [5]}, "axes must lie in [-3, 2]"),
    ("Slice", {"s": [0, 1], "e": [3, 3], "a": [1, -2]}, "axes must not repeat"),
    ("Pad", {"p": [1, 1], "a": [-4]}, "axes must lie in [-3, 2]"),
    ("Pad", {"p": [1, 1, 1, 1], "a": [2, -1]}, "axes must not repeat"),
    ("Split", {"sp": [-1, 6]}, "split sizes must not be negative"),
])
def test_runtime_operands_that_break_onnx_rules_fail_naming_the_node(op, feeds, words):
    from onnx_check import make_model

    x = rand(4, 5, 6)
    ins = {"Slice": ["x", "s", "e", "a"] + (["t"] if "t" in feeds else []), "Pad": ["x", "p", "", "a"],
           "Split": ["x", "sp"]}[op]
    outs = ["a0", "a1"] if op == "Split" else ["y"]
    node = oh.make_node(op, ins, outs, name="bad_node", **({"axis": 2} if op == "Split" else {}))
    inputs = {"x": (x, None), **{k: (np.array(v, np.int64), None) for k, v in feeds.items()}}
    engine = inferrt.build_engine(make_model([node], inputs, outs, opset=18), device="cpu")
    with pytest.raises(inferrt.ExecutionError) as e:
        engine.create_execution_context().infer({k: v for k, (v, _) in inputs.items()})
    assert "bad_node" in str(e.value) and words in str(e.value)
