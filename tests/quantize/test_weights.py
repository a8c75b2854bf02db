"""Weight quantization against independent numpy computations: INT8 per-channel scales on each op's output-channel
axis, FP8 per-tensor scales, INT4 blocks and their two-per-byte packing."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from inferrt.quantize import quantize
from inferrt.quantize.weights import fp8_bits_to_float, int4_blocks, int4_dequant, pack_int4
from tests.helpers import lowest_ir
from tests.quantize.models import matmul_model, resblock_model


def _weight_dq(model, node_name):
    producer = {o: n for n in model.graph.node for o in n.output}
    inits = {t.name: t for t in model.graph.initializer}
    node = next(n for n in model.graph.node if n.name == node_name)
    dq = producer[node.input[1]]
    return dq, inits[dq.input[0]], numpy_helper.to_array(inits[dq.input[1]])


def test_int8_conv_and_gemm_scales_are_per_output_channel():
    m0 = resblock_model()
    w = {t.name: numpy_helper.to_array(t) for t in m0.graph.initializer}
    m = quantize(m0, "int8", "max", calibration_data={"x": np.ones((2, 4, 8, 8), np.float32)}, progress=False).model
    for node, wname in (("c1", "w1"), ("fc", "wfc")):          # Conv [M, C, kh, kw]; Gemm transB [N, K]: axis 0
        dq, qinit, scale = _weight_dq(m, node)
        ref = np.abs(w[wname]).reshape(w[wname].shape[0], -1).max(1) / 127.0
        np.testing.assert_allclose(scale, ref.astype(np.float32), rtol=1e-7)
        q = numpy_helper.to_array(qinit)
        expect = np.clip(np.rint(w[wname] / ref.reshape((-1,) + (1,) * (w[wname].ndim - 1))), -127, 127)
        np.testing.assert_array_equal(q, expect.astype(np.int8))
        assert np.abs(q).max() == 127


@pytest.mark.parametrize("op, shape, attrs, axis", [
    ("MatMul", (6, 5), {}, 1),
    ("Gemm", (6, 5), {}, 1),
    ("Gemm", (5, 6), {"transB": 1}, 0),
    ("ConvTranspose", (6, 5, 3, 3), {}, 1),
])
def test_output_channel_axis_per_op(op, shape, attrs, axis):
    rng = np.random.default_rng(5)
    w = rng.normal(0, 1, shape).astype(np.float32)
    if op == "ConvTranspose":
        xshape, yshape = [1, 6, 4, 4], [1, 5, 6, 6]
    else:
        xshape, yshape = [2, 6], [2, 5]
    g = helper.make_graph([helper.make_node(op, ["x", "w"], ["y"], name="n", **attrs)], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, xshape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, yshape)],
                          [numpy_helper.from_array(w, "w")])
    m = quantize(lowest_ir(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])), "int8", "max",
                 calibration_data={"x": np.ones(xshape, np.float32)}, progress=False).model
    dq, _, scale = _weight_dq(m, "n")
    assert next(a.i for a in dq.attribute if a.name == "axis") == axis
    other = tuple(i for i in range(w.ndim) if i != axis)
    np.testing.assert_allclose(scale, np.abs(w).max(axis=other) / 127.0, rtol=1e-6)


def test_fp8_weight_scale_is_amax_over_448_and_values_round_to_e4m3():
    m0 = matmul_model(k=32, n=8)
    w = numpy_helper.to_array(m0.graph.initializer[0])
    m = quantize(m0, "fp8", calibration_data={"x": np.ones((8, 32), np.float32)}, progress=False).model
    dq, qinit, scale = _weight_dq(m, "mm")
    assert qinit.data_type == TensorProto.FLOAT8E4M3FN and scale.shape == ()
    assert scale == np.float32(np.abs(w).max() / np.float32(448.0))
    got = fp8_bits_to_float(np.frombuffer(qinit.raw_data, np.uint8).reshape(w.shape))
    assert np.abs(got).max() == 448.0
    # E4M3 keeps 3 mantissa bits: every value within half a unit in the last place of w / scale
    y = w / scale
    ulp = 2.0 ** (np.floor(np.log2(np.maximum(np.abs(y), 2.0 ** -6))) - 3)
    assert np.all(np.abs(got - y) <= ulp / 2 + 1e-6)


def _numpy_int4_reference(w, block):
    """INT4 blocks along axis 0 of w [K, N], written independently: loops over blocks and columns."""
    k, n = w.shape
    q = np.zeros((k, n), np.int64)
    s = np.zeros(((k + block - 1) // block, n), np.float64)
    for b in range(s.shape[0]):
        for j in range(n):
            seg = w[b * block:(b + 1) * block, j].astype(np.float64)
            amax = np.abs(seg).max()
            s[b, j] = np.float32(np.float32(amax) / np.float32(7.0)) if amax > 0 else 1.0
            q[b * block:(b + 1) * block, j] = np.clip(np.round(seg / np.float32(s[b, j])), -8, 7)
    packed = bytearray()
    flat = [int(v) & 0xF for v in q.reshape(-1)] + ([0] if q.size % 2 else [])
    for i in range(0, len(flat), 2):
        packed.append(flat[i] | (flat[i + 1] << 4))
    return q, s.astype(np.float32), bytes(packed)


@pytest.mark.parametrize("k, n, block", [(256, 16, 128), (200, 5, 64), (7, 3, 4)])
def test_int4_blocks_and_packing_equal_numpy_reference(k, n, block):
    w = np.random.default_rng(k).normal(0, 0.3, (k, n)).astype(np.float32)
    q, s = int4_blocks(w, 0, block)
    rq, rs, rpacked = _numpy_int4_reference(w, block)
    np.testing.assert_array_equal(q, rq)
    np.testing.assert_array_equal(s, rs)
    assert pack_int4(q) == rpacked
    # onnx reads the packed tensor back to the same values
    from inferrt.quantize.weights import int4_initializer

    np.testing.assert_array_equal(numpy_helper.to_array(int4_initializer("q", q)).astype(np.int64), rq)
    deq = int4_dequant(q, s, 0, block)
    assert np.all(np.abs(deq - w) <= np.repeat(s, block, 0)[:k] / 2 + 1e-7)


def test_int4_model_dequantizes_in_reference_evaluator_as_numpy():
    from onnx.reference import ReferenceEvaluator

    m0 = matmul_model(k=256, n=16)
    w = numpy_helper.to_array(m0.graph.initializer[0])
    r = quantize(m0, "int4_rtn", progress=False)
    onnx.checker.check_model(r.model, full_check=True)
    x = np.random.default_rng(3).standard_normal((8, 256)).astype(np.float32)
    got = ReferenceEvaluator(r.model).run(None, {"x": x})[0]
    q, s = int4_blocks(w, 0, 128)
    np.testing.assert_allclose(got, x @ int4_dequant(q, s, 0, 128), rtol=1e-5, atol=1e-5)
