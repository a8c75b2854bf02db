"""Reduction aten ops: mean / sum / amax / amin over dims (IReduceLayer), cumsum (ICumulativeLayer), diff."""
from __future__ import annotations

import torch

from inferrt.enums import CumulativeOperation, DataType, ReduceOperation as R
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


def _diff_supports(node):
    n = node.args[1] if len(node.args) > 1 else node.kwargs.get("n", 1)
    x = node.args[0].meta.get("val")
    dim = node.args[2] if len(node.args) > 2 else node.kwargs.get("dim", -1)
    if not isinstance(x, torch.Tensor) or not isinstance(x.shape[dim], int):
        return "diff along a symbolic dim has no converter"
    return None if isinstance(n, int) and n >= 1 else "diff with n < 1 has no converter"


@converter(aten.diff.default, supports=_diff_supports)
def diff(ctx, node):
    """x[1:] - x[:-1] along ``dim``, ``n`` times, after concatenating ``prepend`` / ``append``."""
    x = ctx.tensor(ctx.arg(node, 0))
    n, dim = ctx.arg(node, 1, 1, "n"), ctx.norm_dim(ctx.arg(node, 2, -1, "dim"), ctx.rank(x))
    extra = [node.args[i] if len(node.args) > i else node.kwargs.get(k) for i, k in ((3, "prepend"), (4, "append"))]
    length = sum(int(a.meta["val"].shape[dim]) for a in [node.args[0]] + extra if a is not None)
    pre, app = (ctx.evaluate(a) for a in extra)
    parts = ([ctx.tensor(pre)] if pre is not None else []) + [x] + ([ctx.tensor(app)] if app is not None else [])
    x = ctx.concat([ctx.cast(p, x.dtype) for p in parts], dim)
    for _ in range(n):
        if length < 2:
            return ctx.out(ctx.axis_slice(x, [dim], [0], [0]))
        hi = ctx.out(ctx.axis_slice(x, [dim], [1], [length - 1]))
        lo = ctx.out(ctx.axis_slice(x, [dim], [0], [length - 1]))
        x = ctx.elementwise(hi, lo, "SUB") if x.dtype != DataType.BOOL else ctx.out(
            ctx.network.add_elementwise(hi, lo, "XOR"))
        length -= 1
    return x


@converter(aten.cumsum.default)
def cumsum(ctx, node):
    x = ctx.as_out_dtype(ctx.tensor(ctx.arg(node, 0)))
    axis = ctx.norm_dim(ctx.arg(node, 1), ctx.rank(x))
    return ctx.out(ctx.network.add_cumulative(x, axis, CumulativeOperation.SUM, False, False))
