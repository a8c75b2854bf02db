"""Data-movement layers: Constant, Identity, Cast, Shape, Shuffle, Concatenation, Slice, and the ONNX-only
``bitcast`` (BitCast: reinterpret the bytes as another dtype of the same width group)."""
from __future__ import annotations

import numpy as np
import torch

from ..dtypes import LOW_BIT, array_dtype, array_numel, float8_e8m0, storage_tensor, torch_dtype
from ..enums import DataType, LayerType, SampleMode
from .base import ARRAY, BOOL, DTYPE, INT, INTS, Choice, Enum, OpDef, OpError, Spec, norm_axis, register, value_of
from .cast_values import to_low_bit


_NUMPY_TYPES = (DataType.FLOAT, DataType.HALF, DataType.INT8, DataType.UINT8, DataType.INT32, DataType.INT64,
                DataType.BOOL)


@register
class Constant(OpDef):
    """IConstantLayer. Weights are numpy arrays, ml_dtypes arrays for the types numpy lacks (BF16, FP8, INT4, FP4...:
    the array's type is the constant's DataType), or torch tensors (as a plan gives back BF16 / FP8 weights)."""

    kind = "constant"
    layer_type = LayerType.CONSTANT
    attrs = {"weights": (ARRAY, None), "shape": (INTS, ())}
    inputs = ()
    min_inputs = 0

    def infer(self, a, ins):
        w = a.weights
        if w is None:
            raise OpError("constant has no weights")
        shape = tuple(a.shape)
        n = array_numel(w)
        if int(np.prod(shape)) != n:
            raise OpError(f"weights hold {n} values but shape {shape} needs {int(np.prod(shape))}")
        dt = array_dtype(w)
        # a value for constant folding only where numpy holds the type itself (ml_dtypes / torch weights: none)
        known = isinstance(w, np.ndarray) and dt in _NUMPY_TYPES and n <= 1 << 16
        return [Spec(dt, shape, w.reshape(shape) if known else None)]

    def run(self, a, ins, outs):
        return [storage_tensor(a.weights).reshape(tuple(a.shape))]


@register
class Identity(OpDef):
    kind = "identity"
    layer_type = LayerType.IDENTITY
    pointwise = True

    def infer(self, a, ins):
        return [Spec(ins[0].dtype, ins[0].shape)]

    def run(self, a, ins, outs):
        return [ins[0]]


@register
class Cast(OpDef):
    """ICastLayer. Writing a low-bit type rounds and saturates as ONNX's Cast does (``cast_values.py``):
    ``saturate`` (FP8 / FP8_E5M2 / E8M0; ONNX's attribute, default on) and ``round_mode`` (E8M0: up, down,
    nearest) are inferrt's additions for ONNX."""

    kind = "cast"
    layer_type = LayerType.CAST
    attrs = {"to_type": (DTYPE, DataType.FLOAT), "saturate": (BOOL, True),
             "round_mode": (Choice("up", "down", "nearest"), "up")}
    pointwise = True

    def infer(self, a, ins):
        return [Spec(a.to_type, ins[0].shape)]

    def run(self, a, ins, outs):
        x = ins[0]
        if a.to_type in LOW_BIT:
            return [to_low_bit(x, a.to_type, a.get("saturate", True), a.get("round_mode", "up"))]
        if x.dtype in (torch.float8_e4m3fn, torch.float8_e5m2, float8_e8m0()):
            x = x.to(torch.float32)  # exact; torch converts these to few types directly
        dt = torch_dtype(a.to_type)
        out = outs[0] if outs else None
        if out is not None and out.dtype == dt and out.shape == x.shape and (
                dt.is_floating_point or not x.is_floating_point()) and out.device == x.device:
            out.copy_(x)  # one pass converting type (and layout, for channels-last slots) into the slot
            return None
        if x.is_floating_point() and not (dt.is_floating_point or dt == torch.bool):
            x = torch.trunc(x)
            if dt == torch.uint8 or dt == torch.int8:  # saturate like a C cast through int64 would not
                x = x.to(torch.int64)
        return [x.to(dt)]


@register
class Shape(OpDef):
    kind = "shape"
    layer_type = LayerType.SHAPE

    def infer(self, a, ins):
        x = ins[0]
        if x.shape is None:
            raise OpError("input rank must be known")
        val = np.array(x.shape, dtype=np.int64) if all(d >= 0 for d in x.shape) else None
        return [Spec(DataType.INT64, (len(x.shape),), val)]

    def run(self, a, ins, outs):
        return [torch.tensor(tuple(ins[0].shape), dtype=torch.int64)]


def reshape_target(in_shape, dims, zero_is_placeholder=True, where="reshape_dims"):
    """Resolve 0 (copy) and -1 (infer) in a reshape target; -1 stays when it cannot be resolved."""
    dims = [int(d) for d in dims]
    if dims.count(-1) > 1:
        raise OpError(f"{where} {tuple(dims)} holds -1 (infer) more than once")
    out = []
    for i, d in enumerate(dims):
        if d == 0 and zero_is_placeholder:
            if in_shape is None or i >= len(in_shape):
                raise OpError(f"{where} {tuple(dims)} copies dimension {i} (0) but the input has rank "
                              f"{None if in_shape is None else len(in_shape)}")
            out.append(in_shape[i])
        elif d < -1:
            raise OpError(f"{where} {tuple(dims)} holds {d}; only -1 (infer) and 0 (copy) are special")
        else:
            out.append(d)
    if out.count(-1) > (1 if -1 in dims else 0):
        if -1 in dims and in_shape is not None and zero_is_placeholder:
            # the unknown input dims are all copied by 0 placeholders: they cancel, so -1 is still determined
            # ((0, -1) of (-1, 8, 14, 14) is (-1, 1568))
            k = dims.index(-1)
            copied = {i for i, d in enumerate(dims) if d == 0}
            if all(d >= 0 or i in copied for i, d in enumerate(in_shape)):
                rest_in = int(np.prod([d for i, d in enumerate(in_shape) if i not in copied]))
                rest_out = int(np.prod([d for i, d in enumerate(out) if i != k and i not in copied]))
                if rest_out and rest_in % rest_out:
                    raise OpError(f"cannot reshape {tuple(in_shape)} into {tuple(dims)}")
                if rest_out:
                    out[k] = rest_in // rest_out
        return tuple(out)
    if -1 in dims:
        k = dims.index(-1)
        known = int(np.prod([d for j, d in enumerate(out) if j != k]))
        if in_shape is not None and all(d >= 0 for d in in_shape):
            total = int(np.prod(in_shape))
            if known == 0 or total % known:
                raise OpError(f"cannot reshape {tuple(in_shape)} into {tuple(dims)}")
            out[k] = total // known
    elif in_shape is not None and all(d >= 0 for d in in_shape) and all(d >= 0 for d in out):
        if int(np.prod(in_shape)) != int(np.prod(out)):
            raise OpError(f"cannot reshape {tuple(in_shape)} ({int(np.prod(in_shape))} values) into "
                          f"{tuple(out)} ({int(np.prod(out))} values)")
    return tuple(out)


def _check_perm(perm, rank, what):
    if sorted(perm) != list(range(rank)):
        raise OpError(f"{what} {tuple(perm)} is not a permutation of {rank} axes")


@register
class Shuffle(OpDef):
    kind = "shuffle"
    layer_type = LayerType.SHUFFLE
    attrs = {"first_transpose": (INTS, ()), "reshape_dims": (INTS, None), "second_transpose": (INTS, ()),
             "zero_is_placeholder": (BOOL, True)}
    inputs = ("input", "reshape_dims")

    def infer(self, a, ins):
        x = ins[0]
        shape = x.shape
        if shape is None:
            raise OpError("input rank must be known")
        if a.first_transpose:
            _check_perm(a.first_transpose, len(shape), "first_transpose")
            shape = tuple(shape[p] for p in a.first_transpose)
        dyn = ins[1] if len(ins) > 1 else None
        if dyn is not None:
            if dyn.shape is None or len(dyn.shape) != 1 or dyn.shape[0] < 0:
                raise OpError("the reshape-dims input must be a 1-D tensor of known length")
            if dyn.dtype not in (DataType.INT32, DataType.INT64):
                raise OpError(f"the reshape-dims input must be INT32 or INT64, got {dyn.dtype.name}")
            if dyn.value is not None:
                shape = reshape_target(shape, dyn.value, a.zero_is_placeholder)
            else:
                shape = (-1,) * dyn.shape[0]
        elif a.reshape_dims is not None:
            shape = reshape_target(shape, a.reshape_dims, a.zero_is_placeholder)
        if a.second_transpose:
            _check_perm(a.second_transpose, len(shape), "second_transpose")
            shape = tuple(shape[p] for p in a.second_transpose)
        return [Spec(x.dtype, shape)]

    def run(self, a, ins, outs):
        x = ins[0]
        first, second = a.first_transpose, a.second_transpose
        if first:
            x = x.permute(*first)
        if len(ins) > 1 and ins[1] is not None or a.reshape_dims is not None:
            shp = outs[0].shape
            if second:
                inv = np.argsort(second)
                shp = tuple(shp[i] for i in inv)
            x = x.reshape(shp)
        if second:
            x = x.permute(*second)
        return [x]


@register
class Concatenation(OpDef):
    kind = "concatenation"
    layer_type = LayerType.CONCATENATION
    attrs = {"axis": (INT, None)}
    inputs = ("inputs",)

    def _axis(self, a, rank):
        axis = a.axis if a.axis is not None else (max(rank - 3, 0))
        return norm_axis(axis, rank)

    def infer(self, a, ins):
        if not ins or any(i is None for i in ins):
            raise OpError("needs at least one input")
        rank = ins[0].rank
        ax = self._axis(a, rank)
        total = 0
        for i, s in enumerate(ins):
            if s.dtype != ins[0].dtype:
                raise OpError(f"input {i} has type {s.dtype.name} but input 0 has {ins[0].dtype.name}")
            if s.rank != rank:
                raise OpError(f"input {i} has rank {s.rank} but input 0 has rank {rank}")
            for d in range(rank):
                if d != ax and s.shape[d] >= 0 and ins[0].shape[d] >= 0 and s.shape[d] != ins[0].shape[d]:
                    raise OpError(f"input {i} has shape {s.shape}, which differs from input 0's {ins[0].shape} "
                                  f"outside the concatenation axis {ax}")
            total = -1 if total < 0 or s.shape[ax] < 0 else total + s.shape[ax]
        shape = list(ins[0].shape)
        for d in range(rank):
            if d != ax and shape[d] < 0:
                shape[d] = max(s.shape[d] for s in ins)
        shape[ax] = total
        return [Spec(ins[0].dtype, tuple(shape))]

    def run(self, a, ins, outs):
        ax = self._axis(a, ins[0].dim())
        torch.cat(list(ins), ax, out=outs[0])


def slice_indices(n, start, size, stride, mode, device):
    idx = start + torch.arange(size, device=device, dtype=torch.int64) * stride
    if mode == SampleMode.WRAP:
        return idx % n if n else idx, None
    if mode == SampleMode.CLAMP:
        return idx.clamp(0, max(n - 1, 0)), None
    if mode == SampleMode.REFLECT:
        if n == 1:
            return torch.zeros_like(idx), None
        period = 2 * (n - 1)
        m = idx.abs() % period
        return torch.where(m >= n, period - m, m), None
    if mode == SampleMode.FILL:
        valid = (idx >= 0) & (idx < n)
        return idx.clamp(0, max(n - 1, 0)), valid
    return idx, None


@register
class Slice(OpDef):
    kind = "slice"
    host_inputs = (1, 2, 3, 5)
    layer_type = LayerType.SLICE
    attrs = {"start": (INTS, ()), "shape": (INTS, ()), "stride": (INTS, ()),
             "mode": (Enum(SampleMode), SampleMode.STRICT_BOUNDS), "axes": (INTS, ())}
    inputs = ("input", "start", "size", "stride", "fill_value", "axes")

    def _params(self, a, ins, rank):
        def pick(i, attr, what):
            t = ins[i] if len(ins) > i else None
            return tuple(int(v) for v in value_of(t, what)) if t is not None else tuple(getattr(a, attr))

        axes = pick(5, "axes", "slice axes")
        axes = [norm_axis(x, rank, "slice axis") for x in axes] if axes else list(range(rank))
        start, size, stride = pick(1, "start", "slice start"), pick(2, "shape", "slice size"), pick(3, "stride", "slice stride")
        n = len(axes)
        if not stride:
            stride = (1,) * n
        if len(start) != n or len(size) != n or len(stride) != n:
            raise OpError(f"start {start}, shape {size} and stride {stride} must each have {n} values")
        return axes, start, size, stride

    def infer(self, a, ins):
        x = ins[0]
        if x.shape is None:
            raise OpError("input rank must be known")
        rank = len(x.shape)
        unknown = [i for i in (1, 2, 3, 5) if len(ins) > i and ins[i] is not None and ins[i].value is None]
        if unknown:
            if 2 in unknown or 5 in unknown:
                return [Spec(x.dtype, (-1,) * rank)]
            size = tuple(int(v) for v in ins[2].value) if len(ins) > 2 and ins[2] is not None else tuple(a.shape)
            axes = [norm_axis(v, rank) for v in a.axes] if a.axes else list(range(rank))
            shape = list(x.shape)
            for ax, sz in zip(axes, size):
                shape[ax] = sz
            return [Spec(x.dtype, tuple(shape))]
        axes, start, size, stride = self._params(a, ins, rank)
        shape = list(x.shape)
        for ax, st, sz, sd in zip(axes, start, size, stride):
            if sz < 0:
                raise OpError(f"slice size {sz} on axis {ax} is negative")
            n = x.shape[ax]
            if a.mode == SampleMode.STRICT_BOUNDS and n >= 0 and sz > 0:
                last = st + (sz - 1) * sd
                if not (0 <= st < n and 0 <= last < n):
                    raise OpError(f"slice on axis {ax} reads indices {st}..{last} outside 0..{n - 1}; "
                                  f"use SampleMode.CLAMP/FILL/WRAP or fix start/shape/stride")
            shape[ax] = sz
        return [Spec(x.dtype, tuple(shape))]

    def run(self, a, ins, outs):
        x = ins[0]
        # only the index inputs are read on the host (CPU copies when shapes are planned: see host_inputs)
        axes, start, size, stride = self._params(
            a, [None if t is None or i not in self.host_inputs else _HostSpec(t) for i, t in enumerate(ins)],
            x.dim())
        fill = ins[4] if len(ins) > 4 and ins[4] is not None else None
        mask = None
        for ax, st, sz, sd in zip(axes, start, size, stride):
            n = x.shape[ax]
            if a.mode == SampleMode.STRICT_BOUNDS and sd > 0:
                x = x.narrow(ax, st, (sz - 1) * sd + 1 if sz else 0)[(slice(None),) * ax + (slice(None, None, sd),)]
                continue
            if sd == 0 and sz > 0 and 0 <= st < n:  # broadcast of one position (an Expand): a view
                x = x.narrow(ax, st, 1).expand(*x.shape[:ax], sz, *x.shape[ax + 1:])
                continue
            idx, valid = slice_indices(n, st, sz, sd, a.mode, x.device)
            x = x.index_select(ax, idx)
            if valid is not None:
                shape = [1] * x.dim()
                shape[ax] = sz
                v = valid.view(shape)
                mask = v if mask is None else (mask & v)
        if mask is not None:
            fv = fill.reshape(()).to(x.dtype) if fill is not None else torch.zeros((), dtype=x.dtype, device=x.device)
            x = torch.where(mask, x, fv)
        return [x]


class _HostSpec:
    """Adapter so ``_params`` can read run-time index tensors like specs with known values."""

    def __init__(self, t):
        self.value = t.detach().cpu().numpy() if hasattr(t, "detach") else t


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
