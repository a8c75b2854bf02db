"""Importers for ONNX normalization ops: BatchNormalization (inference form, every opset), InstanceNormalization,
LayerNormalization (with Mean / InvStdDev outputs), GroupNormalization (opset 18 per-group and opset 21
per-channel scale/bias), RMSNormalization, MeanVarianceNormalization, LpNormalization and LRN.

Batch norm with constant statistics folds into one IScaleLayer (CHANNEL); instance / layer / group norm map onto
INormalizationLayer; the others are written as reduce + elementwise layers that the builder's norm fusion matches.
"""
from __future__ import annotations

import numpy as np

from ...dtypes import FLOAT_TYPES
from ...enums import ElementWiseOperation as EW, ParserErrorCode as E, ReduceOperation as R, ScaleMode
from ...enums import UnaryOperation as U
from ..registry import importer


def _channel_shape(r):
    return [1, -1] + [1] * (r - 2)


def _per_channel(ctx, t, r):
    """A (C,) tensor reshaped to (1, C, 1, ...) to broadcast over an N, C, spatial... input."""
    v = ctx.value_of(t)
    if v is not None:
        return ctx.constant(np.asarray(v).reshape(_channel_shape(r)))
    return ctx.reshape(t, _channel_shape(r), zero_copies=False)


def _channel_input(ctx, node, i, x, r):
    """Input ``i`` (C,) as (1, C, 1, ...) of ``x``'s type; constants stay constants (no extra layer)."""
    v = ctx.input_value(node, i)
    if v is not None and x.dtype.name in ("FLOAT", "HALF"):
        return ctx.constant(np.asarray(v, np.float16 if x.dtype.name == "HALF" else np.float32)
                     .reshape(_channel_shape(r)))
    return _per_channel(ctx, ctx.cast(ctx.input(node, i), x.dtype), r)


def _mask(axes):
    m = 0
    for a in axes:
        m |= 1 << a
    return m


# ----------------------------------------------------------------------------------------------- BatchNormalization
@importer("BatchNormalization", since=1)
def batch_norm_1(ctx, node):
    if int(ctx.attr(node, "training_mode", 0)) or int(ctx.attr(node, "is_test", 1)) == 0:
        ctx.fail("training mode is not supported; export the model in eval mode (training_mode=0)",
                 E.UNSUPPORTED_NODE_ATTR)
    if any(o for o in node.outputs[1:]):
        ctx.fail("the running mean/var and saved statistics outputs exist only in training; remove them from the "
                 "node (export the model in eval mode)", E.UNSUPPORTED_NODE)
    x = ctx.input(node, 0)
    r = ctx.rank(x)
    if r < 2:
        ctx.fail(f"input must be N, C, ... (rank >= 2), got rank {r}", E.INVALID_NODE)
    eps = float(ctx.attr(node, "epsilon", 1e-5))
    if int(ctx.attr(node, "spatial", 1)) == 0:  # opset < 9: statistics per activation (C, D1, ...), not per channel
        scale, bias, mean, var = (ctx.unsqueeze_front(ctx.cast(ctx.input(node, i), x.dtype), 1)
                                  for i in range(1, 5))
        return [_bn_compose(ctx, x, scale, bias, mean, var, eps)]
    vals = [ctx.input_value(node, i) for i in range(1, 5)]
    if all(v is not None for v in vals) and x.dtype in FLOAT_TYPES:
        scale, bias, mean, var = (np.asarray(v, np.float64).reshape(-1) for v in vals)
        s = scale / np.sqrt(var + eps)
        shift = bias - mean * s
        layer = ctx.network.add_scale_nd(x, ScaleMode.CHANNEL, shift.astype(np.float32), s.astype(np.float32),
                                         None, 1)
        return [ctx.done(layer)]
    scale, bias, mean, var = (_channel_input(ctx, node, i, x, r) for i in range(1, 5))
    return [_bn_compose(ctx, x, scale, bias, mean, var, eps)]


def _bn_compose(ctx, x, scale, bias, mean, var, eps):
    std = ctx.unary(ctx.elementwise(var, ctx.scalar_like(eps, var), EW.SUM), U.SQRT)
    y = ctx.elementwise(ctx.elementwise(x, mean, EW.SUB), std, EW.DIV)
    return ctx.elementwise(ctx.elementwise(y, scale, EW.PROD), bias, EW.SUM)


# ----------------------------------------------------------------------------------------------- Instance / Group
@importer("InstanceNormalization", since=1)
def instance_norm_1(ctx, node):
    x = ctx.input(node, 0)
    r = ctx.rank(x)
    if r < 3:
        ctx.fail(f"input must be N, C, spatial... (rank >= 3), got rank {r}", E.INVALID_NODE)
    scale, bias = _channel_input(ctx, node, 1, x, r), _channel_input(ctx, node, 2, x, r)
    layer = ctx.network.add_normalization(x, scale, bias, _mask(range(2, r)))
    layer.epsilon = float(ctx.attr(node, "epsilon", 1e-5))
    return [ctx.done(layer)]


def _group_norm(ctx, node, per_group):
    x = ctx.input(node, 0)
    r = ctx.rank(x)
    if r < 3:
        ctx.fail(f"input must be N, C, spatial... (rank >= 3), got rank {r}", E.INVALID_NODE)
    g = int(ctx.attr(node, "num_groups"))
    c = x.shape[1]
    params = []
    for i in (1, 2):
        if not per_group:
            params.append(_channel_input(ctx, node, i, x, r))
            continue
        if c < 0:
            ctx.fail("opset-18 GroupNormalization needs a static channel dim", E.UNSUPPORTED_NODE_DYNAMIC)
        if c % g:
            ctx.fail(f"channels {c} are not divisible by num_groups {g}", E.INVALID_NODE)
        v = ctx.input_value(node, i)
        if v is not None:  # per-group values repeated per channel
            t = ctx.cast(ctx.constant(np.repeat(np.asarray(v, np.float32).reshape(-1), c // g)), x.dtype)
        else:
            idx = ctx.constant(np.arange(c, dtype=np.int64) // (c // g))
            t = ctx.network.add_gather(ctx.cast(ctx.input(node, i), x.dtype), idx, 0).get_output(0)
        params.append(_per_channel(ctx, t, r))
    layer = ctx.network.add_normalization(x, params[0], params[1], _mask(range(2, r)))
    layer.epsilon = float(ctx.attr(node, "epsilon", 1e-5))
    layer.num_groups = g
    return [ctx.done(layer)]


@importer("GroupNormalization", since=18)
def group_norm_18(ctx, node):
    return _group_norm(ctx, node, True)


@importer("GroupNormalization", since=21)
def group_norm_21(ctx, node):
    return _group_norm(ctx, node, False)


# ----------------------------------------------------------------------------------------------- Layer / RMS
def _trailing_param(ctx, node, i, x, r):
    """Input ``i`` (a scale/bias over the trailing normalized dims) lifted to the input's rank and type (by layers
    when it is refittable weights, see ``ctx.is_weight_input``)."""
    v = None if ctx.is_weight_input(node, i) else ctx.input_value(node, i)
    if v is not None and x.dtype.name in ("FLOAT", "HALF"):
        v = np.asarray(v, np.float16 if x.dtype.name == "HALF" else np.float32)
        return ctx.constant(v.reshape((1,) * (r - v.ndim) + v.shape))
    t = ctx.cast(ctx.input(node, i), x.dtype)
    return ctx.unsqueeze_front(t, r - ctx.rank(t))


def _trailing_norm_operands(ctx, node):
    """(data, its rank, first normalized axis, epsilon) of LayerNormalization / RMSNormalization, which normalize
    from ``axis`` (default -1) to the last axis."""
    x = ctx.input(node, 0)
    r = ctx.rank(x)
    axis = ctx.norm_axes([int(ctx.attr(node, "axis", -1))], r)[0]
    return x, r, axis, float(ctx.attr(node, "epsilon", 1e-5))


@importer("LayerNormalization", since=17)
def layer_norm_17(ctx, node):
    x, r, axis, eps = _trailing_norm_operands(ctx, node)
    axes = list(range(axis, r))
    scale = _trailing_param(ctx, node, 1, x, r)
    if ctx.has_input(node, 2):
        bias = _trailing_param(ctx, node, 2, x, r)
    else:
        bias = ctx.scalar_like(0.0, x)
    layer = ctx.network.add_normalization(x, scale, bias, _mask(axes))
    layer.epsilon = eps
    outs = [ctx.done(layer)]
    want_mean = len(node.outputs) > 1 and bool(node.outputs[1])
    want_inv = len(node.outputs) > 2 and bool(node.outputs[2])
    if want_mean or want_inv:
        xf = ctx.to_float(x)
        mean = ctx.reduce(xf, R.AVG, axes, True)
        d = ctx.elementwise(xf, mean, EW.SUB)
        var = ctx.reduce(ctx.elementwise(d, d, EW.PROD), R.AVG, axes, True)
        inv = ctx.unary(ctx.unary(ctx.elementwise(var, ctx.scalar_like(eps, var), EW.SUM), U.SQRT), U.RECIP)
        outs += [mean if want_mean else None, inv if want_inv else None]
    return outs


@importer("RMSNormalization", since=23)
def rms_norm_23(ctx, node):
    x, r, axis, eps = _trailing_norm_operands(ctx, node)
    xf = ctx.to_float(x)
    ms = ctx.reduce(ctx.elementwise(xf, xf, EW.PROD), R.AVG, list(range(axis, r)), True)
    inv = ctx.unary(ctx.unary(ctx.elementwise(ms, ctx.scalar_like(eps, ms), EW.SUM), U.SQRT), U.RECIP)
    y = ctx.cast(ctx.elementwise(xf, inv, EW.PROD), x.dtype)
    return [ctx.elementwise(y, _trailing_param(ctx, node, 1, x, r), EW.PROD)]


@importer("MeanVarianceNormalization", since=9)
def mvn_9(ctx, node):
    x = ctx.input(node, 0)
    r = ctx.rank(x)
    axes = ctx.norm_axes(ctx.attr(node, "axes", [0, 2, 3]), r)
    mean = ctx.reduce(x, R.AVG, axes, True)
    ex2 = ctx.reduce(ctx.elementwise(x, x, EW.PROD), R.AVG, axes, True)
    var = ctx.elementwise(ex2, ctx.elementwise(mean, mean, EW.PROD), EW.SUB)
    std = ctx.elementwise(ctx.unary(var, U.SQRT), ctx.scalar_like(1e-9, var), EW.SUM)
    return [ctx.elementwise(ctx.elementwise(x, mean, EW.SUB), std, EW.DIV)]


@importer("LpNormalization", since=1)
def lp_norm_1(ctx, node):
    x = ctx.input(node, 0)
    r = ctx.rank(x)
    axis = ctx.norm_axes([int(ctx.attr(node, "axis", -1))], r)[0]
    p = int(ctx.attr(node, "p", 2))
    if p not in (1, 2):
        ctx.fail(f"p must be 1 or 2, got {p}", E.INVALID_NODE)
    a = ctx.unary(x, U.ABS)
    if p == 1:
        norm = ctx.reduce(a, R.SUM, [axis], True)
    else:
        norm = ctx.unary(ctx.reduce(ctx.elementwise(x, x, EW.PROD), R.SUM, [axis], True), U.SQRT)
    # an all-zero slice stays zero (0 / tiny) instead of becoming NaN, as ONNX's reference does
    norm = ctx.elementwise(norm, ctx.scalar_like(1e-30, norm), EW.MAX)
    return [ctx.elementwise(x, norm, EW.DIV)]


@importer("LRN", since=1)
def lrn_1(ctx, node):
    x = ctx.input(node, 0)
    size = int(ctx.attr(node, "size"))
    layer = ctx.network.add_lrn(x, size, float(ctx.attr(node, "alpha", 1e-4)), float(ctx.attr(node, "beta", 0.75)),
                                float(ctx.attr(node, "bias", 1.0)))
    return [ctx.done(layer)]
