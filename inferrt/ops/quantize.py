"""Quantization: Quantize / Dequantize (IQuantizeLayer / IDequantizeLayer: per-tensor, per-axis and block scales)
and the ONNX-only ``requantize``, ``onnx_quantize`` and ``dynamic_quantize_linear``.

quantize:   q = saturate(round_half_to_even(x / scale) + zero_point)
dequantize: x = (q - zero_point) * scale

The zero-point input (index 2) and UINT8, UINT4 and FP8_E5M2 data are inferrt extensions so ONNX QuantizeLinear /
DequantizeLinear, including asymmetric uint8, map onto these layers. INT4 / UINT4 / FP4 tensors are held unpacked
(see dtypes.py); the quantized values are written by ``quantize_values``.

* ``requantize``: int32 accumulator -> 8-bit, ``round_half_even(acc * a_scale * b_scale / y_scale) + y_zero_point``
  with the multiplier in float32 like onnxruntime (QLinearMatMul, QLinearConv).
* ``onnx_quantize``: QuantizeLinear in the cases TensorRT's quantize layer does not cover (FP8 / FP8_E5M2 with
  saturate=0, 16-bit integers).
* ``dynamic_quantize_linear``: DynamicQuantizeLinear (uint8, per-tensor, asymmetric).
"""
from __future__ import annotations

import math

import torch

from ..dtypes import FLOAT_TYPES as _FLOATS, torch_dtype
from ..enums import DataType, LayerType
from .base import BOOL, DTYPE, INT, INTS, Choice, OpDef, OpError, Spec, norm_axis, register
from .cast_values import to_low_bit

#: quantized types: integers rounded half to even and clamped to their range, floats rounded and saturated by
#: cast_values.to_low_bit (E8M0 is a scale type, not a quantized one)
_INT_Q = {DataType.INT8: (-128, 127), DataType.UINT8: (0, 255), DataType.INT4: (-8, 7), DataType.UINT4: (0, 15)}
_FLOAT_Q = (DataType.FP8, DataType.FP8_E5M2, DataType.FP4)
_QUANT = (*_INT_Q, *_FLOAT_Q)
_QUANT_NAMES = "INT8, UINT8, INT4, UINT4, FP8, FP8_E5M2 or FP4"
#: scale types: the float types, and E8M0 (powers of two: the block scales of the MX formats, MXFP8 / MXFP4)
_SCALES = (*_FLOATS, DataType.E8M0)


def quantize_values(y, to_type: DataType, zp=None, saturate: bool = True):
    """``y`` (x / scale, float32) as ``to_type``: integers round half to even, add the zero point and clamp; floats
    (FP8, FP8_E5M2, FP4) round to nearest even and saturate (or not: ONNX's saturate=0 for FP8 types). A zero point
    of a float type is added before rounding, as onnx's reference does for FP4."""
    if to_type in _FLOAT_Q:
        if zp is not None:
            y = y + zp
        return to_low_bit(y, to_type, saturate)
    y = torch.round(y)  # half to even
    if zp is not None:
        y = y + zp
    lo, hi = _INT_Q[to_type]
    return y.clamp(lo, hi).to(torch_dtype(to_type))


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
        if scale.dtype not in _SCALES:
            raise OpError(f"scale type {scale.dtype.name} must be FLOAT, HALF, BF16 or E8M0")
        if a.to_type not in _QUANT:
            raise OpError(f"output type {a.to_type.name} is not supported; use {_QUANT_NAMES}")
        if zp is not None and zp.dtype != a.to_type:
            raise OpError(f"zero point type {zp.dtype.name} must equal the output type {a.to_type.name}")
        if zp is not None and a.to_type in (DataType.FP8, DataType.FP8_E5M2) and zp.value is not None and \
                zp.value.astype("f4").any():
            raise OpError(f"an {a.to_type.name} zero point must be 0")
        _check_scale(a, x, scale, zp, "input")
        return [Spec(a.to_type, tuple(x.shape))]

    def run(self, a, ins, outs):
        x, scale = ins[:2]
        zp = ins[2] if len(ins) > 2 else None
        s = broadcast_param(a, scale.to(device=x.device, dtype=torch.float32), x)
        y = x.to(torch.float32) / s
        if zp is not None:
            zp = broadcast_param(a, zp.to(device=x.device, dtype=torch.float32), x)
        return [quantize_values(y, a.to_type, zp)]


@register
class Dequantize(_QBase):
    kind = "dequantize"
    layer_type = LayerType.DEQUANTIZE
    attrs = dict(_QBase.attrs, to_type=(DTYPE, DataType.FLOAT))

    def infer(self, a, ins):
        x, scale = ins[:2]
        zp = ins[2] if len(ins) > 2 else None
        if x.dtype not in _QUANT + (DataType.INT32,):
            raise OpError(f"input type {x.dtype.name} is not supported; dequantize takes {_QUANT_NAMES} or INT32")
        if scale.dtype not in _SCALES:
            raise OpError(f"scale type {scale.dtype.name} must be FLOAT, HALF, BF16 or E8M0")
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


INT_RANGE = {DataType.INT8: (-128, 127), DataType.UINT8: (0, 255), DataType.INT32: (-2 ** 31, 2 ** 31 - 1)}


@register
class Requantize(OpDef):
    """int32 accumulator -> INT8/UINT8: saturate(round_half_even(float(acc) * (a_scale * b_scale / y_scale)) + zp).
    ``b_scale`` may be per channel along ``axis`` of the accumulator, ``a_scale`` along ``a_axis``."""

    kind = "requantize"
    attrs = {"axis": (INT, 1), "a_axis": (INT, -2), "to_type": (DTYPE, DataType.UINT8)}
    inputs = ("input", "a_scale", "b_scale", "y_scale", "y_zero_point")
    min_inputs = 4

    def infer(self, a, ins):
        if a.to_type not in (DataType.INT8, DataType.UINT8):
            raise OpError(f"to_type must be INT8 or UINT8, got {a.to_type.name}")
        return [Spec(a.to_type, ins[0].shape)]

    def run(self, a, ins, outs):
        acc = ins[0].to(torch.float32)

        def along(t, axis):
            t = t.to(torch.float32)
            if t.numel() == 1:
                return t.reshape(())
            shape = [1] * acc.dim()
            shape[norm_axis(axis, acc.dim())] = t.numel()
            return t.reshape(shape)

        m = along(ins[1], a.a_axis) * along(ins[2], a.axis) / ins[3].to(torch.float32).reshape(())
        y = torch.round(acc * m)
        if len(ins) > 4 and ins[4] is not None:
            y = y + ins[4].to(torch.float32).reshape(())
        lo, hi = INT_RANGE[a.to_type]
        return [y.clamp(lo, hi).to(torch_dtype(a.to_type))]


# ----------------------------------------------------------------------------------------------- Q / DQ

def scale_for(scale, x_shape, axis, block_size, where):
    """Broadcast a per-tensor, per-axis or blocked scale/zero-point tensor onto ``x_shape``."""
    rank = len(x_shape)
    if scale.dim() == 0 or scale.numel() == 1 and block_size == 0:
        return scale.reshape(())
    ax = norm_axis(axis, rank, f"{where} axis")
    if block_size > 0:
        if scale.dim() != rank:
            raise OpError(f"{where}: blocked scale must have the rank of the input ({rank}), got {tuple(scale.shape)}")
        rep = scale.repeat_interleave(block_size, dim=ax)
        return rep.narrow(ax, 0, x_shape[ax])
    if scale.dim() != 1 or scale.shape[0] != x_shape[ax]:
        raise OpError(f"{where}: per-axis scale of shape {tuple(scale.shape)} does not match input dim {ax} "
                      f"({x_shape[ax]}); give one value per channel along 'axis'")
    shape = [1] * rank
    shape[ax] = -1
    return scale.reshape(shape)


@register
class OnnxQuantize(OpDef):
    """QuantizeLinear: saturate(round_half_even(x / scale) + zero_point), per tensor, per axis or blocked."""

    kind = "onnx_quantize"
    attrs = {"axis": (INT, 1), "block_size": (INT, 0), "to_type": (DTYPE, DataType.UINT8), "saturate": (BOOL, True),
             "bits16": (Choice("", "int16", "uint16"), "")}  # 16-bit ONNX outputs, held as INT32 with that range
    inputs = ("x", "scale", "zero_point")
    min_inputs = 2

    def infer(self, a, ins):
        if a.to_type not in _QUANT and not (a.to_type == DataType.INT32 and a.bits16 in ("int16", "uint16")):
            raise OpError(f"cannot quantize to {a.to_type.name}; use {_QUANT_NAMES}, or INT32 with bits16")
        return [Spec(a.to_type, ins[0].shape)]

    def run(self, a, ins, outs):
        x = ins[0].to(torch.float32)
        shp = tuple(x.shape)
        y = x / scale_for(ins[1].to(torch.float32), shp, a.axis, a.block_size, "QuantizeLinear scale")
        zp = ins[2] if len(ins) > 2 and ins[2] is not None else None
        if a.to_type in _QUANT:
            if zp is not None:
                zp = scale_for(zp.to(torch.float32), shp, a.axis, a.block_size, "zero point")
            return [quantize_values(y, a.to_type, zp, a.saturate)]
        y = torch.round(y.to(torch.float64))
        if zp is not None:
            y = y + scale_for(zp.to(torch.float64), shp, a.axis, a.block_size, "zero point")
        lo, hi = {"int16": (-32768, 32767), "uint16": (0, 65535)}[a.bits16]
        return [y.clamp(lo, hi).to(torch_dtype(a.to_type))]


@register
class DynamicQuantizeLinear(OpDef):
    """DynamicQuantizeLinear: uint8 output, float scale and uint8 zero point computed from the data range
    (which always includes 0)."""

    kind = "dynamic_quantize_linear"
    num_outputs = 3

    def infer(self, a, ins):
        if ins[0].dtype != DataType.FLOAT:
            raise OpError(f"input must be FLOAT, got {ins[0].dtype.name}")
        return [Spec(DataType.UINT8, ins[0].shape), Spec(DataType.FLOAT, ()), Spec(DataType.UINT8, ())]

    def run(self, a, ins, outs):
        x = ins[0].to(torch.float32)
        zero = torch.zeros((), dtype=torch.float32, device=x.device)
        lo = torch.minimum(x.min(), zero) if x.numel() else zero
        hi = torch.maximum(x.max(), zero) if x.numel() else zero
        scale = torch.where(hi == lo, torch.ones_like(hi), (hi - lo) / torch.full_like(hi, 255.0))  # exact on CUDA too
        zp = torch.round((0 - lo) / scale).clamp(0, 255)
        y = (torch.round(x / scale) + zp).clamp(0, 255)
        return [y.to(torch.uint8), scale, zp.to(torch.uint8)]
