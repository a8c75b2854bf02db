"""Importers for ONNX convolution and pooling: Conv, ConvTranspose, MaxPool (with Indices), AveragePool, LpPool,
GlobalAveragePool, GlobalMaxPool, GlobalLpPool, and ImageScaler.

Conv/ConvTranspose map onto IConvolutionLayer / IDeconvolutionLayer (1-D to 3-D, groups, dilations, bias,
auto_pad through ``padding_mode``), pools onto IPoolingLayer (ceil_mode -> EXPLICIT_ROUND_UP). MaxPool's Indices
output uses the ``max_pool_indices`` op (``inferrt/ops/onnx_nn.py``).
"""
from __future__ import annotations

import numpy as np

from ...enums import (DataType, ElementWiseOperation as EW, PaddingMode as PM, ParserErrorCode as E, PoolingType,
                      ReduceOperation, UnaryOperation as U)
from ..registry import importer
from ._compose import attr, cast, const, done, ew, fail, has_input, inp, rank, reduce, scalar_like, unary, value


def _spatial(node, x, nsp):
    """(strides, dilations, pre, post, padding_mode) from the ONNX attributes for ``nsp`` spatial dims."""
    strides = list(attr(node, "strides", None) or [1] * nsp)
    dil = list(attr(node, "dilations", None) or [1] * nsp)
    pads = list(attr(node, "pads", None) or [0] * (2 * nsp))
    if len(strides) != nsp or len(dil) != nsp or len(pads) != 2 * nsp:
        fail(node, f"strides {strides}, dilations {dil} and pads {pads} do not match {nsp} spatial dims",
             E.INVALID_NODE)
    _check_ints(node, "strides", strides, 1)
    _check_ints(node, "dilations", dil, 1)
    _check_ints(node, "pads", pads, 0)
    auto = attr(node, "auto_pad", "NOTSET")
    mode = PM.EXPLICIT_ROUND_DOWN
    pre, post = pads[:nsp], pads[nsp:]
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        mode = PM.SAME_UPPER if auto == "SAME_UPPER" else PM.SAME_LOWER
        pre, post = [0] * nsp, [0] * nsp
    elif auto == "VALID":
        pre, post = [0] * nsp, [0] * nsp
    elif auto != "NOTSET":
        fail(node, f"auto_pad {auto!r} is not NOTSET, SAME_UPPER, SAME_LOWER or VALID", E.INVALID_NODE)
    return strides, dil, pre, post, mode


#: attribute values beyond this are damage, not a model (no tensor has 2**31 elements along one dim)
_MAX_ATTR = 2 ** 31 - 1


def _check_ints(node, name, values, lo):
    """Refuse an integer attribute with a value below ``lo`` (or absurdly large), naming the node and field."""
    for i, v in enumerate(values):
        if not isinstance(v, (int, np.integer)) or not lo <= int(v) <= _MAX_ATTR:
            fail(node, f"attribute {name!r} = {list(values)}: value {v} at position {i} must be an integer from "
                       f"{lo} to {_MAX_ATTR}", E.INVALID_NODE)


def _configure(layer, strides, dil, pre, post, mode, dilations=True):
    layer.stride_nd = tuple(strides)
    if dilations:
        layer.dilation_nd = tuple(dil)
    layer.pre_padding = tuple(pre)
    layer.post_padding = tuple(post)
    layer.padding_mode = mode


# ----------------------------------------------------------------------------------------------- Conv
def _conv_operands(ctx, node):
    """(x, number of spatial dims, constant weights or None, weight tensor when not constant, weight shape) of a
    Conv / ConvTranspose node, with its rank and weight-shape checks."""
    x = inp(ctx, node, 0)
    r = rank(x)
    if r not in (3, 4, 5):
        fail(node, f"input must be 3-D to 5-D (N, C, spatial...), got rank {r}", E.UNSUPPORTED_NODE_SHAPE)
    w = value(ctx, node, 1)
    w_t = inp(ctx, node, 1) if w is None else None  # constant weights become layer weights, not a tensor
    wshape = tuple(w.shape) if w is not None else tuple(w_t.shape)
    if len(wshape) != r or any(d < 0 for d in wshape):
        fail(node, f"weights of shape {wshape} must be static with rank {r}", E.UNSUPPORTED_NODE_SHAPE)
    return x, r - 2, w, w_t, wshape


@importer("Conv", since=1)
def conv_1(ctx, node):
    x, nsp, w, w_t, wshape = _conv_operands(ctx, node)
    ks = attr(node, "kernel_shape", None)
    _check_ints(node, "weights' shape", wshape, 1)
    if ks is not None and tuple(ks) != wshape[2:]:
        fail(node, f"kernel_shape {tuple(ks)} disagrees with the weights' shape {wshape}", E.INVALID_NODE)
    b = value(ctx, node, 2) if has_input(node, 2) else None
    layer = ctx.network.add_convolution_nd(x, wshape[0], wshape[2:], w, b)
    if w is None:
        layer.set_input(1, w_t)
    if b is None and has_input(node, 2):
        layer.set_input(2, inp(ctx, node, 2))
    _configure(layer, *_spatial(node, x, nsp))
    group = int(attr(node, "group", 1))
    _check_ints(node, "group", [group], 1)
    layer.num_groups = group
    return [done(layer)]


@importer("ConvTranspose", since=1)
def conv_transpose_1(ctx, node):
    x, nsp, w, w_t, wshape = _conv_operands(ctx, node)
    g = int(attr(node, "group", 1))
    _check_ints(node, "group", [g], 1)
    _check_ints(node, "weights' shape", wshape, 1)
    k = wshape[2:]
    strides, dil, pre, post, mode = _spatial(node, x, nsp)
    outpad = list(attr(node, "output_padding", None) or [0] * nsp)
    if len(outpad) != nsp:
        fail(node, f"output_padding {outpad} does not match {nsp} spatial dims", E.INVALID_NODE)
    _check_ints(node, "output_padding", outpad, 0)
    out_shape = attr(node, "output_shape", None)
    if out_shape is not None:
        out_shape = list(out_shape)[-nsp:]
        if len(out_shape) != nsp:
            fail(node, f"output_shape {list(attr(node, 'output_shape'))} has fewer than {nsp} spatial dims",
                 E.INVALID_NODE)
        _check_ints(node, "output_shape", out_shape, 1)
        ins = tuple(x.shape[2:])
        if any(d < 0 for d in ins):
            fail(node, "output_shape needs static spatial input dims", E.UNSUPPORTED_NODE_DYNAMIC)
        auto = attr(node, "auto_pad", "NOTSET")
        pre, post = [], []
        for i in range(nsp):
            total = strides[i] * (ins[i] - 1) + outpad[i] + (k[i] - 1) * dil[i] + 1 - out_shape[i]
            if total < 0:  # the output is larger than the full transposed conv: extend with output padding
                outpad[i] -= total
                total = 0
            if auto == "SAME_UPPER":
                pre.append(total // 2)
                post.append(total - total // 2)
            else:
                pre.append(total - total // 2)
                post.append(total // 2)
        mode = PM.EXPLICIT_ROUND_DOWN
    elif mode in (PM.SAME_UPPER, PM.SAME_LOWER):
        ins = tuple(x.shape[2:])
        if any(d < 0 for d in ins):
            fail(node, "auto_pad SAME needs static spatial input dims for ConvTranspose", E.UNSUPPORTED_NODE_DYNAMIC)
        pre, post = [], []
        for i in range(nsp):
            total = max(0, strides[i] * (ins[i] - 1) + outpad[i] + (k[i] - 1) * dil[i] + 1 - ins[i] * strides[i])
            small, big = total // 2, total - total // 2
            pre.append(small if mode == PM.SAME_UPPER else big)
            post.append(big if mode == PM.SAME_UPPER else small)
        mode = PM.EXPLICIT_ROUND_DOWN
    b = value(ctx, node, 2) if has_input(node, 2) else None
    layer = ctx.network.add_deconvolution_nd(x, wshape[1] * g, k, w, b)
    if w is None:
        layer.set_input(1, w_t)
    if b is None and has_input(node, 2):
        layer.set_input(2, inp(ctx, node, 2))
    _configure(layer, strides, dil, pre, post, mode)
    layer.num_groups = g
    if any(outpad):
        layer.output_padding = tuple(outpad)
    return [done(layer)]


# ----------------------------------------------------------------------------------------------- pooling
def _pool_params(ctx, node):
    x = inp(ctx, node, 0)
    r = rank(x)
    if r not in (3, 4, 5):
        fail(node, f"input must be 3-D to 5-D (N, C, spatial...), got rank {r}", E.UNSUPPORTED_NODE_SHAPE)
    ks = attr(node, "kernel_shape", None)
    if ks is None or len(ks) != r - 2:
        fail(node, f"kernel_shape {ks} must have {r - 2} values", E.INVALID_NODE)
    _check_ints(node, "kernel_shape", ks, 1)
    return x, tuple(int(v) for v in ks), _spatial(node, x, r - 2)


def _pool(ctx, node, ptype, x, ks, params, exclude_pad=True):
    strides, dil, pre, post, mode = params
    ceil = bool(attr(node, "ceil_mode", 0))
    if ceil:
        if mode != PM.EXPLICIT_ROUND_DOWN:
            pass  # SAME padding gives ceil(in / stride) outputs either way
        else:
            mode = PM.EXPLICIT_ROUND_UP
    layer = ctx.network.add_pooling_nd(x, ptype, ks)
    _configure(layer, strides, dil, pre, post, mode)
    layer.average_count_excludes_padding = exclude_pad
    return done(layer)


@importer("MaxPool", since=1)
def max_pool_1(ctx, node):
    x, ks, params = _pool_params(ctx, node)
    want_idx = len(node.outputs) > 1 and bool(node.outputs[1])
    if x.dtype in (DataType.INT8, DataType.UINT8, DataType.INT32):  # exact in FLOAT; the pooling layer is float
        y = cast(ctx, _pool(ctx, node, PoolingType.MAX, cast(ctx, x, DataType.FLOAT), ks, params), x.dtype)
    else:
        y = _pool(ctx, node, PoolingType.MAX, x, ks, params)
    if not want_idx:
        return [y]
    strides, dil, pre, post, mode = params
    if not hasattr(ctx.network, "add_max_pool_indices"):
        fail(node, "the Indices output needs the max_pool_indices layer, which this build lacks")
    layer = ctx.network.add_max_pool_indices(x, ks)
    _configure(layer, strides, dil, pre, post, mode)
    layer.padding_mode = PM.EXPLICIT_ROUND_UP if bool(attr(node, "ceil_mode", 0)) and mode == PM.EXPLICIT_ROUND_DOWN \
        else mode
    layer.storage_order = int(attr(node, "storage_order", 0))
    return [y, done(layer)]


@importer("AveragePool", since=1)
def average_pool_1(ctx, node):
    x, ks, params = _pool_params(ctx, node)  # dilations (opset 19) go onto the pooling layer's dilation_nd
    exclude = not bool(attr(node, "count_include_pad", 0))
    return [_pool(ctx, node, PoolingType.AVERAGE, x, ks, params, exclude)]


def _abs_pow(ctx, x, p):
    a = unary(ctx, x, U.ABS)
    if p == 1:
        return a
    if p == 2:
        return ew(ctx, a, a, EW.PROD)
    return ew(ctx, a, scalar_like(ctx, float(p), a), EW.POW)


def _root(ctx, x, p):
    if p == 1:
        return x
    if p == 2:
        return unary(ctx, x, U.SQRT)
    return ew(ctx, x, scalar_like(ctx, 1.0 / p, x), EW.POW)


@importer("LpPool", since=1)
def lp_pool_1(ctx, node):
    x, ks, params = _pool_params(ctx, node)
    p = float(attr(node, "p", 2))
    xp = _abs_pow(ctx, x, p)
    if any(d != 1 for d in params[1]):  # dilated window sums: a depthwise convolution with a kernel of ones
        c = x.shape[1]
        if c < 0:
            fail(node, "dilated LpPool needs a static channel dim", E.UNSUPPORTED_NODE_DYNAMIC)
        if bool(attr(node, "ceil_mode", 0)):
            fail(node, "dilated LpPool with ceil_mode=1 is not supported")
        layer = ctx.network.add_convolution_nd(xp, c, ks, np.ones((c, 1) + ks, np.float32), None)
        _configure(layer, *params)
        layer.num_groups = c
        return [_root(ctx, done(layer), p)]
    s = _pool(ctx, node, PoolingType.AVERAGE, xp, ks, params, exclude_pad=False)
    s = ew(ctx, s, scalar_like(ctx, float(np.prod(ks)), s), EW.PROD)
    return [_root(ctx, s, p)]


def _global(ctx, node, op):
    x = inp(ctx, node, 0)
    r = rank(x)
    if r < 3:
        fail(node, f"input must be N, C, spatial... (rank >= 3), got rank {r}", E.INVALID_NODE)
    return x, list(range(2, r))


@importer("GlobalAveragePool", since=1)
def global_average_pool_1(ctx, node):
    x, axes = _global(ctx, node, "avg")
    return [reduce(ctx, x, ReduceOperation.AVG, axes, True)]


@importer("GlobalMaxPool", since=1)
def global_max_pool_1(ctx, node):
    x, axes = _global(ctx, node, "max")
    return [reduce(ctx, x, ReduceOperation.MAX, axes, True)]


@importer("GlobalLpPool", since=2)
def global_lp_pool_2(ctx, node):
    x, axes = _global(ctx, node, "lp")
    p = float(attr(node, "p", 2))
    return [_root(ctx, reduce(ctx, _abs_pow(ctx, x, p), ReduceOperation.SUM, axes, True), p)]


# ----------------------------------------------------------------------------------------------- pointwise
@importer("ImageScaler", since=1)
def image_scaler_1(ctx, node):
    x = inp(ctx, node, 0)
    r = rank(x)
    bias = np.asarray(attr(node, "bias", [0.0]), np.float32)
    scale = float(attr(node, "scale", 1.0))
    y = ew(ctx, x, scalar_like(ctx, scale, x), EW.PROD)
    b = bias.reshape((1, -1) + (1,) * (r - 2))
    return [ew(ctx, y, const(ctx, b), EW.SUM)]
