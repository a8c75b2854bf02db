"""Math / activation / logic / reduction / softmax importers against onnxruntime, opset by opset where semantics
changed (softmax flattening before 13, Clip attributes vs inputs, reduction axes attribute vs input)."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto as TP, helper as oh, numpy_helper

import inferrt as trt

from tests.helpers import assert_close, build_and_run, lowest_ir, new_network

RNG = np.random.default_rng(1)
_TYPES = {np.dtype(np.float32): TP.FLOAT, np.dtype(np.int32): TP.INT32, np.dtype(np.int64): TP.INT64,
          np.dtype(np.uint8): TP.UINT8, np.dtype(np.bool_): TP.BOOL, np.dtype(np.float16): TP.FLOAT16,
          np.dtype(np.int8): TP.INT8, np.dtype(np.float64): TP.DOUBLE}


def check(nodes, feeds, outputs, opset, inits=None, dynamic=False, rtol=1e-5, atol=1e-6):
    """Run a one-graph model with inferrt and onnxruntime on ``feeds`` and compare every output."""
    import onnxruntime as ort

    inits = inits or {}
    ins = [oh.make_tensor_value_info(k, _TYPES[v.dtype], ["d%d" % i for i in range(v.ndim)] if dynamic else v.shape)
           for k, v in feeds.items()]
    outs = [oh.make_empty_tensor_value_info(o) for o in outputs]
    graph = oh.make_graph(nodes, "t", ins, outs, [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", opset)], ir_version=8)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = dict(zip(outputs, sess.run(outputs, feeds)))
    builder, network = new_network()
    parser = trt.OnnxParser(network, builder.logger)
    assert parser.parse(model.SerializeToString()), [str(parser.get_error(i)) for i in range(parser.num_errors)]
    profiles = [{k: [v.shape] * 3 for k, v in feeds.items()}] if dynamic else None
    got = build_and_run(builder, network, feeds, profiles=profiles)
    for name in outputs:
        g, w = np.asarray(got[name]), want[name]
        assert g.shape == w.shape, f"{name}: shape {g.shape} != onnxruntime's {w.shape}"
        if w.dtype == np.float64:
            g = g.astype(np.float64)
        assert g.dtype == w.dtype, f"{name}: dtype {g.dtype} != onnxruntime's {w.dtype}"
        assert_close(g, w, rtol=rtol, atol=atol, what=name)
    return got


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------------------------------------- softmax family
@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("opset,axis", [(11, 1), (11, 0), (11, -1), (13, 1), (13, -1), (13, 0)])
def test_softmax_family_axis_semantics(op, opset, axis):
    x = f32(2, 3, 4)
    if op == "Hardmax":
        x[0, 0, :2] = 5.0  # a tie: the first maximum wins
    check([oh.make_node(op, ["x"], ["y"], axis=axis)], {"x": x}, ["y"], opset)


def test_softmax_opset11_flattening_with_dynamic_dims():
    check([oh.make_node("Softmax", ["x"], ["y"], axis=1)], {"x": f32(2, 3, 5)}, ["y"], 11, dynamic=True)


# ---------------------------------------------------------------------------------------------- Clip
def test_clip_6_attributes():
    check([oh.make_node("Clip", ["x"], ["y"], min=-0.5, max=0.25)], {"x": f32(3, 4)}, ["y"], 6)


def test_clip_11_constant_min_only():
    check([oh.make_node("Clip", ["x", "lo"], ["y"])], {"x": f32(3, 4)}, ["y"], 11,
          inits={"lo": np.array(-0.1, np.float32)})


def test_clip_13_runtime_bounds_and_int32():
    x = RNG.integers(-10, 10, (4, 5)).astype(np.int32)
    check([oh.make_node("Clip", ["x", "", "hi"], ["y"])], {"x": x}, ["y"], 13, inits={"hi": np.array(3, np.int32)})
    check([oh.make_node("Clip", ["x", "lo", "hi"], ["y"])],
          {"x": f32(4, 5), "lo": np.array(-0.3, np.float32), "hi": np.array(0.4, np.float32)}, ["y"], 13)


# ---------------------------------------------------------------------------------------------- arithmetic
@pytest.mark.parametrize("fmod", [0, 1])
def test_mod_integer_signs(fmod):
    a = np.array([-7, -3, 3, 7, 5, -5], np.int32)
    b = np.array([2, -2, -2, 3, -3, 3], np.int32)
    check([oh.make_node("Mod", ["a", "b"], ["y"], fmod=fmod)], {"a": a, "b": b}, ["y"], 13)


def test_mod_float_fmod():
    check([oh.make_node("Mod", ["a", "b"], ["y"], fmod=1)], {"a": f32(6) * 5, "b": f32(6) + 3}, ["y"], 13)


def test_integer_div_truncates_and_pow_mixed_types():
    a = np.array([-7, 7, -8, 9], np.int64)
    b = np.array([2, -2, 3, 4], np.int64)
    check([oh.make_node("Div", ["a", "b"], ["y"])], {"a": a, "b": b}, ["y"], 13)
    base = np.abs(f32(5)) + 0.5
    check([oh.make_node("Pow", ["x", "e"], ["y"])], {"x": base, "e": np.array([2], np.int64)}, ["y"], 15)


def test_multidirectional_broadcast_and_variadic_ops():
    feeds = {"a": f32(3, 1, 4), "b": f32(4), "c": f32(5, 1)}
    nodes = [oh.make_node("Add", ["a", "b"], ["s"]), oh.make_node("Max", ["a", "b", "c"], ["m"]),
             oh.make_node("Mean", ["a", "c"], ["avg"]), oh.make_node("Sum", ["b"], ["one"])]
    check(nodes, feeds, ["s", "m", "avg", "one"], 13)
    check([oh.make_node("Mul", ["a", "b"], ["y"])], {"a": f32(2, 3, 4), "b": f32(4)}, ["y"], 13, dynamic=True)


@pytest.mark.parametrize("op", ["Abs", "Neg", "Sign", "Ceil", "Floor", "Round", "Reciprocal", "Sqrt", "Exp", "Log",
                                "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Atanh",
                                "Erf"])
def test_unary_math(op):
    x = f32(3, 4) * 0.9
    if op in ("Sqrt", "Log"):
        x = np.abs(x) + 0.1
    if op in ("Acos", "Asin", "Atanh"):
        x = np.clip(x, -0.95, 0.95)
    if op == "Round":
        x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 0.49, 2.51], np.float32)
    check([oh.make_node(op, ["x"], ["y"])], {"x": x}, ["y"], 13, rtol=1e-5, atol=1e-5)


def test_bitshift_and_bitwise():
    a = np.array([1, 2, 255, 16], np.uint8)
    s = np.array([1, 3, 1, 4], np.uint8)
    check([oh.make_node("BitShift", ["a", "s"], ["l"], direction="LEFT"),
           oh.make_node("BitShift", ["a", "s"], ["r"], direction="RIGHT")], {"a": a, "s": s}, ["l", "r"], 13)
    x = RNG.integers(-100, 100, (3, 4)).astype(np.int32)
    y = RNG.integers(-100, 100, (4,)).astype(np.int32)
    check([oh.make_node("BitwiseAnd", ["x", "y"], ["a"]), oh.make_node("BitwiseXor", ["x", "y"], ["b"]),
           oh.make_node("BitwiseNot", ["x"], ["c"])], {"x": x, "y": y}, ["a", "b", "c"], 18)


# ---------------------------------------------------------------------------------------------- activations
@pytest.mark.parametrize("op,attrs", [
    ("LeakyRelu", {"alpha": 0.2}), ("Elu", {"alpha": 0.7}), ("Selu", {}), ("Celu", {"alpha": 1.3}),
    ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}), ("HardSwish", {}), ("Softplus", {}), ("Softsign", {}),
    ("ThresholdedRelu", {"alpha": 0.3}), ("Mish", {}), ("Shrink", {"bias": 0.2, "lambd": 0.6}), ("Sigmoid", {}),
    ("Tanh", {}), ("Relu", {}), ("Gelu", {"approximate": "tanh"}), ("Gelu", {}),
])
def test_activations(op, attrs):
    check([oh.make_node(op, ["x"], ["y"], **attrs)], {"x": f32(2, 3, 4) * 2}, ["y"], 20)


def test_prelu_slope_broadcast():
    check([oh.make_node("PRelu", ["x", "s"], ["y"])], {"x": f32(2, 3, 4, 4)}, ["y"], 16,
          inits={"s": np.array([[[0.1]], [[0.2]], [[0.3]]], np.float32)})


# ---------------------------------------------------------------------------------------------- logic
def test_comparisons_with_nan_and_isinf():
    a = np.array([1.0, np.nan, 3.0, -np.inf, np.inf, 2.0], np.float32)
    b = np.array([1.0, 1.0, np.nan, 0.0, 1.0, 3.0], np.float32)
    nodes = [oh.make_node("GreaterOrEqual", ["a", "b"], ["ge"]), oh.make_node("LessOrEqual", ["a", "b"], ["le"]),
             oh.make_node("Equal", ["a", "b"], ["eq"]), oh.make_node("IsNaN", ["a"], ["nan"]),
             oh.make_node("IsInf", ["a"], ["pinf"], detect_negative=0),
             oh.make_node("Not", ["eq"], ["ne"]), oh.make_node("Xor", ["ge", "le"], ["x"])]
    check(nodes, {"a": a, "b": b}, ["ge", "le", "eq", "nan", "pinf", "ne", "x"], 13)


# ---------------------------------------------------------------------------------------------- reductions
def test_reduce_axes_attribute_vs_input():
    x = f32(2, 3, 4)
    check([oh.make_node("ReduceSum", ["x"], ["y"], axes=[0, -1], keepdims=0)], {"x": x}, ["y"], 11)
    check([oh.make_node("ReduceSum", ["x", "ax"], ["y"], keepdims=1)], {"x": x}, ["y"], 13,
          inits={"ax": np.array([1], np.int64)})
    check([oh.make_node("ReduceMean", ["x", "ax"], ["y"], keepdims=0)], {"x": x, "ax": np.array([2, 0], np.int64)},
          ["y"], 18)


def test_reduce_noop_with_empty_axes_and_empty_set():
    x = f32(2, 3)
    check([oh.make_node("ReduceMax", ["x"], ["y"], noop_with_empty_axes=1)], {"x": x}, ["y"], 18)
    check([oh.make_node("ReduceMax", ["x"], ["y"], keepdims=0)], {"x": x}, ["y"], 18)
    empty = np.zeros((2, 0, 3), np.float32)
    check([oh.make_node("ReduceSum", ["x", "ax"], ["s"]), oh.make_node("ReduceProd", ["x", "ax"], ["p"])],
          {"x": empty}, ["s", "p"], 18, inits={"ax": np.array([1], np.int64)})


@pytest.mark.parametrize("op", ["ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare",
                                "ReduceProd", "ReduceMin"])
def test_reductions_opset13_and_18(op):
    x = np.abs(f32(3, 4, 2)) + 0.5
    check([oh.make_node(op, ["x"], ["y"], axes=[1], keepdims=1)], {"x": x}, ["y"], 13, rtol=1e-5)
    check([oh.make_node(op, ["x", "ax"], ["y"], keepdims=0)], {"x": x}, ["y"], 18,
          inits={"ax": np.array([0, 2], np.int64)}, rtol=1e-5)


def test_reduce_log_sum_exp_is_stable():
    x = np.array([[1000.0, 1000.5, 999.0], [-1000.0, -999.0, -1001.0]], np.float32)
    check([oh.make_node("ReduceLogSumExp", ["x"], ["y"], axes=[1], keepdims=0)], {"x": x}, ["y"], 13)


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("last", [0, 1])
def test_argmax_ties_and_select_last_index(op, last):
    x = np.array([[1, 3, 3, 0], [2, 2, -1, -1]], np.float32)
    check([oh.make_node(op, ["x"], ["y"], axis=1, keepdims=0, select_last_index=last)], {"x": x}, ["y"], 13)


@pytest.mark.parametrize("op,ref", [("ScaledTanh", lambda x: 0.5 * np.tanh(2 * x)),
                                    ("ParametricSoftplus", lambda x: 0.5 * np.log1p(np.exp(2 * x)))])
def test_experimental_activations(op, ref):
    # dropped from ONNX (onnxruntime has no kernel) but still accepted by TensorRT: checked against numpy
    graph = oh.make_graph([oh.make_node(op, ["x"], ["y"], alpha=0.5, beta=2.0)], "g",
                          [oh.make_tensor_value_info("x", TP.FLOAT, [7])], [oh.make_tensor_value_info("y", TP.FLOAT, [7])])
    model = lowest_ir(oh.make_model(graph, opset_imports=[oh.make_opsetid("", 9)]))
    builder, network = new_network()
    parser = trt.OnnxParser(network, builder.logger)
    assert parser.parse(model.SerializeToString()), [str(parser.get_error(i)) for i in range(parser.num_errors)]
    x = np.linspace(-3, 3, 7)
    assert_close(build_and_run(builder, network, {"x": x.astype(np.float32)})["y"], ref(x))
