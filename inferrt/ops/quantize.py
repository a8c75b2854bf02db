"""Quantize / Dequantize (IQuantizeLayer / IDequantizeLayer): per-tensor, per-axis and block scales.

quantize:   q = saturate(round_half_to_even(x / scale) + zero_point)
dequantize: x = (q - zero_point) * scale

The zero-point input (index 2) and UINT8 data are inferrt extensions so ONNX QuantizeLinear / DequantizeLinear,
including asymmetric uint8, map onto these layers.
"""
from __future__ import annotations

import math

import torch

from ..dtypes import FLOAT_TYPES as _FLOATS
from ..enums import DataType, LayerType
from .base import DTYPE, INT, INTS, OpDef, OpError, Spec, norm_axis, register

_QUANT = (DataType.INT8, DataType.UINT8, DataType.FP8)
_RANGE = {DataType.INT8: (-128, 127), DataType.UINT8: (0, 255), DataType.FP8: (-448.0, 448.0)}


def _check_scale(a, x, scale, zp, what):
    """Validate scale / zero-point shapes: scalar, 1-D per-axis, or block (same rank as the data)."""
    if scale.shape is None:
        return
    rank = x.rank
    vol = math.prod(scale.shape) if all(d >= 0 for d in scale.shape) else -1
    if a.block_shape:
        if len(a.block_shape) != rank or len(scale.shape) != rank:
            raise OpError(f"block_shape {tuple(a.block_shape)} and the scale {tuple(scale.shape)} must both have "
                          f"the {what} rank {rank}")
        for i, (n, b, s) in enumerate(zip(x.shape, a.block_shape, scale.shape)):
            if b < 1:
                raise OpError(f"block_shape {tuple(a.block_shape)} must be positive")
            if n >= 0 and s >= 0 and -(-n // b) != s:
                raise OpError(f"scale dim {i} is {s} but {what} dim {n} in blocks of {b} needs {-(-n // b)}")
    elif vol != 1 and not (len(scale.shape) == 0):
        if len(scale.shape) != 1:
            raise OpError(f"scale has shape {tuple(scale.shape)}; use a scalar (per-tensor), a 1-D tensor "
                          f"(per-axis, set axis) or set block_shape for block quantization")
        ax = norm_axis(a.axis, rank, "axis")
        n = x.shape[ax]
        if vol >= 0 and n >= 0 and n != vol:
            raise OpError(f"scale holds {vol} values but {what} axis {ax} has size {n}; set axis to the "
                          f"quantized dimension or give one scale per element of it")
    if zp is not None and zp.shape is not None and scale.shape is not None:
        if tuple(zp.shape) != tuple(scale.shape) and not (math.prod(zp.shape) == 1 and vol == 1):
            raise OpError(f"zero point shape {tuple(zp.shape)} must equal the scale shape {tuple(scale.shape)}")


def broadcast_param(a, p, x):
    """Reshape a scale / zero point so it broadcasts against ``x``."""
    if a.block_shape and p.dim() == x.dim():
        for i, b in enumerate(a.block_shape):
            if b > 1:
                p = p.repeat_interleave(b, dim=i).narrow(i, 0, x.shape[i])
        return p
    if p.numel() == 1:
        return p.reshape(())
    ax = norm_axis(a.axis, x.dim())
    shape = [1] * x.dim()
    shape[ax] = -1
    return p.reshape(shape)


class _QBase(OpDef):
    attrs = {"axis": (INT, 1), "to_type": (DTYPE, DataType.INT8), "block_shape": (INTS, ())}
    inputs = ("input", "scale", "zero_point")
    min_inputs = 2


@register
class Quantize(_QBase):
    kind = "quantize"
    layer_type = LayerType.QUANTIZE

    def infer(self, a, ins):
        x, scale = ins[:2]
        zp = ins[2] if len(ins) > 2 else None
        if x.dtype not in _FLOATS:
            raise OpError(f"input type {x.dtype.name} is not supported; quantize takes FLOAT, HALF or BF16")
        if scale.dtype not in _FLOATS:
            raise OpError(f"scale type {scale.dtype.name} must be FLOAT, HALF or BF16")
        if a.to_type not in _QUANT:
            raise OpError(f"output type {a.to_type.name} is not supported; use INT8, UINT8 or FP8")
        if zp is not None and zp.dtype != a.to_type:
            raise OpError(f"zero point type {zp.dtype.name} must equal the output type {a.to_type.name}")
        if zp is not None and a.to_type == DataType.FP8 and zp.value is not None and zp.value.astype("f4").any():
            raise OpError("an FP8 zero point must be 0")
        _check_scale(a, x, scale, zp, "input")
        return [Spec(a.to_type, tuple(x.shape))]

    def run(self, a, ins, outs):
        x, scale = ins[:2]
        zp = ins[2] if len(ins) > 2 else None
        s = broadcast_param(a, scale.to(device=x.device, dtype=torch.float32), x)
        y = x.to(torch.float32) / s
        lo, hi = _RANGE[a.to_type]
        if a.to_type == DataType.FP8:
            return [y.clamp(lo, hi).to(torch.float8_e4m3fn)]
        y = torch.round(y)  # half to even
        if zp is not None:
            y = y + broadcast_param(a, zp.to(device=x.device, dtype=torch.float32), x)
        return [y.clamp(lo, hi).to(outs[0].dtype)]


@register
class Dequantize(_QBase):
    kind = "dequantize"
    layer_type = LayerType.DEQUANTIZE
    attrs = dict(_QBase.attrs, to_type=(DTYPE, DataType.FLOAT))

    def infer(self, a, ins):
        x, scale = ins[:2]
        zp = ins[2] if len(ins) > 2 else None
        if x.dtype not in _QUANT + (DataType.INT32,):
            raise OpError(f"input type {x.dtype.name} is not supported; dequantize takes INT8, UINT8, INT32 or FP8")
        if scale.dtype not in _FLOATS:
            raise OpError(f"scale type {scale.dtype.name} must be FLOAT, HALF or BF16")
        if a.to_type not in _FLOATS:
            raise OpError(f"output type {a.to_type.name} is not supported; use FLOAT, HALF or BF16")
        if zp is not None and zp.dtype != x.dtype:
            raise OpError(f"zero point type {zp.dtype.name} must equal the input type {x.dtype.name}")
        _check_scale(a, x, scale, zp, "input")
        return [Spec(a.to_type, tuple(x.shape))]

    def run(self, a, ins, outs):
        x, scale = ins[:2]
        zp = ins[2] if len(ins) > 2 else None
        y = x.to(torch.float32)
        if zp is not None:
            y = y - broadcast_param(a, zp.to(device=x.device, dtype=torch.float32), x)
        y = y * broadcast_param(a, scale.to(device=x.device, dtype=torch.float32), x)
        return [y.to(outs[0].dtype)]
