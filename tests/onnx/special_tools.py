"""Test tools for the special-op importers: one-node ONNX models, run through inferrt and an independent reference
(onnxruntime, or onnx.reference.ReferenceEvaluator where onnxruntime lacks the op)."""
from __future__ import annotations

import os

import numpy as np
from onnx import TensorProto as TP, helper as oh, numpy_helper

import inferrt

#: where inferrt runs in these tests (INFERRT_TEST_DEVICE=cuda on a GPU machine); references always run on the CPU
DEVICE = os.environ.get("INFERRT_TEST_DEVICE", "cpu")

NP2ONNX = {np.dtype(np.float32): TP.FLOAT, np.dtype(np.float64): TP.DOUBLE, np.dtype(np.float16): TP.FLOAT16,
           np.dtype(np.int64): TP.INT64, np.dtype(np.int32): TP.INT32, np.dtype(np.int8): TP.INT8,
           np.dtype(np.uint8): TP.UINT8, np.dtype(np.bool_): TP.BOOL}


def model(nodes, inputs, outputs, inits=None, opset=17, dynamic=()):
    """``nodes``: NodeProtos (or one); ``inputs``: {name: array} graph inputs (names in ``dynamic`` get symbolic
    dims); ``inits``: {name: array} initializers; ``outputs``: output names."""
    nodes = [nodes] if not isinstance(nodes, (list, tuple)) else list(nodes)
    ins = [oh.make_tensor_value_info(k, NP2ONNX[np.asarray(v).dtype],
                                     [f"{k}_{i}" for i in range(np.ndim(v))] if k in dynamic else list(np.shape(v)))
           for k, v in inputs.items()]
    outs = [oh.make_tensor_value_info(o, TP.UNDEFINED, None) if isinstance(o, str) else
            oh.make_tensor_value_info(o[0], o[1], [f"{o[0]}_{i}" for i in range(o[2])]) for o in outputs]
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()]
    m = oh.make_model(oh.make_graph(nodes, "g", ins, outs, inits), opset_imports=[oh.make_opsetid("", opset)])
    m.ir_version = 10 if opset >= 21 else 8
    _fill_output_types(m)
    return m


def _fill_output_types(m):
    """Give graph outputs the element types ONNX shape inference finds (onnxruntime refuses UNDEFINED ones)."""
    from onnx import shape_inference

    try:
        inferred = shape_inference.infer_shapes(m)
    except Exception:  # noqa: BLE001 - leave the model as is; the reference reports what is wrong
        return
    types = {v.name: v.type for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    for o in m.graph.output:
        t = types.get(o.name)
        if o.type.tensor_type.elem_type == TP.UNDEFINED and t is not None and t.tensor_type.HasField("shape"):
            o.type.CopyFrom(t)


def _name(o):
    return o if isinstance(o, str) else o[0]


def reference(m, feeds, use_ort=True):
    names = [o.name for o in m.graph.output]
    if use_ort:
        import onnxruntime as ort

        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        return dict(zip(names, sess.run(names, feeds)))
    from onnx.reference import ReferenceEvaluator

    return dict(zip(names, ReferenceEvaluator(m).run(None, feeds)))


def run_inferrt(m, feeds, profiles=None):
    engine = inferrt.build_engine(m, profiles=profiles, device=DEVICE)
    return engine.create_execution_context().infer(feeds)


def check(nodes, inputs, outputs, inits=None, opset=17, use_ort=True, rtol=1e-4, atol=1e-5, dynamic=(),
          profiles=None):
    """Build with inferrt, run, compare every output with the reference (exact for integer outputs)."""
    m = model(nodes, inputs, outputs, inits, opset, dynamic)
    ref = reference(m, inputs, use_ort)
    got = run_inferrt(m, inputs, profiles)
    for o in map(_name, outputs):
        r, g = np.asarray(ref[o]), np.asarray(got[o])
        assert g.shape == r.shape, f"{o}: shape {g.shape} != reference {r.shape}"
        if r.dtype.kind in "fc":
            np.testing.assert_allclose(g.astype(np.float64), r.astype(np.float64), rtol=rtol, atol=atol, err_msg=o)
        else:
            assert g.dtype == r.dtype or (r.dtype.kind in "iu" and g.dtype.kind in "iu"), f"{o}: {g.dtype} vs {r.dtype}"
            np.testing.assert_array_equal(g, r.astype(g.dtype), err_msg=o)
    return got


def profile_for(inputs, names):
    """An optimization profile covering the given inputs' actual shapes (min 1 per dim, max 2x)."""
    return {k: (tuple(1 for _ in np.shape(inputs[k])), tuple(np.shape(inputs[k])),
                tuple(2 * d for d in np.shape(inputs[k]))) for k in names}
