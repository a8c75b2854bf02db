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

from .matrix import matmul

MS = "com.microsoft"


def _scaled(ctx, node, acc, a_scale, b_scale, bias):
    """float(acc) * (a_scale * b_scale) (+ bias)."""
    if a_scale.shape and any(d != 1 for d in a_scale.shape):
        ctx.fail(f"a_scale must hold one value (per-tensor), got shape {tuple(a_scale.shape)}", E.INVALID_NODE)
    b_scale = ctx.cast(b_scale, a_scale.dtype)
    scale = ctx.elementwise(ctx.reshape(a_scale, [1] * max(ctx.rank(b_scale), 1), zero_copies=False), b_scale, EW.PROD)
    y = ctx.elementwise(ctx.cast(acc, a_scale.dtype), scale, EW.PROD)
    return ctx.elementwise(y, ctx.cast(bias, y.dtype), EW.SUM) if bias is not None else y


@importer("MatMulIntegerToFloat", since=1, domain=MS)
def matmul_integer_to_float(ctx, node):
    a, b, a_scale, b_scale = (ctx.input(node, i) for i in range(4))
    acc = ctx.onnx_op("MatMulInteger", [a, b, ctx.input(node, 4) if ctx.has_input(node, 4) else None,
                                               ctx.input(node, 5) if ctx.has_input(node, 5) else None])[0]
    return [_scaled(ctx, node, acc, a_scale, b_scale, ctx.input(node, 6) if ctx.has_input(node, 6) else None)]


@importer("DynamicQuantizeMatMul", since=1, domain=MS)
def dynamic_quantize_matmul(ctx, node):
    a, b, b_scale = ctx.input(node, 0), ctx.input(node, 1), ctx.input(node, 2)
    aq, a_scale, a_zp = ctx.onnx_op("DynamicQuantizeLinear", [a], n_out=3)
    b_zp = ctx.input(node, 3) if ctx.has_input(node, 3) else None
    acc = ctx.onnx_op("MatMulInteger", [aq, b, a_zp, b_zp])[0]
    y = _scaled(ctx, node, acc, a_scale, b_scale, ctx.input(node, 4) if ctx.has_input(node, 4) else None)
    return [ctx.cast(y, a.dtype)]


# ----------------------------------------------------------------------------------------------- MatMulNBits
def unpack_bits(ctx, packed, bits):
    """INT32 values of the ``bits``-wide fields of each byte of ``packed`` (UINT8, any shape (..., n)), low bits
    first: (..., n * 8 / bits)."""
    x = ctx.cast(packed, DataType.INT32)
    r = ctx.rank(x)
    per = 8 // bits
    if per == 1:
        return x
    fields = []
    for j in range(per):
        v = ctx.elementwise(x, ctx.constant(np.full((1,) * r, 1 << (bits * j), np.int32)), EW.FLOOR_DIV) if j else x
        if j < per - 1:
            hi = ctx.elementwise(v, ctx.constant(np.full((1,) * r, 1 << bits, np.int32)), EW.FLOOR_DIV)
            v = ctx.elementwise(v, ctx.elementwise(hi, ctx.constant(np.full((1,) * r, 1 << bits, np.int32)), EW.PROD),
                                EW.SUB)
        fields.append(ctx.reshape(v, [0] * r + [1], zero_copies=True))
    return ctx.reshape(ctx.concat(fields, r), [0] * (r - 1) + [-1], zero_copies=True)


@importer("MatMulNBits", since=1, domain=MS)
def matmul_nbits(ctx, node):
    a, b, scales = ctx.input(node, 0), ctx.input(node, 1), ctx.input(node, 2)
    k, n = int(ctx.attr(node, "K")), int(ctx.attr(node, "N"))
    bits, bs = int(ctx.attr(node, "bits", 4)), int(ctx.attr(node, "block_size"))
    if bits not in (2, 4, 8):
        ctx.fail(f"attribute bits={bits} is not supported (2, 4 or 8)", E.UNSUPPORTED_NODE_ATTR)
    if bs < 16 or bs & (bs - 1):
        ctx.fail(f"attribute block_size={bs} must be a power of 2 and at least 16", E.INVALID_NODE)
    if ctx.has_input(node, 4):
        ctx.fail("input g_idx (act-order permutation) is not supported", E.UNSUPPORTED_NODE_ATTR)
    if b.dtype != DataType.UINT8:
        ctx.fail(f"B must be UINT8 (packed), got {b.dtype.name}", E.UNSUPPORTED_NODE_DATATYPE)
    kb = -(-k // bs)
    blob = bs * bits // 8
    q = unpack_bits(ctx, ctx.reshape(b, [n, kb, blob], zero_copies=False), bits)  # (N, kb, bs)
    if ctx.has_input(node, 3):
        zp = ctx.input(node, 3)
        if zp.dtype == DataType.UINT8:  # packed like B, each row padded to whole bytes
            zrow = -(-kb * bits // 8)
            zq = unpack_bits(ctx, ctx.reshape(zp, [n, zrow], zero_copies=False), bits)
            zp = ctx.reshape(ctx.out(ctx.axis_slice(zq, [1], [0], [kb])), [n, kb, 1], zero_copies=False)
            w = ctx.cast(ctx.elementwise(q, zp, EW.SUB), a.dtype)
        else:  # float zero points: q * scale - zero_point * scale
            w = ctx.elementwise(ctx.cast(q, a.dtype), ctx.reshape(ctx.cast(zp, a.dtype), [n, kb, 1], zero_copies=False),
                                EW.SUB)
    else:
        w = ctx.cast(ctx.elementwise(q, ctx.constant(np.full((1, 1, 1), 1 << (bits - 1), np.int32)), EW.SUB), a.dtype)
    w = ctx.elementwise(w, ctx.reshape(ctx.cast(scales, a.dtype), [n, kb, 1], zero_copies=False), EW.PROD)
    w = ctx.reshape(w, [n, kb * bs], zero_copies=False)
    if kb * bs != k:
        w = ctx.out(ctx.axis_slice(w, [1], [0], [k]))
    y = matmul(ctx, a, w, tb=True)
    if ctx.has_input(node, 5):
        y = ctx.elementwise(y, ctx.cast(ctx.input(node, 5), y.dtype), EW.SUM)
    return [y]


# ----------------------------------------------------------------------------------------------- LSTM
def _dequantize_weights(ctx, node, w, scale, zp, what):
    """int8 (D, rows, 4H) with per-direction (D) or per-column (D, 4H) scale / zero point -> float (D, 4H, rows)."""
    if w.dtype not in (DataType.INT8, DataType.UINT8):
        ctx.fail(f"{what} must be INT8 or UINT8, got {w.dtype.name}", E.UNSUPPORTED_NODE_DATATYPE)
    shape = [-1, 1, 1] if ctx.rank(scale) == 1 else [0, 1, -1]
    s = ctx.reshape(scale, shape, zero_copies=True)
    wf = ctx.cast(w, DataType.FLOAT)
    if zp is not None:
        wf = ctx.elementwise(wf, ctx.reshape(ctx.cast(zp, DataType.FLOAT), shape, zero_copies=True), EW.SUB)
    return ctx.transpose(ctx.elementwise(wf, s, EW.PROD), [0, 2, 1])


@importer("DynamicQuantizeLSTM", since=1, domain=MS)
def dynamic_quantize_lstm(ctx, node):
    w = _dequantize_weights(ctx, node, ctx.input(node, 1), ctx.input(node, 8),
                            ctx.input(node, 9) if ctx.has_input(node, 9) else None, "W")
    r = _dequantize_weights(ctx, node, ctx.input(node, 2), ctx.input(node, 10),
                            ctx.input(node, 11) if ctx.has_input(node, 11) else None, "R")
    ins = [ctx.input(node, 0), w, r] + [ctx.input(node, i) if ctx.has_input(node, i) else None for i in range(3, 8)]
    while ins[-1] is None:
        ins.pop()
    keys = ("activation_alpha", "activation_beta", "activations", "clip", "direction", "hidden_size", "input_forget")
    attrs = {k: ctx.attr(node, k) for k in keys if node.has_attr(k)}
    res = ctx.onnx_op("LSTM", ins, n_out=3, opset=14, **attrs)
    return res[:len(node.outputs)]
