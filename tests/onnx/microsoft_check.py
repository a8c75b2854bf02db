"""Shared helpers of the com.microsoft importer tests (test_importers_microsoft.py, test_importers_microsoft_quant.py):
models built with onnx.helper, compared with onnxruntime's CPU kernels or with a standard-domain equivalent run by
onnx.reference.ReferenceEvaluator, and the ParserErrors of refused attribute combinations."""
from __future__ import annotations

import numpy as np
from onnx import TensorProto as TP, helper as oh, numpy_helper

import inferrt
from tests.helpers import tolerance

RNG = np.random.default_rng(7)
MS = "com.microsoft"
NP2ONNX = {np.dtype(np.float32): TP.FLOAT, np.dtype(np.int64): TP.INT64, np.dtype(np.int32): TP.INT32,
           np.dtype(np.uint8): TP.UINT8, np.dtype(np.int8): TP.INT8, np.dtype(np.bool_): TP.BOOL}
RTOL, ATOL = tolerance(np.float32)


def rand(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def ms(op, inputs, outputs, **attrs):
    return oh.make_node(op, inputs, outputs, domain=MS, name=f"{op.lower()}_{outputs[0]}", **attrs)


def model_of(nodes, feeds, outputs, inits=None, out_types=None):
    ins = [oh.make_tensor_value_info(k, NP2ONNX[v.dtype], list(v.shape)) for k, v in feeds.items()]
    outs = [oh.make_tensor_value_info(o, (out_types or {}).get(o, TP.FLOAT), None) for o in outputs]
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()]
    model = oh.make_model(oh.make_graph(nodes, "g", ins, outs, inits),
                          opset_imports=[oh.make_opsetid("", 17), oh.make_opsetid(MS, 1)])
    model.ir_version = 8
    return model


def check(nodes, feeds, outputs, inits=None, out_types=None, rtol=RTOL, atol=ATOL, reference_nodes=None,
          reference_inits=None):
    """Build with inferrt (CPU, FLOAT), run, and compare every output with onnxruntime's CPU kernels; or, given
    ``reference_nodes`` (standard-domain nodes computing the same outputs from the same feeds, with ``inits`` or
    ``reference_inits``), with those run by onnx.reference.ReferenceEvaluator."""
    import onnxruntime as ort

    model = model_of(nodes, feeds, outputs, inits, out_types)
    if reference_nodes is None:
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    else:
        from onnx.reference import ReferenceEvaluator

        sess = ReferenceEvaluator(model_of(reference_nodes, feeds, outputs,
                                           inits if reference_inits is None else reference_inits, out_types))
    ref = dict(zip(outputs, sess.run(outputs, feeds)))
    engine = inferrt.build_engine(model, device="cpu")
    got = engine.create_execution_context().infer(feeds)
    for o in outputs:
        r, g = np.asarray(ref[o]), np.asarray(got[o])
        assert g.shape == r.shape, f"{o}: shape {g.shape} != onnxruntime {r.shape}"
        if r.dtype.kind == "f":
            np.testing.assert_allclose(g.astype(np.float64), r.astype(np.float64), rtol=rtol, atol=atol, err_msg=o)
        else:
            np.testing.assert_array_equal(g, r.astype(g.dtype), err_msg=o)
    return got, ref


def parse_errors(nodes, feeds, outputs, inits=None):
    logger = inferrt.Logger(inferrt.Logger.INTERNAL_ERROR)
    net = inferrt.Builder(logger).create_network(0)
    parser = inferrt.OnnxParser(net, logger)
    ok = parser.parse(model_of(nodes, feeds, outputs, inits).SerializeToString())
    assert not ok
    return " ".join(str(parser.get_error(i)) for i in range(parser.num_errors))


def pack_bits(q, bits):
    """(..., m) ints in [0, 2**bits) -> (..., m * bits / 8) uint8, low bits first."""
    per = 8 // bits
    q = q.reshape(q.shape[:-1] + (-1, per)).astype(np.uint32)
    return sum(q[..., j] << (bits * j) for j in range(per)).astype(np.uint8)
