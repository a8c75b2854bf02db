"""Indexing aten ops: embedding (IGatherLayer on the table), gather (ELEMENT mode), index (one index tensor, or
several on the leading dims through GatherND), index_select."""
from __future__ import annotations

import torch

from inferrt.enums import DataType, ElementWiseOperation as EW, GatherMode
from inferrt.torch.converters import converter

aten = torch.ops.aten


@converter(aten.embedding.default)
def embedding(ctx, node):
    w, idx = ctx.tensor(ctx.arg(node, 0)), ctx.tensor(ctx.arg(node, 1))
    return ctx.out(ctx.network.add_gather(w, idx, 0))


@converter(aten.index_select.default)
def index_select(ctx, node):
    x = ctx.tensor(ctx.arg(node, 0))
    return ctx.out(ctx.network.add_gather(x, ctx.tensor(ctx.arg(node, 2)), ctx.norm_dim(ctx.arg(node, 1),
                                                                                         ctx.rank(x))))


@converter(aten.gather.default)
def gather(ctx, node):
    x, idx = ctx.tensor(ctx.arg(node, 0)), ctx.tensor(ctx.arg(node, 2))
    layer = ctx.network.add_gather_v2(x, idx, GatherMode.ELEMENT)
    layer.axis = ctx.norm_dim(ctx.arg(node, 1), ctx.rank(x))
    return ctx.done(layer)


def _index_supports(node):
    idx = node.args[1]
    real = [(i, a) for i, a in enumerate(idx) if a is not None]
    for _, a in real:
        val = a.meta.get("val") if isinstance(a, torch.fx.Node) else None
        if val is None or val.dtype not in (torch.int64, torch.int32):
            return "index with a boolean mask (data-dependent shape) has no converter"
    if len(real) > 1 and [i for i, _ in real] != list(range(len(real))):
        return "index with several index tensors converts when they index the leading dims"
    return None


@converter(aten.index.Tensor, supports=_index_supports)
def index(ctx, node):
    """One index tensor: IGatherLayer on its axis. Several, on the leading dims: they broadcast together and
    stack into the last axis of a GatherND (``x[i0, i1]`` = gather_nd(x, stack(broadcast(i0, i1), -1)))."""
    x = ctx.tensor(ctx.arg(node, 0))
    idx = ctx.arg(node, 1)
    real = [ctx.cast(ctx.tensor(a), DataType.INT64) for a in idx if a is not None]
    if len(real) == 1:
        axis = next(i for i, a in enumerate(idx) if a is not None)
        return ctx.out(ctx.network.add_gather(x, real[0], axis))
    zero = None
    for t in real:  # sum of index * 0 has the broadcast shape of all of them
        z = ctx.elementwise(t, ctx.scalar_like(0, t), EW.PROD)
        zero = z if zero is None else ctx.elementwise(zero, z, EW.SUM)
    r = ctx.rank(zero)
    cols = [ctx.unsqueeze_back(ctx.elementwise(t, zero, EW.SUM), r) for t in real]
    return ctx.out(ctx.network.add_gather_v2(x, ctx.concat(cols, r), GatherMode.ND))
