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


def make_model(nodes, inputs, outputs, inits=None, opset=17):
    """``inputs``: {name: (array, onnx shape or None for the array's shape)}; ``outputs``: names."""
    ins = [_vi(k, v, list(v.shape) if s is None else s) for k, (v, s) in inputs.items()]
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()]
    graph = oh.make_graph(nodes, "g", ins, [], inits)
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", opset)])
    model.ir_version = 8
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v for v in inferred.graph.value_info}
    for o in outputs:  # output types and shapes from ONNX shape inference
        model.graph.output.append(types[o])
    return model


def check(nodes, inputs, outputs, inits=None, opset=17, profiles=None, rtol=1e-4, atol=1e-4):
    """Build with inferrt, run, and compare every output with onnxruntime; returns inferrt's outputs."""
    import onnxruntime as ort

    model = make_model(nodes, inputs, outputs, inits, opset)
    feeds = {k: v for k, (v, _) in inputs.items()}
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
