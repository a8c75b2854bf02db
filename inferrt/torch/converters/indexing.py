"""Indexing aten ops: embedding (IGatherLayer on the table), gather (ELEMENT mode), index with one index tensor,
index_select."""
from __future__ import annotations

import torch

from inferrt.enums import GatherMode
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
    if len(real) != 1:
        return "index with several index tensors has no converter"
    val = real[0][1].meta.get("val") if isinstance(real[0][1], torch.fx.Node) else None
    if val is None or val.dtype not in (torch.int64, torch.int32):
        return "index with a boolean mask (data-dependent shape) has no converter"
    return None


@converter(aten.index.Tensor, supports=_index_supports)
def index(ctx, node):
    x = ctx.tensor(ctx.arg(node, 0))
    idx = ctx.arg(node, 1)
    axis = next(i for i, a in enumerate(idx) if a is not None)
    return ctx.out(ctx.network.add_gather(x, ctx.tensor(idx[axis]), axis))
