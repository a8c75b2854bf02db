"""ONNX importers for shape and data-movement ops, checked against onnxruntime (opset variants, dynamic shapes)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP, helper as oh, numpy_helper

import inferrt

RNG = np.random.default_rng(0)
_NP2ONNX = {np.float32: TP.FLOAT, np.int64: TP.INT64, np.int32: TP.INT32, np.bool_: TP.BOOL, np.float16: TP.FLOAT16,
            np.uint8: TP.UINT8, np.int8: TP.INT8, np.float64: TP.DOUBLE}


def _vi(name, arr_or_type, shape):
    t = arr_or_type if isinstance(arr_or_type, int) else _NP2ONNX[np.asarray(arr_or_type).dtype.type]
    return oh.make_tensor_value_info(name, t, shape)


def make_model(nodes, inputs, outputs, inits=None, opset=17, ref=None):
    """``inputs``: {name: (array, onnx shape or None for the array's shape)}; ``outputs``: names; ``ref``: known
    outputs (for ops onnx shape inference does not cover)."""
    ins = [_vi(k, v, list(v.shape) if s is None else s) for k, (v, s) in inputs.items()]
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()]
    graph = oh.make_graph(nodes, "g", ins, [], inits)
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", opset)])
    model.ir_version = 8
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v for v in inferred.graph.value_info}
    for o in outputs:  # output types and shapes from ONNX shape inference
        model.graph.output.append(types[o] if o in types else _vi(o, ref[o], list(ref[o].shape)))
    return model


def check(nodes, inputs, outputs, inits=None, opset=17, profiles=None, rtol=1e-4, atol=1e-4, ref=None):
    """Build with inferrt, run, and compare every output with onnxruntime (or with ``ref``, a numpy float64
    reference, for opsets onnxruntime no longer runs); returns inferrt's outputs."""
    import onnxruntime as ort

    model = make_model(nodes, inputs, outputs, inits, opset, ref)
    feeds = {k: v for k, (v, _) in inputs.items()}
    if ref is None:
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        ref = dict(zip(outputs, sess.run(outputs, feeds)))
    if profiles is None:  # dynamic dims (names in the ONNX shape) range over 1 .. 2x the fed size
        profiles = {k: (tuple(1 if isinstance(d, str) else d for d in s), v.shape,
                        tuple(2 * v.shape[i] if isinstance(d, str) else d for i, d in enumerate(s)))
                    for k, (v, s) in inputs.items() if s is not None and any(isinstance(d, str) for d in s)}
    engine = inferrt.build_engine(model, profiles=profiles or None, device="cpu")
    got = engine.create_execution_context().infer(feeds)
    for o in outputs:
        r, g = np.asarray(ref[o]), np.asarray(got[o])
        assert g.shape == r.shape, f"{o}: shape {g.shape} != onnxruntime {r.shape}"
        if r.dtype.kind in "fc":
            np.testing.assert_allclose(g.astype(np.float64), r.astype(np.float64), rtol=rtol, atol=atol, err_msg=o)
        else:
            np.testing.assert_array_equal(g, r.astype(g.dtype), err_msg=o)
    return got


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
