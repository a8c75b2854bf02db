"""Normalization aten ops: batch norm in inference mode (an IScaleLayer per channel from constant
statistics, which the builder folds into the convolution before it; elementwise layers when the statistics are
computed in the graph), layer norm and group norm (INormalizationLayer)."""
from __future__ import annotations

import numpy as np
import torch

from inferrt.enums import ElementWiseOperation as EW, ScaleMode, UnaryOperation as U
from inferrt.torch.converters import converter

aten = torch.ops.aten


def _const(ctx, node, i):
    a = node.args[i] if i < len(node.args) else None
    if a is None:
        return None
    return ctx._attrs_of(a.target).detach().cpu().double().numpy()


def _is_const(a):
    return a is None or (isinstance(a, torch.fx.Node) and a.op == "get_attr")


def _bn_supports(node):
    if node.target is aten.batch_norm.default and node.args[5]:
        return "batch_norm in training mode (call module.eval() before compiling)"
    return None


@converter(aten.batch_norm.default, aten._native_batch_norm_legit_no_training.default, supports=_bn_supports)
def batch_norm(ctx, node):
    x = ctx.tensor(ctx.arg(node, 0))
    eps = float(node.args[7] if node.target is aten.batch_norm.default else node.args[6])
    if not all(_is_const(a) for a in node.args[1:5]):
        y = _bn_runtime(ctx, node, x, eps)
        return [y, None, None] if node.target is aten._native_batch_norm_legit_no_training.default else y
    w, b, mean, var = (_const(ctx, node, i) for i in (1, 2, 3, 4))
    c = int(x.shape[1]) if x.shape[1] >= 0 else len(mean)
    w = np.ones(c) if w is None else w
    b = np.zeros(c) if b is None else b
    scale = w / np.sqrt(var + eps)
    shift = b - mean * scale
    layer = ctx.network.add_scale_nd(x, ScaleMode.CHANNEL, shift.astype(np.float32), scale.astype(np.float32),
                                     None, 1)
    y = ctx.out(layer)
    if node.target is aten._native_batch_norm_legit_no_training.default:
        return [y, None, None]
    return y


def _bn_runtime(ctx, node, x, eps):
    """(x - mean) / sqrt(var + eps) * w + b with statistics computed in the graph (elementwise layers)."""
    r = ctx.rank(x)

    def per_channel(i):
        v = ctx.arg(node, i)
        if v is None:
            return None
        t = ctx.cast(ctx.tensor(v), x.dtype)
        return ctx.reshape(t, [1, -1] + [1] * (r - 2), zero_copies=False)

    w, b, mean, var = (per_channel(i) for i in (1, 2, 3, 4))
    std = ctx.unary(ctx.elementwise(var, ctx.scalar_like(eps, var), EW.SUM), U.SQRT)
    y = ctx.elementwise(ctx.elementwise(x, mean, EW.SUB), std, EW.DIV)
    if w is not None:
        y = ctx.elementwise(y, w, EW.PROD)
    return ctx.elementwise(y, b, EW.SUM) if b is not None else y


def _trailing(ctx, v, x, n):
    """A per-element parameter over the last ``n`` dims as a tensor of ``x``'s rank."""
    r = ctx.rank(x)
    t = ctx.cast(ctx.tensor(v, x), x.dtype)
    return ctx.unsqueeze_front(t, r - ctx.rank(t))


@converter(aten.layer_norm.default, aten.native_layer_norm.default)
def layer_norm(ctx, node):
    x = ctx.tensor(ctx.arg(node, 0))
    r = ctx.rank(x)
    n = len(ctx.arg(node, 1))
    w, b = ctx.arg(node, 2), ctx.arg(node, 3)
    eps = float(ctx.arg(node, 4, 1e-5))
    scale = _trailing(ctx, w, x, n) if w is not None else ctx.scalar_like(1.0, x)
    bias = _trailing(ctx, b, x, n) if b is not None else ctx.scalar_like(0.0, x)
    mask = 0
    for a in range(r - n, r):
        mask |= 1 << a
    layer = ctx.network.add_normalization(x, scale, bias, mask)
    layer.epsilon = eps
    y = ctx.done(layer)
    if node.target is aten.native_layer_norm.default:
        return [y, None, None]
    return y


@converter(aten.group_norm.default)
def group_norm(ctx, node):
    x = ctx.tensor(ctx.arg(node, 0))
    r = ctx.rank(x)
    g = int(ctx.arg(node, 1))
    w, b = ctx.arg(node, 2), ctx.arg(node, 3)
    eps = float(ctx.arg(node, 4, 1e-5))
    c = x.shape[1]

    def per_channel(v, fill):
        t = ctx.cast(ctx.tensor(v, x), x.dtype) if v is not None else ctx.constant(np.full(c, fill, np.float32))
        return ctx.reshape(t, [1, -1] + [1] * (r - 2), zero_copies=False)

    mask = 0
    for a in range(2, r):
        mask |= 1 << a
    layer = ctx.network.add_normalization(x, per_channel(w, 1.0), per_channel(b, 0.0), mask)
    layer.epsilon = eps
    layer.num_groups = g
    return ctx.done(layer)
