"""Reduce (SUM, PROD, MAX, MIN, AVG over an axes bitmask) and SoftMax."""
from __future__ import annotations

import torch

from ..enums import DataType, LayerType, ReduceOperation as R
from .base import BOOL, INT, Enum, OpDef, OpError, Spec, axes_from_mask, register


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
        if a.op == R.AVG and x.dtype not in (DataType.FLOAT, DataType.HALF, DataType.BF16):
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
        if a.axes is None:
            return max(rank - 3, 0)
        axes = axes_from_mask(a.axes, rank)
        if len(axes) != 1 or a.axes >> rank:
            raise OpError(f"axes bitmask {a.axes:#b} must name exactly one axis of a rank-{rank} tensor")
        return axes[0]

    def infer(self, a, ins):
        x = ins[0]
        if x.dtype not in (DataType.FLOAT, DataType.HALF, DataType.BF16):
            raise OpError(f"softmax needs a floating-point input, got {x.dtype.name}")
        self._axis(a, x.rank)
        return [Spec(x.dtype, x.shape)]

    def run(self, a, ins, outs):
        x = ins[0]
        ax = self._axis(a, x.dim())
        return [torch.softmax(x, ax, dtype=torch.float32).to(x.dtype) if x.dtype != torch.float32
                else torch.softmax(x, ax)]
