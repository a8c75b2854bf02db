"""An ONNX model with exactly one layer that breaks in FP16, for the accuracy guard and ``debug precision``::

    x[4,16] -> mm1 (MatMul) -> relu1 (Relu) -> mm2 (MatMul, |values| ~ 100) -> ss (ReduceSumSquare) = energy[4]
                                 relu1 -> head (MatMul) = logits[4,10]

Every value fits FP16 (|x| < 65504) except ``ss``'s: a sum of 32 squares of ~100 is ~3e5, so FP16 ``ss`` gives
inf; ``ss`` in FP32 (its output is a graph output, kept FP32) fixes the model.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

BROKEN_LAYER = "ss"


def overflow_model(opset: int = 17) -> onnx.ModelProto:
    rng = np.random.default_rng(5)
    inits = [numpy_helper.from_array(rng.normal(0, 0.25, (16, 32)).astype(np.float32), "w1"),
             numpy_helper.from_array(rng.normal(0, 25.0, (32, 32)).astype(np.float32), "w2"),
             numpy_helper.from_array(rng.normal(0, 0.3, (32, 10)).astype(np.float32), "w3")]
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h1"], name="mm1"),
             helper.make_node("Relu", ["h1"], ["r1"], name="relu1"),
             helper.make_node("MatMul", ["r1", "w2"], ["h2"], name="mm2"),
             helper.make_node("ReduceSumSquare", ["h2"], ["energy"], name="ss", axes=[-1], keepdims=0),
             helper.make_node("MatMul", ["r1", "w3"], ["logits"], name="head")]
    graph = helper.make_graph(nodes, "overflow", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
                              [helper.make_tensor_value_info("energy", TensorProto.FLOAT, [4]),
                               helper.make_tensor_value_info("logits", TensorProto.FLOAT, [4, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def sample(seed: int = 0) -> dict:
    return {"x": np.random.default_rng(seed).standard_normal((4, 16)).astype(np.float32)}
