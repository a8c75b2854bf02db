"""Reduction aten ops: mean / sum / amax / amin over dims (IReduceLayer), cumsum (ICumulativeLayer)."""
from __future__ import annotations

import torch

from inferrt.enums import CumulativeOperation, ReduceOperation as R
from inferrt.torch.converters import converter

aten = torch.ops.aten


def _reduce(op):
    def fn(ctx, node):
        x = ctx.as_out_dtype(ctx.tensor(ctx.arg(node, 0)))
        r = ctx.rank(x)
        dims = ctx.arg(node, 1, None, "dim")
        dims = list(range(r)) if dims is None or dims == [] else ([dims] if isinstance(dims, int) else dims)
        keep = bool(ctx.arg(node, 2, False, "keepdim"))
        return ctx.reduce(x, op, sorted(ctx.norm_dim(d, r) for d in dims), keep_dims=keep)
    return fn


converter(aten.mean.dim, aten.mean.default)(_reduce(R.AVG))
converter(aten.sum.dim_IntList, aten.sum.default)(_reduce(R.SUM))
converter(aten.amax.default)(_reduce(R.MAX))
converter(aten.amin.default)(_reduce(R.MIN))


@converter(aten.cumsum.default)
def cumsum(ctx, node):
    x = ctx.as_out_dtype(ctx.tensor(ctx.arg(node, 0)))
    axis = ctx.norm_dim(ctx.arg(node, 1), ctx.rank(x))
    return ctx.out(ctx.network.add_cumulative(x, axis, CumulativeOperation.SUM, False, False))
