"""Importers for ONNX normalization ops: BatchNormalization (inference form, every opset), InstanceNormalization,
LayerNormalization (with Mean / InvStdDev outputs), GroupNormalization (opset 18 per-group and opset 21
per-channel scale/bias), RMSNormalization, MeanVarianceNormalization, LpNormalization and LRN.

Batch norm with constant statistics folds into one IScaleLayer (CHANNEL); instance / layer / group norm map onto
INormalizationLayer; the others are written as reduce + elementwise layers that the builder's norm fusion matches.
"""
from __future__ import annotations

import numpy as np

from ...enums import ElementWiseOperation as EW, ParserErrorCode as E, ReduceOperation as R, ScaleMode
from ...enums import UnaryOperation as U
from ..registry import importer
from ._compose import (attr, cast, const, done, ew, fail, has_input, inp, norm_axes, rank, reduce, reshape,
                       scalar_like, to_float, unary, unsqueeze_front, value)


def _channel_shape(r):
    return [1, -1] + [1] * (r - 2)


def _per_channel(ctx, t, r):
    """A (C,) tensor reshaped to (1, C, 1, ...) to broadcast over an N, C, spatial... input."""
    v = ctx.value_of(t)
    if v is not None:
        return const(ctx, np.asarray(v).reshape(_channel_shape(r)))
    return reshape(ctx, t, _channel_shape(r))


def _channel_input(ctx, node, i, x, r):
    """Input ``i`` (C,) as (1, C, 1, ...) of ``x``'s type; constants stay constants (no extra layer)."""
    v = value(ctx, node, i)
    if v is not None and x.dtype.name in ("FLOAT", "HALF"):
        return const(ctx, np.asarray(v, np.float16 if x.dtype.name == "HALF" else np.float32)
                     .reshape(_channel_shape(r)))
    return _per_channel(ctx, cast(ctx, inp(ctx, node, i), x.dtype), r)


def _mask(axes):
    m = 0
    for a in axes:
        m |= 1 << a
    return m


# ----------------------------------------------------------------------------------------------- BatchNormalization
@importer("BatchNormalization", since=1)
def batch_norm_1(ctx, node):
    if int(attr(node, "training_mode", 0)) or int(attr(node, "is_test", 1)) == 0:
        fail(node, "training mode is not supported; export the model in eval mode (training_mode=0)")
    if any(o for o in node.outputs[1:]):
        fail(node, "the running mean/var and saved statistics outputs exist only in training; remove them from the "
                   "node (export the model in eval mode)", E.UNSUPPORTED_NODE)
    x = inp(ctx, node, 0)
    r = rank(x)
    if r < 2:
        fail(node, f"input must be N, C, ... (rank >= 2), got rank {r}", E.INVALID_NODE)
    eps = float(attr(node, "epsilon", 1e-5))
    if int(attr(node, "spatial", 1)) == 0:  # opset < 9: statistics per activation (C, D1, ...), not per channel
        scale, bias, mean, var = (unsqueeze_front(ctx, cast(ctx, inp(ctx, node, i), x.dtype), 1)
                                  for i in range(1, 5))
        return [_bn_compose(ctx, x, scale, bias, mean, var, eps)]
    vals = [value(ctx, node, i) for i in range(1, 5)]
    if all(v is not None for v in vals) and x.dtype.name in ("FLOAT", "HALF", "BF16"):
        scale, bias, mean, var = (np.asarray(v, np.float64).reshape(-1) for v in vals)
        s = scale / np.sqrt(var + eps)
        shift = bias - mean * s
        layer = ctx.network.add_scale_nd(x, ScaleMode.CHANNEL, shift.astype(np.float32), s.astype(np.float32),
                                         None, 1)
        return [done(layer)]
    scale, bias, mean, var = (_channel_input(ctx, node, i, x, r) for i in range(1, 5))
    return [_bn_compose(ctx, x, scale, bias, mean, var, eps)]


def _bn_compose(ctx, x, scale, bias, mean, var, eps):
    std = unary(ctx, ew(ctx, var, scalar_like(ctx, eps, var), EW.SUM), U.SQRT)
    y = ew(ctx, ew(ctx, x, mean, EW.SUB), std, EW.DIV)
    return ew(ctx, ew(ctx, y, scale, EW.PROD), bias, EW.SUM)


# ----------------------------------------------------------------------------------------------- Instance / Group
@importer("InstanceNormalization", since=1)
def instance_norm_1(ctx, node):
    x = inp(ctx, node, 0)
    r = rank(x)
    if r < 3:
        fail(node, f"input must be N, C, spatial... (rank >= 3), got rank {r}", E.INVALID_NODE)
    scale, bias = _channel_input(ctx, node, 1, x, r), _channel_input(ctx, node, 2, x, r)
    layer = ctx.network.add_normalization(x, scale, bias, _mask(range(2, r)))
    layer.epsilon = float(attr(node, "epsilon", 1e-5))
    return [done(layer)]


def _group_norm(ctx, node, per_group):
    x = inp(ctx, node, 0)
    r = rank(x)
    if r < 3:
        fail(node, f"input must be N, C, spatial... (rank >= 3), got rank {r}", E.INVALID_NODE)
    g = int(attr(node, "num_groups"))
    c = x.shape[1]
    params = []
    for i in (1, 2):
        if not per_group:
            params.append(_channel_input(ctx, node, i, x, r))
            continue
        if c < 0:
            fail(node, "opset-18 GroupNormalization needs a static channel dim", E.UNSUPPORTED_NODE_DYNAMIC)
        if c % g:
            fail(node, f"channels {c} are not divisible by num_groups {g}", E.INVALID_NODE)
        v = value(ctx, node, i)
        if v is not None:  # per-group values repeated per channel
            t = cast(ctx, const(ctx, np.repeat(np.asarray(v, np.float32).reshape(-1), c // g)), x.dtype)
        else:
            idx = const(ctx, np.arange(c, dtype=np.int64) // (c // g))
            t = ctx.network.add_gather(cast(ctx, inp(ctx, node, i), x.dtype), idx, 0).get_output(0)
        params.append(_per_channel(ctx, t, r))
    layer = ctx.network.add_normalization(x, params[0], params[1], _mask(range(2, r)))
    layer.epsilon = float(attr(node, "epsilon", 1e-5))
    layer.num_groups = g
    return [done(layer)]


@importer("GroupNormalization", since=18)
def group_norm_18(ctx, node):
    return _group_norm(ctx, node, True)


@importer("GroupNormalization", since=21)
def group_norm_21(ctx, node):
    return _group_norm(ctx, node, False)


# ----------------------------------------------------------------------------------------------- Layer / RMS
def _trailing_param(ctx, node, i, x, r):
    """Input ``i`` (a scale/bias over the trailing normalized dims) lifted to the input's rank and type."""
    v = value(ctx, node, i)
    if v is not None and x.dtype.name in ("FLOAT", "HALF"):
        v = np.asarray(v, np.float16 if x.dtype.name == "HALF" else np.float32)
        return const(ctx, v.reshape((1,) * (r - v.ndim) + v.shape))
    t = cast(ctx, inp(ctx, node, i), x.dtype)
    return unsqueeze_front(ctx, t, r - rank(t))


@importer("LayerNormalization", since=17)
def layer_norm_17(ctx, node):
    x = inp(ctx, node, 0)
    r = rank(x)
    axis = norm_axes(node, [int(attr(node, "axis", -1))], r)[0]
    eps = float(attr(node, "epsilon", 1e-5))
    axes = list(range(axis, r))
    scale = _trailing_param(ctx, node, 1, x, r)
    if has_input(node, 2):
        bias = _trailing_param(ctx, node, 2, x, r)
    else:
        bias = scalar_like(ctx, 0.0, x)
    layer = ctx.network.add_normalization(x, scale, bias, _mask(axes))
    layer.epsilon = eps
    outs = [done(layer)]
    want_mean = len(node.outputs) > 1 and bool(node.outputs[1])
    want_inv = len(node.outputs) > 2 and bool(node.outputs[2])
    if want_mean or want_inv:
        xf = to_float(ctx, x)
        mean = reduce(ctx, xf, R.AVG, axes, True)
        d = ew(ctx, xf, mean, EW.SUB)
        var = reduce(ctx, ew(ctx, d, d, EW.PROD), R.AVG, axes, True)
        inv = unary(ctx, unary(ctx, ew(ctx, var, scalar_like(ctx, eps, var), EW.SUM), U.SQRT), U.RECIP)
        outs += [mean if want_mean else None, inv if want_inv else None]
    return outs


@importer("RMSNormalization", since=23)
def rms_norm_23(ctx, node):
    x = inp(ctx, node, 0)
    r = rank(x)
    axis = norm_axes(node, [int(attr(node, "axis", -1))], r)[0]
    eps = float(attr(node, "epsilon", 1e-5))
    xf = to_float(ctx, x)
    ms = reduce(ctx, ew(ctx, xf, xf, EW.PROD), R.AVG, list(range(axis, r)), True)
    inv = unary(ctx, unary(ctx, ew(ctx, ms, scalar_like(ctx, eps, ms), EW.SUM), U.SQRT), U.RECIP)
    y = cast(ctx, ew(ctx, xf, inv, EW.PROD), x.dtype)
    return [ew(ctx, y, _trailing_param(ctx, node, 1, x, r), EW.PROD)]


@importer("MeanVarianceNormalization", since=9)
def mvn_9(ctx, node):
    x = inp(ctx, node, 0)
    r = rank(x)
    axes = norm_axes(node, attr(node, "axes", [0, 2, 3]), r)
    mean = reduce(ctx, x, R.AVG, axes, True)
    ex2 = reduce(ctx, ew(ctx, x, x, EW.PROD), R.AVG, axes, True)
    var = ew(ctx, ex2, ew(ctx, mean, mean, EW.PROD), EW.SUB)
    std = ew(ctx, unary(ctx, var, U.SQRT), scalar_like(ctx, 1e-9, var), EW.SUM)
    return [ew(ctx, ew(ctx, x, mean, EW.SUB), std, EW.DIV)]


@importer("LpNormalization", since=1)
def lp_norm_1(ctx, node):
    x = inp(ctx, node, 0)
    r = rank(x)
    axis = norm_axes(node, [int(attr(node, "axis", -1))], r)[0]
    p = int(attr(node, "p", 2))
    if p not in (1, 2):
        fail(node, f"p must be 1 or 2, got {p}", E.INVALID_NODE)
    a = unary(ctx, x, U.ABS)
    if p == 1:
        norm = reduce(ctx, a, R.SUM, [axis], True)
    else:
        norm = unary(ctx, reduce(ctx, ew(ctx, x, x, EW.PROD), R.SUM, [axis], True), U.SQRT)
    # an all-zero slice stays zero (0 / tiny) instead of becoming NaN, as ONNX's reference does
    norm = ew(ctx, norm, scalar_like(ctx, 1e-30, norm), EW.MAX)
    return [ew(ctx, x, norm, EW.DIV)]


@importer("LRN", since=1)
def lrn_1(ctx, node):
    x = inp(ctx, node, 0)
    size = int(attr(node, "size"))
    layer = ctx.network.add_lrn(x, size, float(attr(node, "alpha", 1e-4)), float(attr(node, "beta", 0.75)),
                                float(attr(node, "bias", 1.0)))
    return [done(layer)]
