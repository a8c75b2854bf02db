"""Quantized products: ``quantized_conv`` and ``quantized_matmul``, the layers ``passes/fuse_qdq.py`` makes from
explicit Q/DQ around a convolution or a matrix product (TensorRT's "Q/DQ fusion").

    x ─ Q(sx) ─ DQ(sx) ─┐
    Wq ─ DQ(sw, axis) ──┴─ Conv ─ (+ b) ─ epilogue      ==>   quantized_conv(x, Wq, b, r, sw, sx)  (INT8 / FP8)
    x ──────────────────┐
    Wq ─ DQ(sw, blocks) ┴─ MatMul ─ (+ b) ─ epilogue    ==>   quantized_matmul(x, Wq, b, r, sw)    (weight-only)

Inputs: ``input`` (the float activation, before its Q), ``kernel`` (the low-bit constant), ``bias``, ``residual``
(as in ``ops/fused.py``: the epilogue's ``["add", 3]``), ``kernel_scale`` (index 4) and ``input_scale`` (index 5,
absent for weight-only). ``kernel_axis`` / ``kernel_block_shape`` say how the kernel scale applies, as the
dequantize layer's ``axis`` / ``block_shape``.

``input_type`` INT8 or FP8 (activation and weights quantized): ``x`` is quantized with the per-tensor scale ``sx``
exactly like the quantize layer it replaces (round half to even, saturate), the product of the quantized values is
accumulated, and the dequantize ``acc * (sx * sw[c])`` (``sw`` per tensor or per output channel) comes first in
the epilogue, then the bias and the steps. This is the fake-quantized graph's function: the product of the
dequantized values equals ``sx * sw[c]`` times the product of the quantized ones, up to float rounding. Here the
accumulation is exact for INT8 (float32 while every sum fits 24 bits, float64 beyond) and float32 for FP8, as the
tensor cores accumulate.

``input_type`` FLOAT (weight-only, any low-bit kernel, any scale form, blocks included): the kernel is dequantized
to ``x``'s type and the product computed in it.

The generic implementation below is the reference the fast tactics (``tactics/tactic_quantized_*.py``) match.
"""
from __future__ import annotations

import math

import torch

from ..dtypes import FLOAT_TYPES as _FLOATS, LOW_BIT
from ..enums import DataType, LayerType, MatrixOperation as MO
from ..ir.kinds import Kind
from .base import DTYPE, INT, INTS, JSON, Attrs, Enum, OpDef, OpError, Spec, broadcast_shapes, get_op, norm_axis, \
    register
from .conv import _ConvBase
from .fused import apply_epilogue, check_epilogue, epilogue_shape
from .quantize import broadcast_param, quantize_values

#: activation types of the quantized path, with the kernel types each multiplies exactly
ACT_KERNEL_TYPES = {DataType.INT8: (DataType.INT8, DataType.INT4), DataType.FP8: (DataType.FP8,)}
#: the kernel types: 8-bit integers and the low-bit types (E8M0 is a scale type, not a value type)
KERNEL_TYPES = (DataType.INT8, DataType.UINT8) + tuple(t for t in LOW_BIT if t != DataType.E8M0)
#: |int8 * int8| <= 2**14: K products sum exactly in float32 while K * 2**14 <= 2**24
_F32_EXACT_K = 1 << 10


def dequantized_kernel(a, kernel, scale, dtype):
    """The kernel as ``dtype`` values: ``kernel * scale`` (per tensor, per ``kernel_axis`` or per block)."""
    w = kernel.to(torch.float32)
    p = Attrs(axis=a.kernel_axis, block_shape=tuple(a.kernel_block_shape))
    return (w * broadcast_param(p, scale.to(device=w.device, dtype=torch.float32), w)).to(dtype)


def output_channel_scale(scale, n):
    """The kernel scale as ``n`` values, one per output channel (float64)."""
    s = scale.to(torch.float64).reshape(-1)
    return s.expand(n) if s.numel() == 1 else s


def quantized_input(a, x, sx):
    """``x`` quantized with the per-tensor scale ``sx`` as ``a.input_type`` (the values of the Q layer)."""
    return quantize_values(x.to(torch.float32) / sx.to(device=x.device, dtype=torch.float32).reshape(()),
                           a.input_type)


def _input_scale(sx, device):
    """The per-tensor input scale as a float64 scalar tensor on ``device``, kept on the device: reading it to the
    host (``float(sx)``) synchronizes the stream, which fails inside a CUDA graph capture and stalls the GPU
    everywhere else."""
    return sx.to(device=device, dtype=torch.float64).reshape(())


def accumulation_dtype(input_type, k):
    """The float type that sums ``k`` products of quantized values exactly (INT8) or as tensor cores do (FP8)."""
    if input_type == DataType.INT8 and k > _F32_EXACT_K:
        return torch.float64
    return torch.float32


def _check(a, ins, kernel_out_axis, where):
    """Shared validation: types, the epilogue, the scales. Returns the kernel spec re-typed as the input."""
    x, w = ins[0], ins[1]
    check_epilogue(a.epilogue, len(ins), where)
    if x.dtype not in _FLOATS:
        raise OpError(f"{where}: input type {x.dtype.name} is not supported; the input is the float tensor before "
                      f"its quantize layer (FLOAT, HALF or BF16)")
    if w.dtype not in KERNEL_TYPES:
        raise OpError(f"{where}: kernel type {w.dtype.name} is not a quantized type "
                      f"({', '.join(t.name for t in KERNEL_TYPES)})")
    if len(ins) < 5 or ins[4] is None:
        raise OpError(f"{where}: the kernel scale (input 4) is missing")
    ks = ins[4]
    if ks.dtype not in _FLOATS:
        raise OpError(f"{where}: kernel scale type {ks.dtype.name} must be FLOAT, HALF or BF16")
    blocked = bool(a.kernel_block_shape)
    if blocked and (len(a.kernel_block_shape) != len(w.shape) or len(ks.shape) != len(w.shape)):
        raise OpError(f"{where}: kernel_block_shape {tuple(a.kernel_block_shape)} and the kernel scale "
                      f"{tuple(ks.shape)} must both have the kernel's rank {len(w.shape)}")
    vol = math.prod(ks.shape) if all(d >= 0 for d in ks.shape) else -1
    if not blocked and vol != 1:
        ax = norm_axis(a.kernel_axis, len(w.shape), "kernel_axis")
        if len(ks.shape) != 1 or (vol >= 0 and w.shape[ax] >= 0 and vol != w.shape[ax]):
            raise OpError(f"{where}: kernel scale of shape {tuple(ks.shape)} does not give one value per element "
                          f"of kernel axis {ax} (kernel shape {tuple(w.shape)})")
    if a.input_type == DataType.FLOAT:
        if len(ins) > 5 and ins[5] is not None:
            raise OpError(f"{where}: an input scale (input 5) with input_type FLOAT; set input_type to the "
                          f"quantized type (INT8 or FP8) or drop the scale for weight-only quantization")
    else:
        if a.input_type not in ACT_KERNEL_TYPES:
            raise OpError(f"{where}: input_type {a.input_type.name} is not supported; use INT8, FP8 or FLOAT "
                          f"(weight-only)")
        if w.dtype not in ACT_KERNEL_TYPES[a.input_type]:
            raise OpError(f"{where}: a {w.dtype.name} kernel does not multiply {a.input_type.name} inputs; use "
                          f"{' or '.join(t.name for t in ACT_KERNEL_TYPES[a.input_type])} kernels")
        if len(ins) < 6 or ins[5] is None or (ins[5].shape is not None and math.prod(ins[5].shape) != 1):
            raise OpError(f"{where}: input_type {a.input_type.name} needs a per-tensor input scale (input 5, "
                          f"one value)")
        if blocked or (vol != 1 and norm_axis(a.kernel_axis, len(w.shape)) != kernel_out_axis % len(w.shape)):
            raise OpError(f"{where}: with quantized inputs the kernel scale must be per tensor or per output "
                          f"channel (kernel axis {kernel_out_axis % len(w.shape)}), not kernel_axis "
                          f"{a.kernel_axis} / blocks {tuple(a.kernel_block_shape)}")
    return Spec(x.dtype, w.shape)


_Q_ATTRS = {"input_type": (DTYPE, DataType.INT8), "kernel_axis": (INT, 0), "kernel_block_shape": (INTS, ()),
            "epilogue": (JSON, list)}
_Q_INPUTS = ("input", "kernel", "bias", "residual", "kernel_scale", "input_scale")


def _bias(ins):
    return ins[2] if len(ins) > 2 and ins[2] is not None else None


@register
class QuantizedConv(_ConvBase):
    """Convolution with a quantized kernel (and input), bias and epilogue; see the module docstring."""

    kind = "quantized_conv"
    layer_type = LayerType.CONVOLUTION
    inputs = _Q_INPUTS
    min_inputs = 2   # present inputs; the kernel scale (index 4, after absent bias / residual) is checked by _check
    weight_inputs = {}
    attrs = dict(_ConvBase.attrs, **_Q_ATTRS)

    def infer(self, a, ins):
        kspec = _check(a, ins, 0, "quantized_conv")
        (out,) = super().infer(a, [ins[0], kspec, _bias(ins)])
        return [Spec(out.dtype, epilogue_shape(out.shape, a.epilogue, ins, "quantized_conv"))]

    def run(self, a, ins, outs):
        x, w, ks = ins[0], ins[1], ins[4]
        conv = get_op(Kind.CONVOLUTION)
        b = _bias(ins)
        if a.input_type == DataType.FLOAT:
            (y,) = conv.run(a, [x, dequantized_kernel(a, w, ks, x.dtype), b], outs)
            return [apply_epilogue(y, a.epilogue, ins)]
        k = (w.shape[1] if w.dim() > 1 else 1) * math.prod(a.kernel_size_nd)
        acc_t = accumulation_dtype(a.input_type, k)
        xq = quantized_input(a, x, ins[5]).to(acc_t)
        (acc,) = conv.run(a, [xq, w.to(device=x.device, dtype=acc_t), None], outs)
        m = output_channel_scale(ks, a.num_output_maps).to(acc.device) * _input_scale(ins[5], acc.device)
        y = acc.to(torch.float64) * m.reshape((1, -1) + (1,) * (acc.dim() - 2))
        if b is not None:
            y = y + b.to(torch.float64).reshape((1, -1) + (1,) * (acc.dim() - 2))
        return [apply_epilogue(y.to(x.dtype), a.epilogue, ins)]


def matmul_output_axis(a, w_rank):
    """The kernel axis that holds the output columns (N) of ``x @ op1(W)``."""
    return w_rank - 2 if a.op1 == MO.TRANSPOSE else w_rank - 1


@register
class QuantizedMatmul(OpDef):
    """Matrix product with a quantized right operand (and left operand), bias and epilogue; see the module
    docstring. The kernel is a matrix (leading dimensions of 1 allowed); ``op1`` NONE or TRANSPOSE."""

    kind = "quantized_matmul"
    layer_type = LayerType.MATRIX_MULTIPLY
    inputs = _Q_INPUTS
    min_inputs = 2   # present inputs; the kernel scale (index 4, after absent bias / residual) is checked by _check
    attrs = {"op0": (Enum(MO), MO.NONE), "op1": (Enum(MO), MO.NONE), **_Q_ATTRS}

    def infer(self, a, ins):
        w = ins[1]
        if a.op0 != MO.NONE or a.op1 not in (MO.NONE, MO.TRANSPOSE):
            raise OpError(f"quantized_matmul: op0 must be NONE and op1 NONE or TRANSPOSE, got {a.op0.name} / "
                          f"{a.op1.name}")
        if w.shape is None or len(w.shape) < 2:
            raise OpError("quantized_matmul: the kernel must be a matrix (rank >= 2)")
        kspec = _check(a, ins, matmul_output_axis(a, len(w.shape)), "quantized_matmul")
        (out,) = get_op(Kind.MATRIX_MULTIPLY).infer(a, [ins[0], kspec])
        shape = out.shape
        b = _bias(ins)
        if b is not None:
            if len(b.shape) != len(shape):
                raise OpError(f"quantized_matmul: bias has rank {len(b.shape)} but the product has rank {len(shape)}")
            shape = broadcast_shapes(shape, b.shape, where=" (quantized_matmul bias)")
        return [Spec(out.dtype, epilogue_shape(shape, a.epilogue, ins, "quantized_matmul"))]

    def run(self, a, ins, outs):
        x, w, ks = ins[0], ins[1], ins[4]
        mm = get_op(Kind.MATRIX_MULTIPLY)
        b = _bias(ins)
        if a.input_type == DataType.FLOAT:
            (y,) = mm.run(a, [x, dequantized_kernel(a, w, ks, x.dtype)], outs)
            if b is not None:
                y = y + b.to(y.dtype)
            return [apply_epilogue(y, a.epilogue, ins)]
        n = w.shape[matmul_output_axis(a, w.dim())]
        k = w.shape[-1] if a.op1 == MO.TRANSPOSE else w.shape[-2]
        acc_t = accumulation_dtype(a.input_type, k)
        xq = quantized_input(a, x, ins[5]).to(acc_t)
        (acc,) = mm.run(a, [xq, w.to(device=x.device, dtype=acc_t)], outs)
        m = output_channel_scale(ks, n).to(acc.device) * _input_scale(ins[5], acc.device)
        y = acc.to(torch.float64) * m
        if b is not None:
            y = y + b.to(torch.float64)
        return [apply_epilogue(y.to(x.dtype), a.epilogue, ins)]
