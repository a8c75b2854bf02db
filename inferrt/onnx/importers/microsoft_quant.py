"""com.microsoft quantized ops written by onnxruntime's quantization tools: MatMulIntegerToFloat,
DynamicQuantizeMatMul, MatMulNBits (2/4/8-bit block-quantized weights) and DynamicQuantizeLSTM.

* MatMulIntegerToFloat / DynamicQuantizeMatMul: MatMulInteger (exact INT32 sums) scaled by a_scale * b_scale, as
  onnxruntime computes them; DynamicQuantizeMatMul quantizes A first with DynamicQuantizeLinear.
* MatMulNBits: the packed weights are unpacked with integer layers (low bits first), (q - zero_point) * scale per
  block, and multiplied in A's type. ``accuracy_level`` is the lowest precision onnxruntime may use for A (level 4
  quantizes A to int8); computing in A's own type meets every level, so it never lowers precision here.
* DynamicQuantizeLSTM: the int8 weights are dequantized (per tensor or per output column) and transposed to
  ONNX LSTM's layout; the LSTM then runs in float. onnxruntime also quantizes X and H to uint8 at every step, so
  the two agree to that rounding (see the tests), not bit for bit.
"""
from __future__ import annotations

import numpy as np

from ...enums import DataType, ElementWiseOperation as EW, ParserErrorCode as E
from ..registry import importer
from ._compose import (attr, axis_slice, cast, concat, const, ew, fail, has_input, inp, onnx_op, out, rank, reshape,
                       transpose)
from .matrix import matmul

MS = "com.microsoft"


def _scaled(ctx, node, acc, a_scale, b_scale, bias):
    """float(acc) * (a_scale * b_scale) (+ bias)."""
    if a_scale.shape and any(d != 1 for d in a_scale.shape):
        fail(node, f"a_scale must hold one value (per-tensor), got shape {tuple(a_scale.shape)}", E.INVALID_NODE)
    b_scale = cast(ctx, b_scale, a_scale.dtype)
    scale = ew(ctx, reshape(ctx, a_scale, [1] * max(rank(b_scale), 1)), b_scale, EW.PROD)
    y = ew(ctx, cast(ctx, acc, a_scale.dtype), scale, EW.PROD)
    return ew(ctx, y, cast(ctx, bias, y.dtype), EW.SUM) if bias is not None else y


@importer("MatMulIntegerToFloat", since=1, domain=MS)
def matmul_integer_to_float(ctx, node):
    a, b, a_scale, b_scale = (inp(ctx, node, i) for i in range(4))
    acc = onnx_op(ctx, node, "MatMulInteger", [a, b, inp(ctx, node, 4) if has_input(node, 4) else None,
                                               inp(ctx, node, 5) if has_input(node, 5) else None])[0]
    return [_scaled(ctx, node, acc, a_scale, b_scale, inp(ctx, node, 6) if has_input(node, 6) else None)]


@importer("DynamicQuantizeMatMul", since=1, domain=MS)
def dynamic_quantize_matmul(ctx, node):
    a, b, b_scale = inp(ctx, node, 0), inp(ctx, node, 1), inp(ctx, node, 2)
    aq, a_scale, a_zp = onnx_op(ctx, node, "DynamicQuantizeLinear", [a], n_out=3)
    b_zp = inp(ctx, node, 3) if has_input(node, 3) else None
    acc = onnx_op(ctx, node, "MatMulInteger", [aq, b, a_zp, b_zp])[0]
    y = _scaled(ctx, node, acc, a_scale, b_scale, inp(ctx, node, 4) if has_input(node, 4) else None)
    return [cast(ctx, y, a.dtype)]


# ----------------------------------------------------------------------------------------------- MatMulNBits
def unpack_bits(ctx, packed, bits):
    """INT32 values of the ``bits``-wide fields of each byte of ``packed`` (UINT8, any shape (..., n)), low bits
    first: (..., n * 8 / bits)."""
    x = cast(ctx, packed, DataType.INT32)
    r = rank(x)
    per = 8 // bits
    if per == 1:
        return x
    fields = []
    for j in range(per):
        v = ew(ctx, x, const(ctx, np.full((1,) * r, 1 << (bits * j), np.int32)), EW.FLOOR_DIV) if j else x
        if j < per - 1:
            hi = ew(ctx, v, const(ctx, np.full((1,) * r, 1 << bits, np.int32)), EW.FLOOR_DIV)
            v = ew(ctx, v, ew(ctx, hi, const(ctx, np.full((1,) * r, 1 << bits, np.int32)), EW.PROD), EW.SUB)
        fields.append(reshape(ctx, v, [0] * r + [1], zero_is_placeholder=True))
    return reshape(ctx, concat(ctx, fields, r), [0] * (r - 1) + [-1], zero_is_placeholder=True)


@importer("MatMulNBits", since=1, domain=MS)
def matmul_nbits(ctx, node):
    a, b, scales = inp(ctx, node, 0), inp(ctx, node, 1), inp(ctx, node, 2)
    k, n = int(attr(node, "K")), int(attr(node, "N"))
    bits, bs = int(attr(node, "bits", 4)), int(attr(node, "block_size"))
    if bits not in (2, 4, 8):
        fail(node, f"attribute bits={bits} is not supported (2, 4 or 8)")
    if bs < 16 or bs & (bs - 1):
        fail(node, f"attribute block_size={bs} must be a power of 2 and at least 16", E.INVALID_NODE)
    if has_input(node, 4):
        fail(node, "input g_idx (act-order permutation) is not supported")
    if b.dtype != DataType.UINT8:
        fail(node, f"B must be UINT8 (packed), got {b.dtype.name}", E.UNSUPPORTED_NODE_DATATYPE)
    kb = -(-k // bs)
    blob = bs * bits // 8
    q = unpack_bits(ctx, reshape(ctx, b, [n, kb, blob]), bits)  # (N, kb, bs)
    if has_input(node, 3):
        zp = inp(ctx, node, 3)
        if zp.dtype == DataType.UINT8:  # packed like B, each row padded to whole bytes
            zrow = -(-kb * bits // 8)
            zq = unpack_bits(ctx, reshape(ctx, zp, [n, zrow]), bits)
            zp = reshape(ctx, out(axis_slice(ctx, zq, [1], [0], [kb])), [n, kb, 1])
            w = cast(ctx, ew(ctx, q, zp, EW.SUB), a.dtype)
        else:  # float zero points: q * scale - zero_point * scale
            w = ew(ctx, cast(ctx, q, a.dtype), reshape(ctx, cast(ctx, zp, a.dtype), [n, kb, 1]), EW.SUB)
    else:
        w = cast(ctx, ew(ctx, q, const(ctx, np.full((1, 1, 1), 1 << (bits - 1), np.int32)), EW.SUB), a.dtype)
    w = ew(ctx, w, reshape(ctx, cast(ctx, scales, a.dtype), [n, kb, 1]), EW.PROD)
    w = reshape(ctx, w, [n, kb * bs])
    if kb * bs != k:
        w = out(axis_slice(ctx, w, [1], [0], [k]))
    y = matmul(ctx, a, w, tb=True)
    if has_input(node, 5):
        y = ew(ctx, y, cast(ctx, inp(ctx, node, 5), y.dtype), EW.SUM)
    return [y]


# ----------------------------------------------------------------------------------------------- LSTM
def _dequantize_weights(ctx, node, w, scale, zp, what):
    """int8 (D, rows, 4H) with per-direction (D) or per-column (D, 4H) scale / zero point -> float (D, 4H, rows)."""
    if w.dtype not in (DataType.INT8, DataType.UINT8):
        fail(node, f"{what} must be INT8 or UINT8, got {w.dtype.name}", E.UNSUPPORTED_NODE_DATATYPE)
    shape = [-1, 1, 1] if rank(scale) == 1 else [0, 1, -1]
    s = reshape(ctx, scale, shape, zero_is_placeholder=True)
    wf = cast(ctx, w, DataType.FLOAT)
    if zp is not None:
        wf = ew(ctx, wf, reshape(ctx, cast(ctx, zp, DataType.FLOAT), shape, zero_is_placeholder=True), EW.SUB)
    return transpose(ctx, ew(ctx, wf, s, EW.PROD), [0, 2, 1])


@importer("DynamicQuantizeLSTM", since=1, domain=MS)
def dynamic_quantize_lstm(ctx, node):
    w = _dequantize_weights(ctx, node, inp(ctx, node, 1), inp(ctx, node, 8),
                            inp(ctx, node, 9) if has_input(node, 9) else None, "W")
    r = _dequantize_weights(ctx, node, inp(ctx, node, 2), inp(ctx, node, 10),
                            inp(ctx, node, 11) if has_input(node, 11) else None, "R")
    ins = [inp(ctx, node, 0), w, r] + [inp(ctx, node, i) if has_input(node, i) else None for i in range(3, 8)]
    while ins[-1] is None:
        ins.pop()
    keys = ("activation_alpha", "activation_beta", "activations", "clip", "direction", "hidden_size", "input_forget")
    attrs = {k: attr(node, k) for k in keys if node.has_attr(k)}
    res = onnx_op(ctx, node, "LSTM", ins, n_out=3, opset=14, **attrs)
    return res[:len(node.outputs)]
