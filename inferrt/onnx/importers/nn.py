"""Importers for ONNX convolution and pooling (the conv and pooling families): Conv, ConvTranspose, DeformConv,
Col2Im, MaxPool (with Indices), AveragePool, LpPool, GlobalAveragePool, GlobalMaxPool, GlobalLpPool, MaxRoiPool,
RoiAlign, MaxUnpool, and ImageScaler.

Conv/ConvTranspose map onto IConvolutionLayer / IDeconvolutionLayer (1-D to 3-D, groups, dilations, bias,
auto_pad through ``padding_mode``), pools onto IPoolingLayer (ceil_mode -> EXPLICIT_ROUND_UP). MaxPool's Indices
output uses the ``max_pool_indices`` op (``inferrt/ops/pooling.py``). DeformConv, Col2Im, the RoI pools and
MaxUnpool map onto ONNX-only kinds of the same families (``deform_conv``, ``col2im``, ``max_roi_pool``,
``roi_align``, ``max_unpool``).
"""
from __future__ import annotations

import numpy as np

from ...enums import (DataType, ElementWiseOperation as EW, PaddingMode as PM, ParserErrorCode as E, PoolingType,
                      ReduceOperation, UnaryOperation as U)
from ...ir.kinds import Kind
from ..registry import importer


def _spatial(ctx, node, x, nsp):
    """(strides, dilations, pre, post, padding_mode) from the ONNX attributes for ``nsp`` spatial dims."""
    strides = list(ctx.attr(node, "strides", None) or [1] * nsp)
    dil = list(ctx.attr(node, "dilations", None) or [1] * nsp)
    pads = list(ctx.attr(node, "pads", None) or [0] * (2 * nsp))
    if len(strides) != nsp or len(dil) != nsp or len(pads) != 2 * nsp:
        ctx.fail(f"strides {strides}, dilations {dil} and pads {pads} do not match {nsp} spatial dims",
                 E.INVALID_NODE)
    _check_ints(ctx, node, "strides", strides, 1)
    _check_ints(ctx, node, "dilations", dil, 1)
    _check_ints(ctx, node, "pads", pads, 0)
    auto = ctx.attr(node, "auto_pad", "NOTSET")
    mode = PM.EXPLICIT_ROUND_DOWN
    pre, post = pads[:nsp], pads[nsp:]
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        mode = PM.SAME_UPPER if auto == "SAME_UPPER" else PM.SAME_LOWER
        pre, post = [0] * nsp, [0] * nsp
    elif auto == "VALID":
        pre, post = [0] * nsp, [0] * nsp
    elif auto != "NOTSET":
        ctx.fail(f"auto_pad {auto!r} is not NOTSET, SAME_UPPER, SAME_LOWER or VALID", E.INVALID_NODE)
    return strides, dil, pre, post, mode


#: attribute values beyond this are damage, not a model (no tensor has 2**31 elements along one dim)
_MAX_ATTR = 2 ** 31 - 1


def _check_ints(ctx, node, name, values, lo):
    """Refuse an integer attribute with a value below ``lo`` (or absurdly large), naming the node and field."""
    for i, v in enumerate(values):
        if not isinstance(v, (int, np.integer)) or not lo <= int(v) <= _MAX_ATTR:
            ctx.fail(f"attribute {name!r} = {list(values)}: value {v} at position {i} must be an integer from "
                     f"{lo} to {_MAX_ATTR}", E.INVALID_NODE)


def _configure(layer, strides, dil, pre, post, mode, dilations=True):
    layer.stride_nd = tuple(strides)
    if dilations:
        layer.dilation_nd = tuple(dil)
    layer.pre_padding = tuple(pre)
    layer.post_padding = tuple(post)
    layer.padding_mode = mode


# ----------------------------------------------------------------------------------------------- Conv
def _conv_operands(ctx, node, keep_quantized=False):
    """(x, number of spatial dims, constant weights or None, weight tensor when not constant, weight shape) of a
    Conv / ConvTranspose node, with its rank and weight-shape checks. ``keep_quantized``: quantized weights (a
    DequantizeLinear of constants) stay a tensor, as TensorRT's parser keeps them, so the builder runs the
    convolution on the quantized values (passes/fuse_qdq.py)."""
    x = ctx.input(node, 0)
    r = ctx.rank(x)
    if r not in (3, 4, 5):
        ctx.fail(f"input must be 3-D to 5-D (N, C, spatial...), got rank {r}", E.UNSUPPORTED_NODE_SHAPE)
    w = None if keep_quantized and ctx.producer_kind(node.inputs[1]) == Kind.DEQUANTIZE else ctx.input_value(node, 1)
    w_t = ctx.input(node, 1) if w is None else None  # constant weights become layer weights, not a tensor
    wshape = tuple(w.shape) if w is not None else tuple(w_t.shape)
    if len(wshape) != r or any(d < 0 for d in wshape):
        ctx.fail(f"weights of shape {wshape} must be static with rank {r}", E.UNSUPPORTED_NODE_SHAPE)
    return x, r - 2, w, w_t, wshape


@importer("Conv", since=1)
def conv_1(ctx, node):
    x, nsp, w, w_t, wshape = _conv_operands(ctx, node, keep_quantized=True)
    ks = ctx.attr(node, "kernel_shape", None)
    _check_ints(ctx, node, "weights' shape", wshape, 1)
    if ks is not None and tuple(ks) != wshape[2:]:
        ctx.fail(f"kernel_shape {tuple(ks)} disagrees with the weights' shape {wshape}", E.INVALID_NODE)
    b = ctx.input_value(node, 2) if ctx.has_input(node, 2) else None
    layer = ctx.network.add_convolution_nd(x, wshape[0], wshape[2:], w, b)
    if w is None:
        layer.set_input(1, w_t)
    if b is None and ctx.has_input(node, 2):
        layer.set_input(2, ctx.input(node, 2))
    _configure(layer, *_spatial(ctx, node, x, nsp))
    group = int(ctx.attr(node, "group", 1))
    _check_ints(ctx, node, "group", [group], 1)
    layer.num_groups = group
    return [ctx.done(layer)]


@importer("ConvTranspose", since=1)
def conv_transpose_1(ctx, node):
    x, nsp, w, w_t, wshape = _conv_operands(ctx, node)
    g = int(ctx.attr(node, "group", 1))
    _check_ints(ctx, node, "group", [g], 1)
    _check_ints(ctx, node, "weights' shape", wshape, 1)
    k = wshape[2:]
    strides, dil, pre, post, mode = _spatial(ctx, node, x, nsp)
    outpad = list(ctx.attr(node, "output_padding", None) or [0] * nsp)
    if len(outpad) != nsp:
        ctx.fail(f"output_padding {outpad} does not match {nsp} spatial dims", E.INVALID_NODE)
    _check_ints(ctx, node, "output_padding", outpad, 0)
    out_shape = ctx.attr(node, "output_shape", None)
    if out_shape is not None:
        out_shape = list(out_shape)[-nsp:]
        if len(out_shape) != nsp:
            ctx.fail(f"output_shape {list(ctx.attr(node, 'output_shape'))} has fewer than {nsp} spatial dims",
                     E.INVALID_NODE)
        _check_ints(ctx, node, "output_shape", out_shape, 1)
        ins = tuple(x.shape[2:])
        if any(d < 0 for d in ins):
            ctx.fail("output_shape needs static spatial input dims", E.UNSUPPORTED_NODE_DYNAMIC)
        auto = ctx.attr(node, "auto_pad", "NOTSET")
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
            ctx.fail("auto_pad SAME needs static spatial input dims for ConvTranspose", E.UNSUPPORTED_NODE_DYNAMIC)
        pre, post = [], []
        for i in range(nsp):
            total = max(0, strides[i] * (ins[i] - 1) + outpad[i] + (k[i] - 1) * dil[i] + 1 - ins[i] * strides[i])
            small, big = total // 2, total - total // 2
            pre.append(small if mode == PM.SAME_UPPER else big)
            post.append(big if mode == PM.SAME_UPPER else small)
        mode = PM.EXPLICIT_ROUND_DOWN
    b = ctx.input_value(node, 2) if ctx.has_input(node, 2) else None
    layer = ctx.network.add_deconvolution_nd(x, wshape[1] * g, k, w, b)
    if w is None:
        layer.set_input(1, w_t)
    if b is None and ctx.has_input(node, 2):
        layer.set_input(2, ctx.input(node, 2))
    _configure(layer, strides, dil, pre, post, mode)
    layer.num_groups = g
    if any(outpad):
        layer.output_padding = tuple(outpad)
    return [ctx.done(layer)]


@importer("DeformConv", since=19)
def deform_conv(ctx, node):
    x, w, off = ctx.float_input(node, 0), ctx.float_input(node, 1, "W"), ctx.float_input(node, 2, "offset")
    if ctx.rank(x) != 4:
        ctx.fail(f"input {x.name!r} has rank {ctx.rank(x)}; only 2-D deformable convolution (N, C, H, W) is "
                 f"supported", E.UNSUPPORTED_NODE_SHAPE)
    ks = node.attr("kernel_shape", None)
    if ks is not None and w.shape[2:] and all(d >= 0 for d in w.shape[2:]) and tuple(ks) != tuple(w.shape[2:]):
        ctx.fail(f"kernel_shape {tuple(ks)} differs from the weights' {tuple(w.shape[2:])}", E.INVALID_NODE)
    bias = ctx.tensor(node.input(3)) if node.input(3) else None
    mask = ctx.tensor(node.input(4)) if node.input(4) else None
    attrs = {"strides": tuple(node.attr("strides", ())), "pads": tuple(node.attr("pads", ())),
             "dilations": tuple(node.attr("dilations", ())), "group": int(node.attr("group", 1)),
             "offset_group": int(node.attr("offset_group", 1))}
    return ctx.add_op(Kind.DEFORM_CONV, [x, w, off, bias, mask], attrs)


@importer("Col2Im", since=18)
def col2im(ctx, node):
    x = ctx.tensor(node.inputs[0])
    attrs = {k: tuple(node.attr(k, ())) for k in ("dilations", "pads", "strides")}
    return ctx.add_op(Kind.COL2IM, [x, ctx.int64_input(node, 1), ctx.int64_input(node, 2)], attrs)


# ----------------------------------------------------------------------------------------------- pooling
def _pool_params(ctx, node):
    x = ctx.input(node, 0)
    r = ctx.rank(x)
    if r not in (3, 4, 5):
        ctx.fail(f"input must be 3-D to 5-D (N, C, spatial...), got rank {r}", E.UNSUPPORTED_NODE_SHAPE)
    ks = ctx.attr(node, "kernel_shape", None)
    if ks is None or len(ks) != r - 2:
        ctx.fail(f"kernel_shape {ks} must have {r - 2} values", E.INVALID_NODE)
    _check_ints(ctx, node, "kernel_shape", ks, 1)
    return x, tuple(int(v) for v in ks), _spatial(ctx, node, x, r - 2)


def _pool(ctx, node, ptype, x, ks, params, exclude_pad=True):
    strides, dil, pre, post, mode = params
    ceil = bool(ctx.attr(node, "ceil_mode", 0))
    if ceil:
        if mode != PM.EXPLICIT_ROUND_DOWN:
            pass  # SAME padding gives ceil(in / stride) outputs either way
        else:
            mode = PM.EXPLICIT_ROUND_UP
    layer = ctx.network.add_pooling_nd(x, ptype, ks)
    _configure(layer, strides, dil, pre, post, mode)
    layer.average_count_excludes_padding = exclude_pad
    return ctx.done(layer)


@importer("MaxPool", since=1)
def max_pool_1(ctx, node):
    x, ks, params = _pool_params(ctx, node)
    want_idx = len(node.outputs) > 1 and bool(node.outputs[1])
    if x.dtype in (DataType.INT8, DataType.UINT8, DataType.INT32):  # exact in FLOAT; the pooling layer is float
        y = ctx.cast(_pool(ctx, node, PoolingType.MAX, ctx.cast(x, DataType.FLOAT), ks, params), x.dtype)
    else:
        y = _pool(ctx, node, PoolingType.MAX, x, ks, params)
    if not want_idx:
        return [y]
    strides, dil, pre, post, mode = params
    if not hasattr(ctx.network, "add_max_pool_indices"):
        ctx.fail("the Indices output needs the max_pool_indices layer, which this build lacks", E.UNSUPPORTED_NODE_ATTR)
    layer = ctx.network.add_max_pool_indices(x, ks)
    _configure(layer, strides, dil, pre, post, mode)
    ceil = bool(ctx.attr(node, "ceil_mode", 0))
    layer.padding_mode = PM.EXPLICIT_ROUND_UP if ceil and mode == PM.EXPLICIT_ROUND_DOWN else mode
    layer.storage_order = int(ctx.attr(node, "storage_order", 0))
    return [y, ctx.done(layer)]


@importer("AveragePool", since=1)
def average_pool_1(ctx, node):
    x, ks, params = _pool_params(ctx, node)  # dilations (opset 19) go onto the pooling layer's dilation_nd
    exclude = not bool(ctx.attr(node, "count_include_pad", 0))
    return [_pool(ctx, node, PoolingType.AVERAGE, x, ks, params, exclude)]


def _abs_pow(ctx, x, p):
    a = ctx.unary(x, U.ABS)
    if p == 1:
        return a
    if p == 2:
        return ctx.elementwise(a, a, EW.PROD)
    return ctx.elementwise(a, ctx.scalar_like(float(p), a), EW.POW)


def _root(ctx, x, p):
    if p == 1:
        return x
    if p == 2:
        return ctx.unary(x, U.SQRT)
    return ctx.elementwise(x, ctx.scalar_like(1.0 / p, x), EW.POW)


@importer("LpPool", since=1)
def lp_pool_1(ctx, node):
    x, ks, params = _pool_params(ctx, node)
    p = float(ctx.attr(node, "p", 2))
    xp = _abs_pow(ctx, x, p)
    if any(d != 1 for d in params[1]):  # dilated window sums: a depthwise convolution with a kernel of ones
        c = x.shape[1]
        if c < 0:
            ctx.fail("dilated LpPool needs a static channel dim", E.UNSUPPORTED_NODE_DYNAMIC)
        if bool(ctx.attr(node, "ceil_mode", 0)):
            ctx.fail("dilated LpPool with ceil_mode=1 is not supported", E.UNSUPPORTED_NODE_ATTR)
        layer = ctx.network.add_convolution_nd(xp, c, ks, np.ones((c, 1) + ks, np.float32), None)
        _configure(layer, *params)
        layer.num_groups = c
        return [_root(ctx, ctx.done(layer), p)]
    s = _pool(ctx, node, PoolingType.AVERAGE, xp, ks, params, exclude_pad=False)
    s = ctx.elementwise(s, ctx.scalar_like(float(np.prod(ks)), s), EW.PROD)
    return [_root(ctx, s, p)]


def _global(ctx, node, op):
    x = ctx.input(node, 0)
    r = ctx.rank(x)
    if r < 3:
        ctx.fail(f"input must be N, C, spatial... (rank >= 3), got rank {r}", E.INVALID_NODE)
    return x, list(range(2, r))


@importer("GlobalAveragePool", since=1)
def global_average_pool_1(ctx, node):
    x, axes = _global(ctx, node, "avg")
    return [ctx.reduce(x, ReduceOperation.AVG, axes, True)]


@importer("GlobalMaxPool", since=1)
def global_max_pool_1(ctx, node):
    x, axes = _global(ctx, node, "max")
    return [ctx.reduce(x, ReduceOperation.MAX, axes, True)]


@importer("GlobalLpPool", since=2)
def global_lp_pool_2(ctx, node):
    x, axes = _global(ctx, node, "lp")
    p = float(ctx.attr(node, "p", 2))
    return [_root(ctx, ctx.reduce(_abs_pow(ctx, x, p), ReduceOperation.SUM, axes, True), p)]


@importer("MaxRoiPool", since=1)
def max_roi_pool(ctx, node):
    x, rois = ctx.float_input(node, 0), ctx.float_input(node, 1, "rois")
    pooled = tuple(node.attr("pooled_shape"))
    return ctx.add_op(Kind.MAX_ROI_POOL, [x, ctx.cast(rois, x.dtype)],
                      {"pooled_shape": pooled, "spatial_scale": float(node.attr("spatial_scale", 1.0))})


def _roi_align(ctx, node, default_ctm):
    x, rois = ctx.float_input(node, 0), ctx.float_input(node, 1, "rois")
    ctm = node.attr("coordinate_transformation_mode", default_ctm)
    if ctm not in ("half_pixel", "output_half_pixel"):
        ctx.fail(f"coordinate_transformation_mode {ctm!r} must be half_pixel or output_half_pixel",
                 E.UNSUPPORTED_NODE_ATTR)
    attrs = {"mode": node.attr("mode", "avg"), "output_height": int(node.attr("output_height", 1)),
             "output_width": int(node.attr("output_width", 1)), "sampling_ratio": int(node.attr("sampling_ratio", 0)),
             "spatial_scale": float(node.attr("spatial_scale", 1.0)), "half_pixel": ctm == "half_pixel"}
    return ctx.add_op(Kind.ROI_ALIGN, [x, ctx.cast(rois, x.dtype), ctx.int64_input(node, 2)], attrs)


@importer("RoiAlign", since=10)
def roi_align_10(ctx, node):
    return _roi_align(ctx, node, "output_half_pixel")


@importer("RoiAlign", since=16)
def roi_align_16(ctx, node):
    return _roi_align(ctx, node, "half_pixel")


@importer("MaxUnpool", since=9)
def max_unpool(ctx, node):
    x, idx = ctx.tensor(node.inputs[0]), ctx.int64_input(node, 1)
    out = ctx.int64_input(node, 2) if node.input(2) else None
    attrs = {"kernel_shape": tuple(node.attr("kernel_shape")), "strides": tuple(node.attr("strides", ())),
             "pads": tuple(node.attr("pads", ()))}
    return ctx.add_op(Kind.MAX_UNPOOL, [x, idx, out], attrs)


# ----------------------------------------------------------------------------------------------- pointwise
@importer("ImageScaler", since=1)
def image_scaler_1(ctx, node):
    x = ctx.input(node, 0)
    r = ctx.rank(x)
    bias = np.asarray(ctx.attr(node, "bias", [0.0]), np.float32)
    scale = float(ctx.attr(node, "scale", 1.0))
    y = ctx.elementwise(x, ctx.scalar_like(scale, x), EW.PROD)
    b = bias.reshape((1, -1) + (1,) * (r - 2))
    return [ctx.elementwise(y, ctx.constant(b), EW.SUM)]
