"""ONNX importers for convolution, pooling, normalization, matrix ops and Resize, checked against onnxruntime."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP, helper as oh, numpy_helper

import inferrt

RNG = np.random.default_rng(1)
from onnx_check import NP2ONNX as _NP2ONNX, check, make_model, vi as _vi  # noqa: E402,F401


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def parse_errors(model):
    logger = inferrt.Logger(inferrt.Logger.INTERNAL_ERROR)
    parser = inferrt.OnnxParser(inferrt.Builder(logger).create_network(), logger)
    ok = parser.parse(model.SerializeToString())
    return ok, " ".join(str(parser.get_error(i)) for i in range(parser.num_errors))


# ----------------------------------------------------------------------------------------------- Conv
CONVS = [
    ((1, 4, 7, 7), (6, 4, 3, 3), {"pads": [1, 1, 1, 1]}),
    ((2, 4, 8, 9), (4, 2, 3, 2), {"group": 2, "strides": [2, 1], "dilations": [1, 2]}),
    ((1, 3, 7, 8), (5, 3, 3, 3), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    ((1, 3, 7, 8), (5, 3, 4, 2), {"auto_pad": "SAME_LOWER"}),
    ((1, 3, 7, 8), (5, 3, 3, 3), {"auto_pad": "VALID", "strides": [2, 3]}),
    ((2, 3, 10), (4, 3, 3), {"pads": [2, 0], "strides": [2]}),
    ((1, 2, 5, 6, 4), (4, 2, 3, 3, 1), {"pads": [1, 0, 0, 1, 2, 0]}),
    ((1, 6, 5, 5), (6, 1, 3, 3), {"group": 6, "pads": [0, 1, 2, 1]}),
]


@pytest.mark.parametrize("xs,ws,kw", CONVS)
@pytest.mark.parametrize("bias", [True, False])
def test_conv(xs, ws, kw, bias):
    x, w = rand(*xs), rand(*ws)
    inits = {"w": w, "b": rand(ws[0])} if bias else {"w": w}
    ins = ["x", "w", "b"] if bias else ["x", "w"]
    check([oh.make_node("Conv", ins, ["y"], **kw)], {"x": (x, None)}, ["y"], inits=inits, atol=1e-4)


def test_conv_dynamic_batch_and_spatial():
    x, w = rand(2, 3, 9, 7), rand(4, 3, 3, 3)
    check([oh.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_UPPER", strides=[2, 2])],
          {"x": (x, ["n", 3, "h", "w"])}, ["y"], inits={"w": w},
          profiles={"x": ((1, 3, 4, 4), x.shape, (4, 3, 16, 16))})


def test_conv_weights_as_input():
    x, w = rand(1, 3, 6, 6), rand(4, 3, 3, 3)
    check([oh.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], {"x": (x, None), "w": (w, None)}, ["y"])


TCONVS = [
    ((1, 4, 5, 5), (4, 3, 3, 3), {"strides": [2, 2]}),
    ((1, 4, 5, 5), (4, 3, 3, 3), {"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 1]}),
    ((1, 4, 5, 6), (4, 2, 3, 2), {"strides": [2, 3], "group": 2, "dilations": [2, 1]}),
    ((1, 4, 5, 5), (4, 3, 3, 3), {"strides": [2, 2], "output_shape": [10, 11]}),
    ((1, 4, 5, 5), (4, 3, 3, 3), {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    ((2, 3, 7), (3, 2, 4), {"strides": [3], "pads": [1, 2]}),
]


@pytest.mark.parametrize("xs,ws,kw", TCONVS)
def test_conv_transpose(xs, ws, kw):
    x, w = rand(*xs), rand(*ws)
    g = kw.get("group", 1)
    check([oh.make_node("ConvTranspose", ["x", "w", "b"], ["y"], **kw)], {"x": (x, None)}, ["y"],
          inits={"w": w, "b": rand(ws[1] * g)})


# ----------------------------------------------------------------------------------------------- pooling
POOLS = [
    ({"kernel_shape": [3, 3]}, 11),
    ({"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, 11),
    ({"kernel_shape": [3, 2], "strides": [2, 2], "ceil_mode": 1}, 11),
    ({"kernel_shape": [2, 2], "strides": [2, 2], "auto_pad": "SAME_UPPER"}, 11),
    ({"kernel_shape": [3, 3], "strides": [1, 2], "auto_pad": "SAME_LOWER"}, 11),
    ({"kernel_shape": [3, 3], "pads": [0, 1, 2, 1], "count_include_pad": 1}, 11),
    ({"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1}, 19),
]


@pytest.mark.parametrize("kw,opset", POOLS)
@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_pool(op, kw, opset):
    x = rand(2, 3, 7, 8)
    if op == "MaxPool":
        kw = {k: v for k, v in kw.items() if k != "count_include_pad"}
    check([oh.make_node(op, ["x"], ["y"], **kw)], {"x": (x, None)}, ["y"], opset=opset)


def test_pool_1d_3d_dilated_and_dynamic():
    check([oh.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3], dilations=[2], pads=[1, 1])],
          {"x": (rand(2, 3, 11), None)}, ["y"], opset=12)
    check([oh.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2, 2], strides=[2, 2, 2])],
          {"x": (rand(1, 2, 4, 6, 4), None)}, ["y"])
    x = rand(2, 3, 8, 8)
    check([oh.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2])],
          {"x": (x, ["n", 3, "h", "w"])}, ["y"], profiles={"x": ((1, 3, 2, 2), x.shape, (4, 3, 16, 16))})


@pytest.mark.parametrize("p", [1, 2, 3])
def test_lp_pools(p):
    x = rand(2, 3, 6, 5)
    nodes = [oh.make_node("LpPool", ["x"], ["y"], kernel_shape=[2, 3], strides=[2, 1], pads=[0, 1, 0, 1], p=p),
             oh.make_node("GlobalLpPool", ["x"], ["g"], p=p)]
    check(nodes, {"x": (x, None)}, ["y", "g"], opset=18)


def test_global_pools():
    x = rand(2, 3, 4, 5)
    nodes = [oh.make_node("GlobalAveragePool", ["x"], ["a"]), oh.make_node("GlobalMaxPool", ["x"], ["m"])]
    check(nodes, {"x": (x, ["n", 3, "h", "w"])}, ["a", "m"])


def test_image_scaler():
    x = rand(1, 3, 2, 2)
    node = oh.make_node("ImageScaler", ["x"], ["y"], scale=2.0, bias=[1.0, 2.0, 3.0])
    ref = {"y": x * 2.0 + np.array([1.0, 2.0, 3.0], np.float32).reshape(1, 3, 1, 1)}
    check([node], {"x": (x, None)}, ["y"], opset=8, ref=ref)


# ----------------------------------------------------------------------------------------------- normalization
@pytest.mark.parametrize("opset", [9, 14, 15])
@pytest.mark.parametrize("const_stats", [True, False])
def test_batch_norm(opset, const_stats):
    x = rand(2, 3, 4, 5)
    p = {"s": rand(3), "b": rand(3), "m": rand(3), "v": np.abs(rand(3)) + 0.5}
    inputs = {"x": (x, None)}
    if not const_stats:
        inputs.update({k: (v, None) for k, v in p.items()})
        p = {}
    check([oh.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=1e-3)], inputs, ["y"],
          inits=p, opset=opset)


def test_batch_norm_opset7_per_activation():
    """spatial=0 (opsets 7-8): statistics per activation; onnxruntime no longer runs it, so ONNX's formula in
    float64 is the reference."""
    x = rand(2, 3, 4)
    p = {"s": rand(3, 4), "b": rand(3, 4), "m": rand(3, 4), "v": np.abs(rand(3, 4)) + 0.5}
    node = oh.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], spatial=0, epsilon=1e-3)
    got = import_directly(node, 7, x, p)
    ref = (x - p["m"]) / np.sqrt(p["v"].astype(np.float64) + 1e-3) * p["s"] + p["b"]
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


def test_batch_norm_training_outputs_fail_clearly():
    x = rand(2, 3)
    node = oh.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y", "rm", "rv"], training_mode=1)
    inits = {"s": rand(3), "b": rand(3), "m": rand(3), "v": np.ones(3, np.float32)}
    model = make_model([node], {"x": (x, None)}, ["y"], inits, 15, ref={"y": x, "rm": x, "rv": x})
    ok, msg = parse_errors(model)
    assert not ok and "training" in msg and "BatchNormalization" in msg


def test_instance_norm():
    x = rand(2, 3, 4, 5)
    check([oh.make_node("InstanceNormalization", ["x", "s", "b"], ["y"], epsilon=1e-4)], {"x": (x, None)}, ["y"],
          inits={"s": rand(3), "b": rand(3)})


@pytest.mark.parametrize("axis,outs", [(-1, ["y"]), (1, ["y", "mean", "inv"]), (2, ["y", "", "inv"])])
def test_layer_norm(axis, outs):
    x = rand(2, 3, 4)
    shape = x.shape[axis:]
    node = oh.make_node("LayerNormalization", ["x", "s", "b"], outs, axis=axis, epsilon=1e-3)
    check([node], {"x": (x, ["n", 3, 4])}, [o for o in outs if o], inits={"s": rand(*shape), "b": rand(*shape)})


def test_layer_norm_without_bias():
    x = rand(2, 5)
    check([oh.make_node("LayerNormalization", ["x", "s"], ["y"])], {"x": (x, None)}, ["y"], inits={"s": rand(5)})


@pytest.mark.parametrize("opset", [21])  # opset 18-20 models are rejected by the onnx checker (op deprecated)
def test_group_norm(opset):
    x = rand(2, 6, 3, 2)
    n = 3 if opset == 18 else 6
    check([oh.make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=3, epsilon=1e-3)],
          {"x": (x, None)}, ["y"], inits={"s": rand(n), "b": rand(n)}, opset=opset)


def test_group_norm_18_per_group_scale():
    """Opset 18-20 scale/bias are per group (the onnx checker rejects these models as deprecated, so the importer
    runs directly); reference: ONNX's definition in float64."""
    x = rand(2, 6, 3, 2)
    sc, b = rand(3), rand(3)
    node = oh.make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=3, epsilon=1e-3)
    got = import_directly(node, 18, x, {"s": sc, "b": b})
    g = x.astype(np.float64).reshape(2, 3, -1)
    norm = (g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + 1e-3)
    ref = norm * sc.reshape(1, 3, 1) + b.reshape(1, 3, 1)
    np.testing.assert_allclose(got, ref.reshape(x.shape), rtol=1e-4, atol=1e-4)


def test_rms_norm():
    x = rand(2, 3, 8)
    s = rand(8)
    ref = x / np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=-1, keepdims=True) + 1e-5) * s
    check([oh.make_node("RMSNormalization", ["x", "s"], ["y"])], {"x": (x, None)}, ["y"], inits={"s": s}, opset=23,
          ref={"y": ref})


def import_directly(node, opset, x, inits=None):
    """Run one importer without the parser (for models the onnx checker or shape inference rejects)."""
    from inferrt.onnx.context import ImportContext, NodeView
    from inferrt.onnx.registry import lookup

    logger = inferrt.Logger(inferrt.Logger.ERROR)
    builder = inferrt.Builder(logger)
    net = builder.create_network()
    ctx = ImportContext(net, {"": opset})
    ctx.bind("x", net.add_input("x", inferrt.float32, x.shape))
    for k, v in (inits or {}).items():
        ctx.add_constant_value(k, v)
    (y,) = lookup("", node.op_type, opset)(ctx, NodeView(node, 0))
    y.name = "y"
    net.mark_output(y)
    engine = inferrt.Runtime(logger).deserialize_cuda_engine(builder.build(net, builder.create_builder_config()))
    return engine.create_execution_context().infer({"x": x})["y"]


@pytest.mark.parametrize("axes", [None, [1, 3]])
def test_mvn(axes):
    """Compared with ONNX's definition in float64 (imported directly: onnx's strict shape inference fails on
    MVN's function body, which the parser reports)."""
    x = rand(2, 3, 4, 5)
    node = oh.make_node("MeanVarianceNormalization", ["x"], ["y"], **({} if axes is None else {"axes": axes}))
    got = import_directly(node, 13, x)
    ax = tuple(axes or (0, 2, 3))
    xd = x.astype(np.float64)
    ref = (xd - xd.mean(ax, keepdims=True)) / (np.sqrt(xd.var(ax, keepdims=True)) + 1e-9)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


def test_lp_norm_lrn():
    x = rand(2, 3, 4, 5)
    nodes = [oh.make_node("LpNormalization", ["x"], ["l1"], axis=1, p=1),
             oh.make_node("LpNormalization", ["x"], ["l2"]),
             oh.make_node("LRN", ["x"], ["r"], size=3, alpha=1e-2, beta=0.5, bias=2.0)]
    check(nodes, {"x": (x, None)}, ["l1", "l2", "r"])


# ----------------------------------------------------------------------------------------------- matrix
@pytest.mark.parametrize("a,b", [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((4,), (2, 4, 3)), ((2, 1, 3, 4), (5, 4, 2)),
                                 ((3, 4), (4,)), ((4,), (4,))])
def test_matmul(a, b):
    check([oh.make_node("MatMul", ["a", "b"], ["y"])], {"a": (rand(*a), None), "b": (rand(*b), None)}, ["y"])


def test_matmul_dynamic():
    a, b = rand(2, 3, 4), rand(4, 5)
    check([oh.make_node("MatMul", ["a", "b"], ["y"])], {"a": (a, ["n", "s", 4])}, ["y"], inits={"b": b})


@pytest.mark.parametrize("kw,cs,opset", [
    ({}, (5,), 13), ({"transA": 1, "transB": 1, "alpha": 0.5, "beta": 2.0}, (3, 5), 13), ({"transB": 1}, None, 13),
    ({"beta": 0.0}, (1, 5), 9), ({"alpha": 2.0}, (3, 1), 11)])
def test_gemm(kw, cs, opset):
    a = rand(4, 3) if kw.get("transA") else rand(3, 4)
    b = rand(5, 4) if kw.get("transB") else rand(4, 5)
    ins = ["a", "b"] + (["c"] if cs is not None else [])
    inits = {"b": b} if cs is None else {"b": b, "c": rand(*cs)}
    check([oh.make_node("Gemm", ins, ["y"], **kw)], {"a": (a, None)}, ["y"], inits=inits, opset=opset)


@pytest.mark.parametrize("eq,shapes", [("ij,jk->ik", [(2, 3), (3, 4)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
                                       ("ii->i", [(3, 3)]), ("ij->", [(2, 3)])])
def test_einsum(eq, shapes):
    ins = {f"x{i}": (rand(*s), None) for i, s in enumerate(shapes)}
    check([oh.make_node("Einsum", list(ins), ["y"], equation=eq)], ins, ["y"])


# ----------------------------------------------------------------------------------------------- Resize
RESIZES = [
    ({"mode": "nearest"}, [1, 1, 2, 3], None),
    ({"mode": "nearest", "nearest_mode": "floor", "coordinate_transformation_mode": "asymmetric"}, [1, 1, 1.5, 0.5],
     None),
    ({"mode": "nearest", "nearest_mode": "round_prefer_ceil"}, None, [2, 3, 7, 5]),
    ({"mode": "nearest", "nearest_mode": "ceil", "coordinate_transformation_mode": "tf_half_pixel_for_nn"},
     [1, 1, 2, 2], None),
    ({"mode": "linear"}, [1, 1, 2, 1.5], None),
    ({"mode": "linear", "coordinate_transformation_mode": "align_corners"}, None, [2, 3, 9, 4]),
    ({"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}, None, [2, 3, 1, 8]),
    ({"mode": "cubic", "cubic_coeff_a": -0.5, "exclude_outside": 1}, [1, 1, 1.5, 2], None),
    ({"mode": "cubic"}, [1, 1, 0.6, 0.8], None),
]


@pytest.mark.parametrize("kw,scales,sizes", RESIZES)
def test_resize_13(kw, scales, sizes):
    x = rand(2, 3, 4, 5)
    inits = {"roi": np.zeros(0, np.float32)}
    if scales is not None:
        inits["sc"] = np.array(scales, np.float32)
        ins = ["x", "roi", "sc"]
    else:
        inits["sz"] = np.array(sizes, np.int64)
        ins = ["x", "", "", "sz"]
    check([oh.make_node("Resize", ins, ["y"], **kw)], {"x": (x, None)}, ["y"], inits=inits, opset=13)


def test_resize_11_tf_crop_and_resize():
    x = rand(1, 1, 5, 6)
    inits = {"roi": np.array([0, 0, 0.2, 0.1, 1, 1, 0.9, 1.2], np.float32), "sc": np.zeros(0, np.float32),
             "sz": np.array([1, 1, 4, 4], np.int64)}
    check([oh.make_node("Resize", ["x", "roi", "sc", "sz"], ["y"], mode="linear", extrapolation_value=-1.0,
                        coordinate_transformation_mode="tf_crop_and_resize")], {"x": (x, None)}, ["y"],
          inits=inits, opset=11)


@pytest.mark.parametrize("kw,sizes", [({"antialias": 1, "mode": "linear"}, [2, 3]),
                                      ({"axes": [2, 3], "keep_aspect_ratio_policy": "not_larger"}, [6, 6]),
                                      ({"axes": [3], "mode": "cubic", "antialias": 1}, [3])])
def test_resize_18(kw, sizes):
    x = rand(1, 2, 5, 7)
    if "axes" not in kw:
        sizes = [1, 2] + sizes
    check([oh.make_node("Resize", ["x", "", "", "sz"], ["y"], **kw)], {"x": (x, None)}, ["y"],
          inits={"sz": np.array(sizes, np.int64)}, opset=18)


def test_resize_19_half_pixel_symmetric():
    x = rand(1, 1, 4, 5)
    check([oh.make_node("Resize", ["x", "", "sc"], ["y"], mode="linear",
                        coordinate_transformation_mode="half_pixel_symmetric")], {"x": (x, None)}, ["y"],
          inits={"sc": np.array([1, 1, 1.7, 0.6], np.float32)}, opset=19)


def test_resize_dynamic_sizes_input():
    x = rand(1, 2, 3, 4)
    nodes = [oh.make_node("Shape", ["x"], ["s"]), oh.make_node("Mul", ["s", "two"], ["sz"]),
             oh.make_node("Resize", ["x", "", "", "sz"], ["y"], mode="nearest")]
    check(nodes, {"x": (x, [1, 2, "h", "w"])}, ["y"], inits={"two": np.array([1, 1, 2, 2], np.int64)})


@pytest.mark.parametrize("op,opset,mode,scales", [
    ("Resize", 10, "nearest", [1, 1, 2, 3]), ("Resize", 10, "linear", [1, 1, 2, 1.5]),
    ("Resize", 10, "nearest", [1, 1, 0.5, 0.5]), ("Upsample", 9, "nearest", [1, 1, 2, 3]),
    ("Upsample", 9, "linear", [1, 1, 2, 1.5])])
def test_resize_10_upsample_9(op, opset, mode, scales):
    x = rand(1, 2, 4, 4)
    check([oh.make_node(op, ["x", "sc"], ["y"], mode=mode)], {"x": (x, None)}, ["y"],
          inits={"sc": np.array(scales, np.float32)}, opset=opset)


def test_upsample_7():
    x = rand(1, 1, 2, 3)
    node = oh.make_node("Upsample", ["x"], ["y"], mode="nearest", scales=[1.0, 1.0, 2.0, 2.0])
    check([node], {"x": (x, None)}, ["y"], opset=7, ref={"y": x.repeat(2, axis=2).repeat(2, axis=3)})


@pytest.mark.parametrize("kw", [{"kernel_shape": [2, 2], "strides": [2, 2]},
                                {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [2, 2], "ceil_mode": 1},
                                {"kernel_shape": [3, 2], "storage_order": 1, "pads": [0, 1, 1, 0]},
                                {"kernel_shape": [2, 2], "dilations": [2, 1]}])
def test_max_pool_indices(kw):
    x = rand(2, 3, 6, 5)
    check([oh.make_node("MaxPool", ["x"], ["y", "i"], **kw)], {"x": (x, None)}, ["y", "i"], opset=12)


def test_max_pool_indices_1d_3d():
    check([oh.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[3], strides=[2])], {"x": (rand(2, 2, 9), None)},
          ["y", "i"], opset=12)
    check([oh.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[2, 2, 2])], {"x": (rand(1, 2, 3, 4, 3), None)},
          ["y", "i"], opset=12)


# ----------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("node,inits,needle", [
    (oh.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[5, 5]), {"w": np.ones((2, 3, 3, 3), np.float32)},
     "kernel_shape"),
    (oh.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3]), {}, "kernel_shape"),
    (oh.make_node("LpNormalization", ["x"], ["y"], p=3), {}, "p must be 1 or 2"),
    (oh.make_node("Resize", ["x", "", "", "sz"], ["y"], mode="area"), {"sz": np.array([1, 3, 4, 4], np.int64)},
     "mode 'area'"),
])
def test_bad_nodes_fail_naming_the_node(node, inits, needle):
    node.name = "bad_node"
    x = rand(1, 3, 4, 4)
    model = make_model([node], {"x": (x, None)}, ["y"], inits, 13, ref={"y": x})
    ok, msg = parse_errors(model)
    assert not ok and "bad_node" in msg and needle in msg, msg


def test_integer_max_pool_and_dilated_lp_pool():
    x = RNG.integers(0, 255, (1, 2, 5, 5)).astype(np.uint8)
    ref = {"y": np.max(np.lib.stride_tricks.sliding_window_view(x, (2, 2), axis=(2, 3)), axis=(-2, -1))}
    check([oh.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2])], {"x": (x, None)}, ["y"], opset=12, ref=ref)
    xf = rand(1, 2, 6, 6)
    check([oh.make_node("LpPool", ["x"], ["y"], kernel_shape=[2, 2], dilations=[2, 2], pads=[1, 0, 0, 1], p=2)],
          {"x": (xf, None)}, ["y"], opset=18)


def test_lp_normalization_of_a_zero_slice_is_zero():
    x = rand(2, 3)
    x[1] = 0.0
    check([oh.make_node("LpNormalization", ["x"], ["y"], axis=1)], {"x": (x, None)}, ["y"])
