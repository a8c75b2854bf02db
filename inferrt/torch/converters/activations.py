"""Activation aten ops (relu, gelu, tanh, sigmoid, silu, hardtanh, leaky_relu) and softmax / log_softmax."""
from __future__ import annotations

import torch

from inferrt.enums import ActivationType as A, ElementWiseOperation as EW, UnaryOperation as U
from inferrt.torch.converters import converter

aten = torch.ops.aten


def _act(kind, alpha=None, beta=None):
    def fn(ctx, node):
        return ctx.activation(ctx.tensor(ctx.arg(node, 0)), kind, alpha, beta)
    return fn


converter(aten.relu.default, aten.relu_.default)(_act(A.RELU))
converter(aten.tanh.default)(_act(A.TANH))
converter(aten.sigmoid.default)(_act(A.SIGMOID))


def _gelu_supports(node):
    approx = node.kwargs.get("approximate", "none")
    return None if approx in ("none", "tanh") else f"gelu approximate={approx!r} has no converter"


@converter(aten.gelu.default, supports=_gelu_supports)
def gelu(ctx, node):
    tanh = node.kwargs.get("approximate", "none") == "tanh"
    return ctx.activation(ctx.tensor(ctx.arg(node, 0)), A.GELU_TANH if tanh else A.GELU_ERF)


@converter(aten.silu.default, aten.silu_.default)
def silu(ctx, node):
    x = ctx.tensor(ctx.arg(node, 0))
    return ctx.elementwise(x, ctx.activation(x, A.SIGMOID), EW.PROD)


@converter(aten.hardtanh.default, aten.hardtanh_.default, aten.clamp.default)
def clamp(ctx, node):
    x = ctx.tensor(ctx.arg(node, 0))
    default = (-1.0, 1.0) if "hardtanh" in str(node.target) else (None, None)
    lo, hi = ctx.arg(node, 1, default[0], "min"), ctx.arg(node, 2, default[1], "max")
    if lo is not None:
        x = ctx.elementwise(x, ctx.scalar_like(lo, x), EW.MAX)
    if hi is not None:
        x = ctx.elementwise(x, ctx.scalar_like(hi, x), EW.MIN)
    return x


@converter(aten.leaky_relu.default)
def leaky_relu(ctx, node):
    return ctx.activation(ctx.tensor(ctx.arg(node, 0)), A.LEAKY_RELU, ctx.arg(node, 1, 0.01))


def softmax_along(ctx, x, dim):
    r = ctx.rank(x)
    layer = ctx.network.add_softmax(x)
    layer.axes = 1 << ctx.norm_dim(dim, r)
    return ctx.done(layer)


@converter(aten.softmax.int, aten._softmax.default)
def softmax(ctx, node):
    x = ctx.tensor(ctx.arg(node, 0))
    dt = node.args[2] if len(node.args) > 2 and isinstance(node.args[2], torch.dtype) else None
    return ctx.as_out_dtype(softmax_along(ctx, x if dt is None else ctx.as_out_dtype(x), ctx.arg(node, 1)))


@converter(aten.log_softmax.int, aten._log_softmax.default)
def log_softmax(ctx, node):
    return ctx.unary(softmax(ctx, node), U.LOG)
