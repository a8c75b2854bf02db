"""com.microsoft quantized operators (MatMulIntegerToFloat, DynamicQuantizeMatMul, MatMulNBits,
DynamicQuantizeLSTM) against onnxruntime's CPU kernels; where onnxruntime's uint8 x int8 products saturate pairs to
int16 (AVX2 without VNNI, probed by ort_exactness), against a standard-domain equivalent run by
onnx.reference.ReferenceEvaluator, with the same bounds."""
from __future__ import annotations

import numpy as np
import pytest
from microsoft_check import ATOL, RNG, RTOL, check, ms, pack_bits, parse_errors, rand
from onnx import TensorProto as TP, helper as oh
from ort_exactness import ort_integer_products_exact


def _standard_integer_matmul(ins, out, dynamic):
    """Standard-domain nodes for MatMulIntegerToFloat (``ins``: a, b, a_scale, b_scale, a_zp, b_zp, bias; "" or
    missing when absent) or, ``dynamic``, DynamicQuantizeMatMul (a, b, b_scale, b_zp, bias: A quantized to uint8 by
    DynamicQuantizeLinear): Y = (A - a_zp) (B - b_zp) a_scale b_scale + bias, the sum exact in int32. The reference
    where onnxruntime's u8 x s8 products saturate (AVX2 without VNNI: see ort_exactness)."""
    nodes = []
    if dynamic:
        a, b, b_scale, b_zp, bias = (list(ins) + [""] * 5)[:5]
        nodes.append(oh.make_node("DynamicQuantizeLinear", [a], ["_aq", "_a_scale", "_a_zp"]))
        a, a_scale, a_zp = "_aq", "_a_scale", "_a_zp"
    else:
        a, b, a_scale, b_scale, a_zp, b_zp, bias = (list(ins) + [""] * 7)[:7]
    mm_ins = [a, b, a_zp, b_zp]
    while not mm_ins[-1]:
        mm_ins.pop()
    nodes += [oh.make_node("MatMulInteger", mm_ins, ["_acc"]), oh.make_node("Cast", ["_acc"], ["_accf"], to=TP.FLOAT),
              oh.make_node("Mul", [a_scale, b_scale], ["_scale"]),
              oh.make_node("Mul", ["_accf", "_scale"], ["_y" if bias else out])]
    if bias:
        nodes.append(oh.make_node("Add", ["_y", bias], [out]))
    return nodes


@pytest.mark.parametrize("a_type,b_type", [(np.uint8, np.int8), (np.uint8, np.uint8), (np.int8, np.int8)])
@pytest.mark.parametrize("per_column,zero_points,bias", [(False, False, False), (True, True, True),
                                                         (False, True, True)])
def test_matmul_integer_to_float(a_type, b_type, per_column, zero_points, bias):
    m, k, n = 3, 16, 5
    info_a, info_b = np.iinfo(a_type), np.iinfo(b_type)
    a = RNG.integers(info_a.min, info_a.max + 1, (2, m, k)).astype(a_type)
    b = RNG.integers(info_b.min, info_b.max + 1, (k, n)).astype(b_type)
    inits = {"b": b, "a_scale": np.array(0.02, np.float32),
             "b_scale": (RNG.random(n) * 0.05 + 0.01).astype(np.float32) if per_column else np.array(0.03, np.float32)}
    ins = ["a", "b", "a_scale", "b_scale", "", "", ""]
    if zero_points:
        inits["a_zp"] = np.array(7, a_type)
        inits["b_zp"] = RNG.integers(-3, 4, n).astype(b_type) if per_column and b_type == np.int8 else \
            np.array(3, b_type)
        ins[4], ins[5] = "a_zp", "b_zp"
    if bias:
        inits["bias"] = rand(n)
        ins[6] = "bias"
    while not ins[-1]:
        ins.pop()
    # where onnxruntime's u8 x s8 products saturate pairs to int16 (AVX2 without VNNI), the reference is the
    # standard-domain equivalent in the exact ReferenceEvaluator, at the same tolerance
    exact = ort_integer_products_exact(a_type, b_type)
    check([ms("MatMulIntegerToFloat", ins, ["y"])], {"a": a}, ["y"], inits=inits,
          reference_nodes=None if exact else _standard_integer_matmul(ins, "y", dynamic=False))


@pytest.mark.parametrize("b_type", [np.int8, np.uint8])
@pytest.mark.parametrize("per_column,zero_point,bias", [(False, False, False), (True, True, True)])
def test_dynamic_quantize_matmul(b_type, per_column, zero_point, bias):
    k, n = 32, 6
    info = np.iinfo(b_type)
    inits = {"b": RNG.integers(info.min, info.max + 1, (k, n)).astype(b_type),
             "b_scale": (RNG.random(n) * 0.02 + 0.01).astype(np.float32) if per_column else np.array(0.02, np.float32)}
    ins = ["a", "b", "b_scale", "", ""]
    if zero_point:
        inits["b_zp"] = np.full(n if per_column else (), 2, b_type)
        ins[3] = "b_zp"
    if bias:
        inits["bias"] = rand(n)
        ins[4] = "bias"
    while not ins[-1]:
        ins.pop()
    # A is quantized to uint8 inside both (DynamicQuantizeLinear: same scale, zero point and rounding), then summed
    # exactly in int32: the results agree to float32 rounding of the final scaling. Where onnxruntime's u8 x s8
    # products saturate pairs to int16 (AVX2 without VNNI), the reference is the standard-domain equivalent
    # (DynamicQuantizeLinear, MatMulInteger, scaling) in the exact ReferenceEvaluator, at the same tolerance
    exact = ort_integer_products_exact(np.uint8, b_type)
    check([ms("DynamicQuantizeMatMul", ins, ["y"])], {"a": rand(2, 3, k)}, ["y"], inits=inits,
          reference_nodes=None if exact else _standard_integer_matmul(ins, "y", dynamic=True))


_NBITS = [(4, 16, 64), (4, 32, 80), (4, 128, 128), (8, 32, 64), (2, 16, 48)]


# onnxruntime's CPU kernel has no 8-bit weights with float zero points
@pytest.mark.parametrize("bits,block,k,zero_points", [c + (z,) for c in _NBITS for z in (None, "packed", "float")
                                                      if not (c[0] == 8 and z == "float")])
@pytest.mark.parametrize("bias", [False, True])
def test_matmul_nbits(bits, block, k, zero_points, bias):
    n = 6
    kb = -(-k // block)
    q = RNG.integers(0, 1 << bits, (n, kb, block))
    inits = {"b": pack_bits(q, bits), "scales": (RNG.random(n * kb) * 0.1 + 0.01).astype(np.float32)}
    ins = ["a", "b", "scales", "", "", ""]
    if zero_points == "packed":
        zrow = -(-kb * bits // 8) * (8 // bits)
        zq = np.zeros((n, zrow), np.int64)
        zq[:, :kb] = RNG.integers(0, 1 << bits, (n, kb))
        inits["zp"] = pack_bits(zq, bits).reshape(-1)
        ins[3] = "zp"
    elif zero_points == "float":
        inits["zp"] = (RNG.random(n * kb) * (1 << bits)).astype(np.float32)
        ins[3] = "zp"
    if bias:
        inits["bias"] = rand(n)
        ins[5] = "bias"
    while not ins[-1]:
        ins.pop()
    node = ms("MatMulNBits", ins, ["y"], K=k, N=n, bits=bits, block_size=block)
    check([node], {"a": rand(2, 3, k)}, ["y"], inits=inits)


def test_matmul_nbits_g_idx_is_refused():
    node = ms("MatMulNBits", ["a", "b", "s", "", "g"], ["y"], K=32, N=2, bits=4, block_size=16)
    msg = parse_errors([node], {"a": rand(1, 32)}, ["y"], inits={
        "b": np.zeros((2, 2, 8), np.uint8), "s": np.ones(4, np.float32), "g": np.zeros(32, np.int32)})
    assert "matmulnbits_y" in msg and "g_idx" in msg


def _quantize_int8(w, axis_cols):
    """Symmetric int8 per tensor (axis_cols False) or per output column (last axis)."""
    amax = np.abs(w).max(axis=1) if axis_cols else np.abs(w).max(axis=(1, 2))
    scale = (amax / 127.0).astype(np.float32)
    s = scale[:, None, :] if axis_cols else scale[:, None, None]
    return np.clip(np.round(w / s), -127, 127).astype(np.int8), scale


@pytest.mark.parametrize("direction", ["forward", "bidirectional"])
@pytest.mark.parametrize("per_column", [False, True])
def test_dynamic_quantize_lstm(direction, per_column):
    seq, batch, inp_size, hidden = 5, 2, 6, 4
    d = 2 if direction == "bidirectional" else 1
    wq, ws = _quantize_int8(rand(d, inp_size, 4 * hidden, scale=0.5), per_column)
    rq, rs = _quantize_int8(rand(d, hidden, 4 * hidden, scale=0.5), per_column)
    inits = {"w": wq, "r": rq, "b": rand(d, 8 * hidden, scale=0.1), "ws": ws, "wz": np.zeros(ws.shape, np.int8),
             "rs": rs, "rz": np.zeros(rs.shape, np.int8)}
    node = ms("DynamicQuantizeLSTM", ["x", "w", "r", "b", "", "", "", "", "ws", "wz", "rs", "rz"], ["y", "yh", "yc"],
              hidden_size=hidden, direction=direction)
    x = rand(seq, batch, inp_size)
    reference = {}
    if not ort_integer_products_exact(np.uint8, np.int8):
        # onnxruntime's u8 x s8 products saturate pairs to int16 on AVX2 without VNNI (see ort_exactness), off by far
        # more than the 3e-2 bound below allows for its quantization of X and H: the reference is then ONNX's LSTM
        # with the dequantized weights (in its layout, [directions, 4 * hidden, in]) in the exact ReferenceEvaluator,
        # the op without that quantization, which is what inferrt computes: held to the float32 tolerance
        # (measured: <= 2.4e-7 over the four cases)
        def deq(q, scale, zp):
            s = scale[:, None, :] if per_column else scale[:, None, None]
            z = zp[:, None, :] if per_column else zp[:, None, None]
            return ((q.astype(np.float32) - z) * s).transpose(0, 2, 1).copy()

        reference = {"reference_nodes": [oh.make_node("LSTM", ["x", "W", "R", "B"], ["y", "yh", "yc"],
                                                      hidden_size=hidden, direction=direction)],
                     "reference_inits": {"W": deq(wq, ws, inits["wz"]), "R": deq(rq, rs, inits["rz"]),
                                         "B": inits["b"]}, "rtol": RTOL, "atol": ATOL}
    # onnxruntime quantizes X and H to uint8 (DynamicQuantizeLinear) before every int8 product; inferrt multiplies
    # the dequantized int8 weights in float32. A uint8 step of X is range/255 (~0.025 for X ~ N(0, 1) over 60
    # values), so each input is off by up to half a step; a gate pre-activation sums 6 such errors times |W| ~ 0.4:
    # ~0.03 if all had one sign, ~0.012 as they add up like a random walk; sigmoid/tanh slopes are <= 1 and the cell
    # state carries errors over steps. Measured: at most 0.015 over these four cases; the bound is 3e-2
    got, ref = check([node], {"x": x}, ["y", "yh", "yc"], inits=inits, **{"rtol": 0, "atol": 3e-2, **reference})
    # and not trivially: the outputs move by far more than that bound across the sequence
    assert np.abs(np.asarray(ref["y"])).max() > 0.1
