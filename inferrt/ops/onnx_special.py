"""ONNX-only integer and quantization ops, and the data-dependent ops Unique and Compress.

* ``integer_matmul`` (MatMulInteger) and ``integer_conv`` (ConvInteger): exact integer math. Products of 8-bit
  values are summed in float64, which holds every integer below 2**53 exactly, so the result equals an int64
  accumulation on every device (CUDA has no integer GEMM/convolution in PyTorch) before it is stored as INT32.
* ``requantize``: int32 accumulator -> 8-bit, ``round_half_even(acc * a_scale * b_scale / y_scale) + y_zero_point``
  with the multiplier in float32 like onnxruntime (QLinearMatMul, QLinearConv).
* ``onnx_quantize``: QuantizeLinear in the cases TensorRT's quantize layer does not cover (FP8 with saturate=0).
* ``dynamic_quantize_linear``: DynamicQuantizeLinear (uint8, per-tensor, asymmetric).
* ``unique`` and ``compress``: output sizes depend on values (run through the executor's eager path).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..dtypes import torch_dtype
from ..enums import DataType
from .base import BOOL, DTYPE, INT, INTS, STR, OpDef, OpError, Spec, broadcast_shapes, norm_axis, register

INT_RANGE = {DataType.INT8: (-128, 127), DataType.UINT8: (0, 255), DataType.INT32: (-2 ** 31, 2 ** 31 - 1)}


def _f64(t):
    return t.to(torch.float64)


# ----------------------------------------------------------------------------------------------- integer math
def _matmul_shape(a, b):
    if a is None or b is None:
        return None
    if len(a) == 0 or len(b) == 0:
        raise OpError("matrix multiplication needs inputs of rank >= 1")
    a2 = (1,) + tuple(a) if len(a) == 1 else tuple(a)
    b2 = tuple(b) + (1,) if len(b) == 1 else tuple(b)
    if a2[-1] >= 0 and b2[-2] >= 0 and a2[-1] != b2[-2]:
        raise OpError(f"inner dimensions differ: A has shape {tuple(a)} and B has shape {tuple(b)}")
    batch = broadcast_shapes(a2[:-2], b2[:-2], where=" (matmul batch dims)")
    out = batch + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


@register
class IntegerMatMul(OpDef):
    """MatMulInteger: (A - a_zero_point) @ (B - b_zero_point) as INT32; A's zero point may be per row (M,),
    B's per column (N,)."""

    kind = "integer_matmul"
    inputs = ("a", "b", "a_zero_point", "b_zero_point")
    min_inputs = 2

    def infer(self, a, ins):
        for i in range(2):
            if ins[i].dtype not in (DataType.INT8, DataType.UINT8):
                raise OpError(f"input {self.inputs[i]} must be INT8 or UINT8, got {ins[i].dtype.name}")
        return [Spec(DataType.INT32, _matmul_shape(ins[0].shape, ins[1].shape))]

    def run(self, a, ins, outs):
        x, w = _f64(ins[0]), _f64(ins[1])
        if len(ins) > 2 and ins[2] is not None:
            zp = _f64(ins[2])
            x = x - (zp.reshape(-1, 1) if zp.dim() == 1 and x.dim() >= 2 and zp.numel() > 1 else zp)
        if len(ins) > 3 and ins[3] is not None:
            w = w - _f64(ins[3])
        return [torch.matmul(x, w).to(torch.int32)]


def conv_geometry(x_shape, w_shape, strides, pads, dilations, auto_pad, where="conv"):
    """ONNX Conv geometry: (output spatial dims, pads as (begin..., end...)); -1 where a dim is unknown."""
    nsp = len(x_shape) - 2
    if nsp < 1 or len(w_shape) != nsp + 2:
        raise OpError(f"{where}: input rank {len(x_shape)} and weight rank {len(w_shape)} must be equal and >= 3")
    k = tuple(w_shape[2:])
    s = tuple(strides) or (1,) * nsp
    d = tuple(dilations) or (1,) * nsp
    p = tuple(pads) or (0,) * (2 * nsp)
    if len(s) != nsp or len(d) != nsp or len(p) != 2 * nsp:
        raise OpError(f"{where}: strides {s}, dilations {d} and pads {p} do not fit {nsp} spatial dims")
    out, begin, end = [], list(p[:nsp]), list(p[nsp:])
    for i in range(nsp):
        n = x_shape[2 + i]
        eff = d[i] * (k[i] - 1) + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            if n < 0:
                out.append(-1)
                continue
            o = -(-n // s[i])
            total = max(0, (o - 1) * s[i] + eff - n)
            small, big = total // 2, total - total // 2
            begin[i], end[i] = (small, big) if auto_pad == "SAME_UPPER" else (big, small)
            out.append(o)
            continue
        if auto_pad == "VALID":
            begin[i] = end[i] = 0
        if n < 0 or k[i] < 0:
            out.append(-1)
            continue
        o = (n + begin[i] + end[i] - eff) // s[i] + 1
        if o <= 0:
            raise OpError(f"{where}: spatial dim {i} of size {n} with pads ({begin[i]}, {end[i]}) is smaller than "
                          f"the dilated kernel ({eff})")
        out.append(o)
    return tuple(out), tuple(begin) + tuple(end), s, d


@register
class IntegerConv(OpDef):
    """ConvInteger: conv(x - x_zero_point, w - w_zero_point) (+ INT32 bias, for QLinearConv) as INT32; w's zero
    point may be per output channel."""

    kind = "integer_conv"
    attrs = {"strides": (INTS, ()), "pads": (INTS, ()), "dilations": (INTS, ()), "group": (INT, 1),
             "auto_pad": (STR, "NOTSET")}
    inputs = ("x", "w", "x_zero_point", "w_zero_point", "bias")
    min_inputs = 2

    def infer(self, a, ins):
        x, w = ins[0], ins[1]
        bias = ins[4] if len(ins) > 4 else None
        if bias is not None and (bias.dtype != DataType.INT32 or bias.shape is None or len(bias.shape) != 1):
            raise OpError(f"bias must be a 1-D INT32 tensor, got {bias.dtype.name} of shape {bias.shape}")
        for s, nm in ((x, "x"), (w, "w")):
            if s.dtype not in (DataType.INT8, DataType.UINT8):
                raise OpError(f"input {nm} must be INT8 or UINT8, got {s.dtype.name}")
        sp, _, _, _ = conv_geometry(x.shape, w.shape, a.strides, a.pads, a.dilations, a.auto_pad)
        if x.shape[1] >= 0 and w.shape[1] >= 0 and x.shape[1] != w.shape[1] * a.group:
            raise OpError(f"x has {x.shape[1]} channels but w expects {w.shape[1]} x group {a.group}")
        return [Spec(DataType.INT32, (x.shape[0], w.shape[0]) + sp)]

    def run(self, a, ins, outs):
        y = integer_conv(ins[0], ins[1], ins[2] if len(ins) > 2 else None, ins[3] if len(ins) > 3 else None, a)
        if len(ins) > 4 and ins[4] is not None:
            y = y + _f64(ins[4]).reshape((1, -1) + (1,) * (y.dim() - 2))
        return [y.to(torch.int32)]


def integer_conv(x, w, xz, wz, a):
    """float64 convolution of zero-point-shifted integer tensors (exact), pads applied after the shift."""
    _, pads, s, d = conv_geometry(tuple(x.shape), tuple(w.shape), a.strides, a.pads, a.dilations, a.auto_pad)
    x, w = _f64(x), _f64(w)
    if xz is not None:
        x = x - _f64(xz).reshape(())
    if wz is not None:
        wz = _f64(wz)
        w = w - (wz.reshape((-1,) + (1,) * (w.dim() - 1)) if wz.numel() > 1 else wz.reshape(()))
    nsp = x.dim() - 2
    pad = []
    for i in reversed(range(nsp)):
        pad += [pads[i], pads[nsp + i]]
    if any(pad):
        x = F.pad(x, pad)
    conv = (F.conv1d, F.conv2d, F.conv3d)[nsp - 1]
    return conv(x, w, None, s, 0, d, a.group)


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
_FP8_MAX = 448.0
_FP8_TIE = 464.0  # halfway between 448 and the next (absent) E4M3FN value, 480


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
             "bits16": (STR, "")}      # "int16" / "uint16": ONNX 16-bit outputs, held as INT32 with that range
    inputs = ("x", "scale", "zero_point")
    min_inputs = 2

    def infer(self, a, ins):
        if a.to_type not in (DataType.INT8, DataType.UINT8, DataType.FP8) and not (
                a.to_type == DataType.INT32 and a.bits16 in ("int16", "uint16")):
            raise OpError(f"cannot quantize to {a.to_type.name}; use INT8, UINT8, FP8 or INT32 with bits16")
        return [Spec(a.to_type, ins[0].shape)]

    def run(self, a, ins, outs):
        x = ins[0].to(torch.float32)
        shp = tuple(x.shape)
        y = x / scale_for(ins[1].to(torch.float32), shp, a.axis, a.block_size, "QuantizeLinear scale")
        zp = ins[2] if len(ins) > 2 and ins[2] is not None else None
        if a.to_type == DataType.FP8:
            if zp is not None:
                y = y + scale_for(zp.to(torch.float32), shp, a.axis, a.block_size, "zero point")
            if a.saturate:      # ONNX: out-of-range values and infinities become +-448
                y = y.clamp(-_FP8_MAX, _FP8_MAX)
            else:               # ONNX: they become NaN (E4M3FN has no infinity); 464 rounds to 448 (ties to even)
                y = torch.where(torch.isinf(y) | (y.abs() > _FP8_TIE), torch.full_like(y, float("nan")), y)
            return [y.to(torch.float8_e4m3fn)]
        y = torch.round(y.to(torch.float64))
        if zp is not None:
            y = y + scale_for(zp.to(torch.float64), shp, a.axis, a.block_size, "zero point")
        lo, hi = {"int16": (-32768, 32767), "uint16": (0, 65535)}.get(a.bits16) or INT_RANGE[a.to_type]
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


# ----------------------------------------------------------------------------------------------- data-dependent
@register
class Unique(OpDef):
    """ONNX Unique: unique values (or slices along ``axis``), first-occurrence indices, inverse indices, counts."""

    kind = "unique"
    attrs = {"axis": (INT, None), "sorted": (BOOL, True)}
    num_outputs = 4
    data_dependent = True

    def infer(self, a, ins):
        x = ins[0]
        if a.axis is None:
            n = -1 if x.value is None else len(np.unique(x.value))
            return [Spec(x.dtype, (n,)), Spec(DataType.INT64, (n,)),
                    Spec(DataType.INT64, (-1 if x.shape is None or -1 in x.shape else int(np.prod(x.shape)),)),
                    Spec(DataType.INT64, (n,))]
        ax = norm_axis(a.axis, x.rank)
        shape = list(x.shape)
        shape[ax] = -1
        return [Spec(x.dtype, tuple(shape)), Spec(DataType.INT64, (-1,)), Spec(DataType.INT64, (x.shape[ax],)),
                Spec(DataType.INT64, (-1,))]

    def run(self, a, ins, outs):
        x = ins[0]
        if a.axis is None:
            flat = x.reshape(-1)
            keys = flat.reshape(-1, 1)
        else:
            ax = norm_axis(a.axis, x.dim())
            moved = x.movedim(ax, 0)
            keys = moved.reshape(moved.shape[0], -1)
        vals, inverse, counts = torch.unique(keys, sorted=True, return_inverse=True, return_counts=True, dim=0)
        n = vals.shape[0]
        pos = torch.arange(keys.shape[0], device=x.device, dtype=torch.int64)
        first = torch.full((n,), keys.shape[0], dtype=torch.int64, device=x.device).scatter_reduce(
            0, inverse, pos, reduce="amin")
        order = torch.argsort(first) if not a.sorted else torch.arange(n, device=x.device)
        rank = torch.empty_like(order)
        rank[order] = torch.arange(n, device=x.device)
        vals, first, counts, inverse = vals[order], first[order], counts[order], rank[inverse]
        if a.axis is None:
            y = vals.reshape(-1)
        else:
            y = vals.reshape((n,) + tuple(moved.shape[1:])).movedim(0, ax)
        return [y, first, inverse.to(torch.int64), counts.to(torch.int64)]


@register
class Compress(OpDef):
    """ONNX Compress: keep the slices along ``axis`` (or the flattened elements) where ``condition`` is true;
    condition may be shorter than the axis (the rest is dropped)."""

    kind = "compress"
    attrs = {"axis": (INT, None)}
    inputs = ("input", "condition")
    min_inputs = 2
    data_dependent = True

    def infer(self, a, ins):
        x, c = ins
        if c.dtype != DataType.BOOL or c.shape is None or len(c.shape) != 1:
            raise OpError(f"condition must be a 1-D BOOL tensor, got {c.dtype.name} of shape {c.shape}")
        n = -1 if c.value is None else int(np.count_nonzero(c.value))
        if a.axis is None:
            return [Spec(x.dtype, (n,))]
        ax = norm_axis(a.axis, x.rank)
        if c.shape[0] >= 0 and x.shape[ax] >= 0 and c.shape[0] > x.shape[ax]:
            raise OpError(f"condition has {c.shape[0]} entries but axis {ax} has only {x.shape[ax]}")
        shape = list(x.shape)
        shape[ax] = n
        return [Spec(x.dtype, tuple(shape))]

    def run(self, a, ins, outs):
        x, c = ins
        idx = torch.nonzero(c.to(torch.bool)).reshape(-1)
        if a.axis is None:
            return [x.reshape(-1).index_select(0, idx)]
        return [x.index_select(norm_axis(a.axis, x.dim()), idx)]


# ----------------------------------------------------------------------------------------------- linear algebra
@register
class Det(OpDef):
    """Det: determinant of the trailing [M, M] matrices."""

    kind = "det"

    def infer(self, a, ins):
        x = ins[0]
        if x.dtype not in (DataType.FLOAT, DataType.HALF, DataType.BF16):
            raise OpError(f"input must be floating point, got {x.dtype.name}")
        if x.rank < 2 or (x.shape[-1] >= 0 and x.shape[-2] >= 0 and x.shape[-1] != x.shape[-2]):
            raise OpError(f"input must be [..., M, M] square matrices, got shape {x.shape}")
        return [Spec(x.dtype, tuple(x.shape[:-2]))]

    def run(self, a, ins, outs):
        x = ins[0]
        return [torch.linalg.det(x.to(torch.float64 if x.device.type == "cpu" else torch.float32)).to(x.dtype)]


# ----------------------------------------------------------------------------------------------- CumProd, BitCast
@register
class CumProd(OpDef):
    """ONNX CumProd along ``axis`` (the optional input 1 overrides the attribute at run time; ``exclusive``: shifted
    by one, starting at 1; ``reverse``: from the end)."""

    kind = "cumprod"
    attrs = {"axis": (INT, 0), "exclusive": (BOOL, False), "reverse": (BOOL, False)}
    inputs = ("input", "axis")

    def infer(self, a, ins):
        x = ins[0]
        if x.dtype == DataType.BOOL:
            raise OpError("input must be numeric, got BOOL")
        axis_in = ins[1] if len(ins) > 1 else None
        if axis_in is not None and axis_in.value is not None:
            norm_axis(int(np.asarray(axis_in.value).reshape(-1)[0]), x.rank, "CumProd axis")
        elif axis_in is None:
            norm_axis(a.axis, x.rank, "CumProd axis")
        return [Spec(x.dtype, x.shape)]

    def run(self, a, ins, outs):
        x = ins[0]
        axis = int(ins[1].reshape(-1)[0].item()) if len(ins) > 1 and ins[1] is not None else a.axis
        ax = norm_axis(axis, x.dim())
        if a.reverse:
            x = x.flip(ax)
        y = torch.cumprod(x, dim=ax, dtype=x.dtype)
        if a.exclusive:
            first = torch.ones_like(y.narrow(ax, 0, 1))
            y = torch.cat([first, y.narrow(ax, 0, y.shape[ax] - 1)], dim=ax)
        return [y.flip(ax) if a.reverse else y]


_BITCAST_GROUPS = ({DataType.FLOAT, DataType.INT32}, {DataType.HALF, DataType.BF16},
                   {DataType.INT8, DataType.UINT8, DataType.FP8, DataType.BOOL})


@register
class BitCast(OpDef):
    """ONNX BitCast: reinterpret the bits as another type of the same width (same shape)."""

    kind = "bitcast"
    attrs = {"to_type": (DTYPE, DataType.FLOAT)}

    def infer(self, a, ins):
        src = ins[0].dtype
        if not any(src in grp and a.to_type in grp for grp in _BITCAST_GROUPS) or (
                a.to_type == DataType.BOOL and src != DataType.BOOL):
            raise OpError(f"cannot reinterpret {src.name} as {a.to_type.name}: the types must have the same "
                          f"width (FLOAT/INT32, HALF/BF16, INT8/UINT8/FP8, BOOL to 8 bits)")
        return [Spec(a.to_type, ins[0].shape)]

    def foldable(self, a):
        return a.to_type != DataType.FP8

    def run(self, a, ins, outs):
        return [ins[0].contiguous().view(torch_dtype(a.to_type))]


@register
class TensorScatter(OpDef):
    """ONNX TensorScatter (KV-cache update): write ``update`` into a copy of ``past_cache`` along ``axis`` starting at
    ``write_indices[batch]`` (0 when absent), wrapping in ``circular`` mode; out-of-range writes are dropped."""

    kind = "tensor_scatter"
    attrs = {"axis": (INT, -2), "mode": (STR, "linear")}
    inputs = ("past_cache", "update", "write_indices")
    min_inputs = 2

    def infer(self, a, ins):
        past, upd = ins[:2]
        if a.mode not in ("linear", "circular"):
            raise OpError(f"mode {a.mode!r} must be 'linear' or 'circular'")
        ax = norm_axis(a.axis, past.rank, "TensorScatter axis")
        if ax == 0 or upd.rank != past.rank:
            raise OpError(f"axis {a.axis} must not be the batch axis, and update {upd.shape} must have the rank of "
                          f"past_cache {past.shape}")
        for i, (p, u) in enumerate(zip(past.shape, upd.shape)):
            if p >= 0 and u >= 0 and (u > p if i == ax else u != p):
                raise OpError(f"update {upd.shape} does not fit past_cache {past.shape} (dim {i})")
        return [Spec(past.dtype, past.shape)]

    def run(self, a, ins, outs):
        past, upd = ins[:2]
        wi = ins[2] if len(ins) > 2 else None
        ax = norm_axis(a.axis, past.dim())
        n_max, seq = past.shape[ax], upd.shape[ax]
        start = torch.zeros(past.shape[0], dtype=torch.int64, device=past.device) if wi is None else wi.to(torch.int64)
        pos = start[:, None] + torch.arange(seq, device=past.device)[None]                     # [batch, seq]
        pos = pos % n_max if a.mode == "circular" else torch.where((pos >= 0) & (pos < n_max), pos, n_max)
        shape = [1] * past.dim()
        shape[0], shape[ax] = pos.shape[0], seq
        idx = pos.reshape(shape).expand(upd.shape)
        pad = list(past.shape)
        pad[ax] = 1                                                # a spare slot that takes the dropped writes
        out = torch.cat([past, torch.zeros(pad, dtype=past.dtype, device=past.device)], dim=ax)
        out.scatter_(ax, idx, upd.to(past.dtype))
        return [out.narrow(ax, 0, n_max)]
