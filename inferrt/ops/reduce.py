"""Reductions: Reduce (SUM, PROD, MAX, MIN, AVG over an axes bitmask), SoftMax, LogSoftmax, and the ONNX-only
reductions.

* ``onnx_arg_reduce`` (op = MAX | MIN, axis, keep_dims, select_last_index): INT64 index of the first (or last)
  extreme value along ``axis``.
* ``onnx_hardmax`` (axis): 1 at the first maximum along ``axis``, 0 elsewhere.
* ``onnx_reduce``: ONNX's reductions (L1, L2, LOG_SUM, LOG_SUM_EXP, SUM_SQUARE besides TensorRT's), axes given as
  a list or as a runtime tensor, ``noop_with_empty_axes``.
"""
from __future__ import annotations

import functools

import torch

from ..dtypes import FLOAT_TYPES as _FLOATS
from ..enums import DataType, LayerType, ReduceOperation as R
from .base import BOOL, INT, INTS, Choice, Enum, OpDef, OpError, Spec, axes_from_mask, norm_axis, register, spec_like
from .normalization import mask_axes


def reduce_tensor(op, x, axes, keep):
    if not axes:
        return x.clone() if op != R.AVG else x
    if op == R.SUM:
        return torch.sum(x, dim=axes, keepdim=keep) if x.numel() or True else x
    if op == R.AVG:
        return torch.mean(x, dim=axes, keepdim=keep)
    if op == R.PROD:
        for ax in sorted(axes, reverse=True):
            x = torch.prod(x, dim=ax, keepdim=keep)
        return x
    f = torch.amax if op == R.MAX else torch.amin
    return f(x, dim=axes, keepdim=keep)


@register
class Reduce(OpDef):
    kind = "reduce"
    layer_type = LayerType.REDUCE
    attrs = {"op": (Enum(R), R.SUM), "axes": (INT, 0), "keep_dims": (BOOL, False)}

    def infer(self, a, ins):
        x = ins[0]
        rank = x.rank
        if a.axes < 0 or a.axes >> rank:
            raise OpError(f"axes bitmask {a.axes:#b} names axes outside a tensor of rank {rank}")
        axes = axes_from_mask(a.axes, rank)
        if a.op == R.NONE:
            raise OpError("ReduceOperation.NONE is not a reduction; use SUM, PROD, MAX, MIN or AVG")
        if x.dtype == DataType.BOOL:
            raise OpError("BOOL inputs cannot be reduced; cast to INT32 first")
        if a.op == R.AVG and x.dtype not in _FLOATS:
            raise OpError(f"AVG needs a floating-point input, got {x.dtype.name}")
        shape = [(1 if i in axes else d) for i, d in enumerate(x.shape)] if a.keep_dims else \
            [d for i, d in enumerate(x.shape) if i not in axes]
        for ax in axes:
            if x.shape[ax] == 0 and a.op in (R.MAX, R.MIN):
                raise OpError(f"cannot take {a.op.name} over the empty axis {ax}")
        return [Spec(x.dtype, tuple(shape))]

    def run(self, a, ins, outs):
        axes = axes_from_mask(a.axes, ins[0].dim())
        return [reduce_tensor(a.op, ins[0], axes, a.keep_dims)]


@register
class SoftMax(OpDef):
    kind = "softmax"
    layer_type = LayerType.SOFTMAX
    attrs = {"axes": (INT, None)}

    def _axis(self, a, rank):
        return softmax_axis(a.axes, rank)

    def infer(self, a, ins):
        x = ins[0]
        if x.dtype not in _FLOATS:
            raise OpError(f"softmax needs a floating-point input, got {x.dtype.name}")
        self._axis(a, x.rank)
        return [Spec(x.dtype, x.shape)]

    def run(self, a, ins, outs):
        x = ins[0]
        ax = softmax_axis(a.axes, x.dim())
        return [torch.softmax(x, ax, dtype=torch.float32).to(x.dtype) if x.dtype != torch.float32
                else torch.softmax(x, ax)]


@functools.lru_cache(maxsize=256)
def softmax_axis(axes: int | None, rank: int) -> int:
    """SoftMax's axis for the ``axes`` bitmask (one bit; None: TensorRT's default) at ``rank``, computed once per
    pair (it depends on nothing else; run time reads it every execution). OpError for a bitmask that names no
    single axis of that rank (not cached: raised again each time)."""
    if axes is None:
        return max(rank - 3, 0)
    found = axes_from_mask(axes, rank)
    if len(found) != 1 or axes >> rank:
        raise OpError(f"axes bitmask {axes:#b} must name exactly one axis of a rank-{rank} tensor")
    return found[0]


@register
class LogSoftmax(OpDef):
    """log(softmax(x)) over one axis (bitmask with one bit, as SoftMax)."""

    kind = "log_softmax"
    layer_type = LayerType.SOFTMAX
    attrs = {"axes": (INT, 1)}

    def infer(self, a, ins):
        x = ins[0]
        if x.dtype not in _FLOATS:
            raise OpError(f"log_softmax needs a floating-point input, got {x.dtype.name}")
        if len(mask_axes(a, x.rank, self.kind)) != 1:
            raise OpError(f"log_softmax: axes bitmask {a.axes:#b} must name exactly one axis")
        return [Spec(x.dtype, x.shape)]

    def run(self, a, ins, outs):
        x = ins[0]
        ax = axes_from_mask(a.axes, x.dim())[0]
        if x.dtype != torch.float32:
            return [torch.log_softmax(x.float(), ax).to(x.dtype)]
        return [torch.log_softmax(x, ax)]


def _reduced_shape(shape, ax, keep):
    return tuple((1 if i == ax else d) for i, d in enumerate(shape)) if keep else \
        tuple(d for i, d in enumerate(shape) if i != ax)


@register
class OnnxArgReduce(OpDef):
    kind = "onnx_arg_reduce"
    layer_type = LayerType.GENERIC_OP
    attrs = {"op": (Choice("MAX", "MIN"), "MAX"), "axis": (INT, 0), "keep_dims": (BOOL, True),
             "select_last_index": (BOOL, False)}

    def infer(self, a, ins):
        x = ins[0]
        if a.op not in ("MAX", "MIN"):
            raise OpError(f"op must be MAX or MIN, got {a.op!r}")
        if x.dtype == DataType.BOOL:
            raise OpError("BOOL inputs are not accepted; cast to INT32 first")
        rank = x.rank
        ax = norm_axis(a.axis, rank)
        if rank and x.shape[ax] == 0:
            raise OpError(f"cannot take arg{a.op.lower()} over the empty axis {ax}")
        return [Spec(DataType.INT64, _reduced_shape(x.shape, ax, a.keep_dims))]

    def run(self, a, ins, outs):
        x = ins[0]
        if x.dim() == 0:
            return [torch.zeros((), dtype=torch.int64)]
        ax = norm_axis(a.axis, x.dim())
        if x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()
        if a.select_last_index:
            n = x.shape[ax]
            idx = torch.argmax(x.flip(ax), ax, keepdim=a.keep_dims) if a.op == "MAX" else \
                torch.argmin(x.flip(ax), ax, keepdim=a.keep_dims)
            return [(n - 1 - idx).to(torch.int64)]
        # torch documents the first occurrence for argmax/argmin
        idx = torch.argmax(x, ax, keepdim=a.keep_dims) if a.op == "MAX" else torch.argmin(x, ax, keepdim=a.keep_dims)
        return [idx.to(torch.int64)]


@register
class OnnxHardmax(OpDef):
    kind = "onnx_hardmax"
    layer_type = LayerType.GENERIC_OP
    attrs = {"axis": (INT, -1)}

    def infer(self, a, ins):
        x = ins[0]
        if x.dtype == DataType.BOOL:
            raise OpError("BOOL inputs are not accepted; cast first")
        norm_axis(a.axis, x.rank)
        return [spec_like(x)]

    def run(self, a, ins, outs):
        x = ins[0]
        ax = norm_axis(a.axis, x.dim())
        out = torch.zeros_like(x)
        if x.numel() == 0:
            return [out]
        src = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        idx = torch.argmax(src, ax, keepdim=True)
        return [out.scatter(ax, idx, torch.ones_like(idx, dtype=x.dtype))]


# ----------------------------------------------------------------------------------------------- ONNX reductions
def _fill_value(op, dtype):
    if op in ("MAX", "MIN"):
        if dtype == torch.bool:
            return op == "MIN"
        if dtype.is_floating_point:
            return float("-inf") if op == "MAX" else float("inf")
        info = torch.iinfo(dtype)
        return info.min if op == "MAX" else info.max
    if op == "PROD":
        return 1
    if op in ("LOG_SUM", "LOG_SUM_EXP"):
        return float("-inf")
    return 0


def onnx_reduce(op, x, axes, keep):
    """ONNX reduction ``op`` of ``x`` over ``axes`` (a list of normalized axes; reductions over empty sets give the
    identity element: 0, 1, -inf/+inf or the integer limits)."""
    dt = x.dtype
    if not axes:
        return x.clone()
    shape = [(1 if i in axes else d) for i, d in enumerate(x.shape)] if keep else \
        [d for i, d in enumerate(x.shape) if i not in axes]
    if any(x.shape[a] == 0 for a in axes):
        return torch.full(shape, _fill_value(op, dt), dtype=dt, device=x.device)
    work = x
    if op in ("AVG", "L2", "LOG_SUM", "LOG_SUM_EXP") and not dt.is_floating_point:
        work = x.double()
    if op == "SUM":
        out = torch.sum(work, dim=axes, keepdim=keep)
    elif op == "SUM_SQUARE":
        out = torch.sum(work * work, dim=axes, keepdim=keep)
    elif op == "L1":
        out = torch.sum(torch.abs(work), dim=axes, keepdim=keep)
    elif op == "L2":
        out = torch.sqrt(torch.sum(work * work, dim=axes, keepdim=keep))
    elif op == "LOG_SUM":
        out = torch.log(torch.sum(work, dim=axes, keepdim=keep))
    elif op == "LOG_SUM_EXP":
        out = torch.logsumexp(work, dim=axes, keepdim=keep)
    elif op == "AVG":
        out = torch.mean(work, dim=axes, keepdim=keep)
    elif op == "PROD":
        out = work
        for ax in sorted(axes, reverse=True):
            out = torch.prod(out, dim=ax, keepdim=keep)
    elif op in ("MAX", "MIN"):
        if dt == torch.bool:
            work = x.to(torch.uint8)
        out = (torch.amax if op == "MAX" else torch.amin)(work, dim=axes, keepdim=keep)
    else:
        raise ValueError(f"unknown reduction {op!r}")
    if not dt.is_floating_point and out.dtype.is_floating_point and dt != torch.bool:
        out = torch.trunc(out)
    return out.to(dt).reshape(shape)


REDUCTIONS = ("SUM", "PROD", "MAX", "MIN", "AVG", "L1", "L2", "LOG_SUM", "LOG_SUM_EXP", "SUM_SQUARE")


@register
class OnnxReduce(OpDef):
    host_inputs = (1,)  # axes
    """ONNX reduction with axes from a (possibly runtime) tensor, empty-set identities and noop_with_empty_axes."""

    kind = "onnx_reduce"
    layer_type = LayerType.REDUCE
    attrs = {"op": (Choice(*REDUCTIONS), "SUM"), "axes": (INTS, None), "keep_dims": (BOOL, True),
             "noop_with_empty_axes": (BOOL, False)}
    inputs = ("input", "axes")
    data_dependent = True

    def _axes(self, a, rank, values):
        axes = list(a.axes) if values is None else [int(v) for v in values]
        if not axes:
            return None if a.noop_with_empty_axes else list(range(rank))
        return sorted({norm_axis(ax, rank) for ax in axes})

    def infer(self, a, ins):
        x = ins[0]
        if a.op not in REDUCTIONS:
            raise OpError(f"op {a.op!r} is not one of {', '.join(REDUCTIONS)}")
        rank = x.rank
        at = ins[1] if len(ins) > 1 else None
        if at is not None:
            if at.dtype != DataType.INT64 or at.shape is None or len(at.shape) != 1:
                raise OpError("the axes input must be a 1-D INT64 tensor")
            if at.value is None:
                n = at.shape[0]
                if n == 0:
                    return [self.infer_static(a, x, None if a.noop_with_empty_axes else list(range(rank)))]
                if n < 0 and not a.keep_dims:
                    raise OpError("with keepdims=0 the number of axes must be known when the network is built")
                return [Spec(x.dtype, (-1,) * (rank if a.keep_dims else rank - n))]
            axes = self._axes(a, rank, list(at.value.reshape(-1)))
        else:
            if a.axes is None:
                raise OpError("needs an axes input or the axes attribute")
            axes = self._axes(a, rank, None)
        return [self.infer_static(a, x, axes)]

    @staticmethod
    def infer_static(a, x, axes):
        if axes is None:
            return spec_like(x)
        shape = [(1 if i in axes else d) for i, d in enumerate(x.shape)] if a.keep_dims else \
            [d for i, d in enumerate(x.shape) if i not in axes]
        return Spec(x.dtype, tuple(shape))

    def run(self, a, ins, outs):
        x = ins[0]
        at = ins[1] if len(ins) > 1 else None
        axes = self._axes(a, x.dim(), None if at is None else at.reshape(-1).tolist())
        if axes is None:
            return [x.clone()]
        return [onnx_reduce(a.op, x, axes, a.keep_dims)]
