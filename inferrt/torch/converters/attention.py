"""``aten.scaled_dot_product_attention`` as the layers the builder's attention fusion recognises:

    q @ k^T * scale  (+ mask: additive float, or bool -> 0 / -inf)  -> softmax(-1) -> @ v

``is_causal`` builds a lower-triangular bool mask for static sequence lengths."""
from __future__ import annotations

import math

import numpy as np
import torch

from inferrt.enums import DataType, ElementWiseOperation as EW, MatrixOperation as M
from inferrt.torch.converters import converter
from inferrt.torch.converters.activations import softmax_along

aten = torch.ops.aten


def _sdpa_supports(node):
    if node.kwargs.get("enable_gqa"):
        return "grouped-query attention (enable_gqa=True) has no converter"
    dropout = node.args[4] if len(node.args) > 4 else node.kwargs.get("dropout_p", 0.0)
    if dropout:
        return "attention dropout (dropout_p > 0) is a training-time op"
    causal = node.args[5] if len(node.args) > 5 else node.kwargs.get("is_causal", False)
    if causal:
        q, k = node.args[0].meta.get("val"), node.args[1].meta.get("val")
        if not all(isinstance(d, int) for d in (q.shape[-2], k.shape[-2])):
            return "is_causal with symbolic sequence lengths has no converter"
    return None


@converter(aten.scaled_dot_product_attention.default, supports=_sdpa_supports)
def sdpa(ctx, node):
    q, k, v = (ctx.tensor(ctx.arg(node, i)) for i in range(3))
    mask = ctx.arg(node, 3, None, "attn_mask")
    causal = ctx.arg(node, 5, False, "is_causal")
    scale = ctx.arg(node, 6, None, "scale")
    if scale is None:  # the head size from PyTorch's metadata: the network may not have folded it yet
        head = node.args[0].meta["val"].shape[-1]
        if not isinstance(head, int):
            ctx.fail("attention with a symbolic head size needs an explicit scale")
        scale = 1.0 / math.sqrt(head)
    scale = float(scale)
    s = ctx.out(ctx.network.add_matrix_multiply(q, M.NONE, k, M.TRANSPOSE))
    s = ctx.elementwise(s, ctx.scalar_like(scale, s), EW.PROD)
    if causal:
        lq, lk = (int(node.args[i].meta["val"].shape[-2]) for i in (0, 1))
        tri = np.where(np.tril(np.ones((lq, lk), bool)), 0.0, -np.inf).astype(np.float32)
        s = ctx.elementwise(s, ctx.cast(ctx.constant(tri), s.dtype), EW.SUM)
    if mask is not None:
        m = ctx.tensor(mask)
        if m.dtype == DataType.BOOL:
            r = ctx.rank(m)
            zero = ctx.cast(ctx.constant(np.zeros((1,) * r, np.float32)), s.dtype)
            ninf = ctx.cast(ctx.constant(np.full((1,) * r, -np.inf, np.float32)), s.dtype)
            m = ctx.out(ctx.network.add_select(m, zero, ninf))
        s = ctx.elementwise(s, ctx.cast(m, s.dtype), EW.SUM)
    p = softmax_along(ctx, s, -1)
    return ctx.out(ctx.network.add_matrix_multiply(p, M.NONE, v, M.NONE))
