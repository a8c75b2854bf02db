"""Seed models of the ONNX fuzz test: small models built here (a CNN, a dynamic-batch MLP block, shape arithmetic,
resize + batch norm, local functions, If + Loop, an opset-6 model); each parses, builds and runs on the CPU."""
from __future__ import annotations

import numpy as np
from onnx import TensorProto as TP, helper as oh, numpy_helper as nh


def _model(nodes, inputs, outputs, inits=(), opset=17, functions=(), extra_opsets=()):
    g = oh.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", opset)] + list(extra_opsets), functions=list(functions))
    m.ir_version = 8 if opset >= 7 else 3
    return m


def _f(shape, rng, scale=0.5):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def seed_models() -> dict:
    """name -> ModelProto; every seed parses, builds and runs on the CPU."""
    r = np.random.default_rng(0)
    vi = oh.make_tensor_value_info
    init = nh.from_array
    seeds = {}
    seeds["cnn"] = _model(
        [oh.make_node("Conv", ["x", "W", "B"], ["c"], name="conv", pads=[1, 1, 1, 1], strides=[1, 1]),
         oh.make_node("PRelu", ["c", "slope"], ["p"], name="prelu"),
         oh.make_node("MaxPool", ["p"], ["m"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
         oh.make_node("Pad", ["m", "pads"], ["pd"], name="pad", mode="constant"),
         oh.make_node("Relu", ["pd"], ["r"], name="relu"),
         oh.make_node("GlobalAveragePool", ["r"], ["gp"], name="gap"),
         oh.make_node("Flatten", ["gp"], ["fl"], name="flatten", axis=1),
         oh.make_node("Gemm", ["fl", "G", "GB"], ["gm"], name="fc", transB=1),
         oh.make_node("Softmax", ["gm"], ["y"], name="softmax", axis=-1)],
        [vi("x", TP.FLOAT, [1, 3, 8, 8])], [vi("y", TP.FLOAT, [1, 5])],
        [init(_f((4, 3, 3, 3), r), "W"), init(_f((4,), r), "B"), init(_f((4, 1, 1), r), "slope"),
         init(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads"), init(_f((5, 4), r), "G"),
         init(_f((5,), r), "GB")])
    seeds["mlp"] = _model(
        [oh.make_node("MatMul", ["x", "M"], ["mm"], name="matmul"),
         oh.make_node("Add", ["mm", "MB"], ["a"], name="bias"),
         oh.make_node("LayerNormalization", ["a", "LS", "LB"], ["ln"], name="norm", axis=-1, epsilon=1e-5),
         oh.make_node("Div", ["ln", "sqrt2"], ["d"], name="div"),
         oh.make_node("Erf", ["d"], ["e"], name="erf"),
         oh.make_node("Add", ["e", "one"], ["e1"], name="erf_plus_1"),
         oh.make_node("Mul", ["ln", "e1"], ["g"], name="gelu"),
         oh.make_node("Transpose", ["g"], ["t"], name="transpose", perm=[0, 2, 1]),
         oh.make_node("Reshape", ["t", "shape"], ["y"], name="reshape")],
        [vi("x", TP.FLOAT, ["N", 4, 8])], [vi("y", TP.FLOAT, ["N", 24])],
        [init(_f((8, 6), r), "M"), init(_f((6,), r), "MB"), init(_f((6,), r) + 1, "LS"), init(_f((6,), r), "LB"),
         init(np.array(1.4142135, np.float32), "sqrt2"), init(np.array(1.0, np.float32), "one"),
         init(np.array([-1, 24], np.int64), "shape")])
    seeds["shapes"] = _model(
        [oh.make_node("Shape", ["x"], ["s"], name="shape"),
         oh.make_node("Gather", ["s", "zero"], ["b"], name="batch", axis=0),
         oh.make_node("Unsqueeze", ["b", "axes0"], ["b1"], name="unsq"),
         oh.make_node("Concat", ["b1", "m1"], ["ns"], name="concat_shape", axis=0),
         oh.make_node("Reshape", ["x", "ns"], ["flat"], name="flatten"),
         oh.make_node("Slice", ["flat", "st", "en", "ax"], ["sl"], name="slice"),
         oh.make_node("ReduceMean", ["sl"], ["rm"], name="mean", axes=[1], keepdims=1),
         oh.make_node("Greater", ["sl", "rm"], ["gt"], name="greater"),
         oh.make_node("Where", ["gt", "sl", "rm"], ["w"], name="where"),
         oh.make_node("ArgMax", ["w"], ["am"], name="argmax", axis=1, keepdims=0),
         oh.make_node("Cast", ["am"], ["y"], name="cast", to=TP.INT32),
         oh.make_node("TopK", ["w", "k"], ["tv", "ti"], name="topk", axis=1),
         oh.make_node("Expand", ["tv", "ex"], ["z"], name="expand")],
        [vi("x", TP.FLOAT, ["N", 2, 6])], [vi("y", TP.INT32, ["N"]), vi("z", TP.FLOAT, [3, "N", 2])],
        [init(np.array(0, np.int64), "zero"), init(np.array([0], np.int64), "axes0"),
         init(np.array([-1], np.int64), "m1"), init(np.array([1], np.int64), "st"),
         init(np.array([11], np.int64), "en"), init(np.array([1], np.int64), "ax"),
         init(np.array([2], np.int64), "k"), init(np.array([3, 1, 1], np.int64), "ex")])
    seeds["resize"] = _model(
        [oh.make_node("BatchNormalization", ["x", "bs", "bb", "bm", "bv"], ["bn"], name="bn", epsilon=1e-5),
         oh.make_node("Resize", ["bn", "", "scales"], ["rs"], name="resize", mode="nearest"),
         oh.make_node("Sigmoid", ["rs"], ["sg"], name="sigmoid"),
         oh.make_node("Mul", ["rs", "sg"], ["sw"], name="swish"),
         oh.make_node("AveragePool", ["sw"], ["ap"], name="avgpool", kernel_shape=[2, 2], strides=[2, 2]),
         oh.make_node("Concat", ["ap", "x"], ["cc"], name="concat", axis=1),
         oh.make_node("ConvTranspose", ["cc", "CT"], ["y"], name="deconv", strides=[2, 2])],
        [vi("x", TP.FLOAT, [1, 2, 4, 4])], [vi("y", TP.FLOAT, [1, 3, 8, 8])],
        [init(_f((2,), r) + 1, "bs"), init(_f((2,), r), "bb"), init(_f((2,), r), "bm"),
         init(np.abs(_f((2,), r)) + 0.5, "bv"), init(np.array([1, 1, 2, 2], np.float32), "scales"),
         init(_f((4, 3, 2, 2), r), "CT")])
    fn = oh.make_function("local", "ScaledTanh", ["a"], ["b"],
                          [oh.make_node("Constant", [], ["c"], value=nh.from_array(np.array(0.5, np.float32))),
                           oh.make_node("Mul", ["a", "c"], ["ac"]), oh.make_node("Tanh", ["ac"], ["b"])],
                          [oh.make_opsetid("", 17)])
    seeds["function"] = _model(
        [oh.make_node("ScaledTanh", ["x"], ["h"], name="f1", domain="local"),
         oh.make_node("Constant", [], ["k"], name="const", value=nh.from_array(_f((3,), r))),
         oh.make_node("Add", ["h", "k"], ["hk"], name="add"),
         oh.make_node("ScaledTanh", ["hk"], ["h2"], name="f2", domain="local"),
         oh.make_node("Split", ["h2", "sp"], ["s0", "s1"], name="split", axis=0),
         oh.make_node("Sub", ["s0", "s1"], ["y"], name="sub")],
        [vi("x", TP.FLOAT, [2, 3])], [vi("y", TP.FLOAT, [1, 3])],
        [init(np.array([1, 1], np.int64), "sp")], functions=[fn], extra_opsets=[oh.make_opsetid("local", 1)])
    then = oh.make_graph([oh.make_node("Mul", ["x", "two"], ["t_out"], name="then_mul")], "then", [],
                         [vi("t_out", TP.FLOAT, [2, 3])])
    other = oh.make_graph([oh.make_node("Sub", ["x", "two"], ["e_out"], name="else_sub")], "else", [],
                          [vi("e_out", TP.FLOAT, [2, 3])])
    body = oh.make_graph([oh.make_node("Identity", ["cond_in"], ["cond_out"], name="body_cond"),
                          oh.make_node("Add", ["acc_in", "x"], ["acc_out"], name="body_add"),
                          oh.make_node("Relu", ["acc_out"], ["scan_out"], name="body_relu")], "body",
                         [vi("i", TP.INT64, []), vi("cond_in", TP.BOOL, []), vi("acc_in", TP.FLOAT, [2, 3])],
                         [vi("cond_out", TP.BOOL, []), vi("acc_out", TP.FLOAT, [2, 3]),
                          vi("scan_out", TP.FLOAT, [2, 3])])
    seeds["control"] = _model(
        [oh.make_node("ReduceSum", ["x"], ["s"], name="sum", keepdims=0),
         oh.make_node("Greater", ["s", "zero"], ["c"], name="positive"),
         oh.make_node("If", ["c"], ["branch"], name="if", then_branch=then, else_branch=other),
         oh.make_node("Loop", ["trips", "", "branch"], ["acc", "scan"], name="loop", body=body),
         oh.make_node("ReduceMean", ["scan"], ["y"], name="mean", axes=[0], keepdims=0)],
        [vi("x", TP.FLOAT, [2, 3])], [vi("acc", TP.FLOAT, [2, 3]), vi("y", TP.FLOAT, [2, 3])],
        [init(np.array(2.0, np.float32), "two"), init(np.array(0.0, np.float32), "zero"),
         init(np.array(3, np.int64), "trips")])
    seeds["opset6"] = _model(
        [oh.make_node("Relu", ["x"], ["r"], name="relu"),
         oh.make_node("Add", ["r", "b"], ["a"], name="add"),
         oh.make_node("Mul", ["a", "b"], ["y"], name="mul")],
        [vi("x", TP.FLOAT, [2, 3]), vi("b", TP.FLOAT, [2, 3])], [vi("y", TP.FLOAT, [2, 3])], opset=6)
    return seeds


