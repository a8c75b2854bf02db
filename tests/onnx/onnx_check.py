"""Shared by the importer tests: build a one-graph ONNX model and check inferrt against onnxruntime (or a given
float64 reference) on it."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto as TP, helper as oh, numpy_helper

import inferrt

NP2ONNX = {np.float32: TP.FLOAT, np.int64: TP.INT64, np.int32: TP.INT32, np.bool_: TP.BOOL, np.float16: TP.FLOAT16,
           np.uint8: TP.UINT8, np.int8: TP.INT8, np.float64: TP.DOUBLE}


def vi(name, arr_or_type, shape):
    """A value info from an ONNX element type or an example array."""
    t = arr_or_type if isinstance(arr_or_type, int) else NP2ONNX[np.asarray(arr_or_type).dtype.type]
    return oh.make_tensor_value_info(name, t, shape)


def make_model(nodes, inputs, outputs, inits=None, opset=17, ref=None):
    """``inputs``: {name: (array, onnx shape or None for the array's shape)}; ``outputs``: names; ``ref``: known
    outputs (for ops ONNX shape inference does not cover)."""
    ins = [vi(k, v, list(v.shape) if s is None else s) for k, (v, s) in inputs.items()]
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()]
    model = oh.make_model(oh.make_graph(nodes, "g", ins, [], inits), opset_imports=[oh.make_opsetid("", opset)])
    model.ir_version = 8
    types = {v.name: v for v in onnx.shape_inference.infer_shapes(model).graph.value_info
             if v.type.tensor_type.HasField("shape")}
    for o in outputs:
        if o in types:
            model.graph.output.append(types[o])
        elif ref is not None:
            model.graph.output.append(vi(o, ref[o], list(ref[o].shape)))
        else:  # ops onnx cannot infer (functions): same type and rank as the first input
            first = ins[0].type.tensor_type
            model.graph.output.append(oh.make_tensor_value_info(o, first.elem_type,
                                                                [f"{o}_{i}" for i in range(len(first.shape.dim))]))
    return model


def check(nodes, inputs, outputs, inits=None, opset=17, profiles=None, rtol=1e-4, atol=1e-4, ref=None):
    """Build with inferrt, run, and compare every output with onnxruntime (or with ``ref``, a numpy float64
    reference, for opsets onnxruntime no longer runs); returns inferrt's outputs. Dynamic dims (names in the ONNX
    shape) get a profile from 1 to twice the fed size."""
    import onnxruntime as ort

    model = make_model(nodes, inputs, outputs, inits, opset, ref)
    feeds = {k: v for k, (v, _) in inputs.items()}
    if ref is None:
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        ref = dict(zip(outputs, sess.run(outputs, feeds)))
    if profiles is None:
        profiles = {k: (tuple(1 if isinstance(d, str) else d for d in s), v.shape,
                        tuple(2 * v.shape[i] if isinstance(d, str) else d for i, d in enumerate(s)))
                    for k, (v, s) in inputs.items() if s is not None and any(isinstance(d, str) for d in s)}
    engine = inferrt.build_engine(model, profiles=profiles or None, device="cpu")
    got = engine.create_execution_context().infer(feeds)
    for o in outputs:
        r, g = np.asarray(ref[o]), np.asarray(got[o])
        assert g.shape == r.shape, f"{o}: shape {g.shape} != reference {r.shape}"
        if r.dtype.kind in "fc":
            np.testing.assert_allclose(g.astype(np.float64), r.astype(np.float64), rtol=rtol, atol=atol, err_msg=o)
        else:
            np.testing.assert_array_equal(g, r.astype(g.dtype), err_msg=o)
    return got
