"""Convolution and pooling aten ops: conv1d/2d/3d, conv_transpose1d/2d/3d, convolution (incl. transposed),
max/avg pooling, adaptive average pooling (global, or output sizes that divide the input)."""
from __future__ import annotations

import torch

from inferrt.enums import PoolingType, ReduceOperation
from inferrt.torch.converters import converter
from inferrt.torch.converters.context import weight_array

aten = torch.ops.aten


def _weights(ctx, node, i):
    a = node.args[i] if i < len(node.args) else None
    if a is None:
        return None
    if not isinstance(a, torch.fx.Node) or a.op != "get_attr":
        return False
    return weight_array(ctx._attrs_of(a.target))


def _conv_supports(node):
    w = node.args[1]
    if not isinstance(w, torch.fx.Node) or w.op != "get_attr":
        return "the convolution weight is computed at run time (only constant weights convert)"
    b = node.args[2] if len(node.args) > 2 else None
    if b is not None and (not isinstance(b, torch.fx.Node) or b.op != "get_attr"):
        return "the convolution bias is computed at run time (only constant biases convert)"
    if isinstance(node.args[0], torch.fx.Node) and isinstance(node.args[0].meta.get("val"), torch.Tensor):
        if node.args[0].meta["val"].dim() not in (3, 4, 5):
            return "convolution input must have a batch dim (rank 3, 4 or 5)"
    if node.target is aten.convolution.default:
        transposed, out_pad = node.args[6], node.args[7]
        if transposed and any(out_pad):
            return "transposed convolution with output_padding has no converter"
    if node.target in _TRANSPOSED:
        out_pad = node.args[5] if len(node.args) > 5 else node.kwargs.get("output_padding", 0)
        if any(_ntuple(out_pad, 1)):
            return "transposed convolution with output_padding has no converter"
    return None


def _ntuple(v, n):
    v = list(v) if isinstance(v, (list, tuple)) else [v]
    return tuple(int(x) for x in (v * n if len(v) == 1 else v))


def _conv(ctx, node, x, w, b, stride, padding, dilation, groups, transposed=False):
    nd = len(w.shape) - 2
    if isinstance(padding, str):
        ctx.fail(f"padding={padding!r} is not supported; pass explicit padding")
    if transposed:
        layer = ctx.network.add_deconvolution_nd(x, w.shape[1] * groups, w.shape[2:], w, b)
    else:
        layer = ctx.network.add_convolution_nd(x, w.shape[0], w.shape[2:], w, b)
    layer.stride_nd = _ntuple(stride, nd)
    layer.padding_nd = _ntuple(padding, nd)
    layer.dilation_nd = _ntuple(dilation, nd)
    layer.num_groups = int(groups)
    return ctx.done(layer)


@converter(aten.conv1d.default, aten.conv2d.default, aten.conv3d.default, supports=_conv_supports)
def conv(ctx, node):
    x = ctx.tensor(ctx.arg(node, 0))
    return _conv(ctx, node, x, _weights(ctx, node, 1), _weights(ctx, node, 2), ctx.arg(node, 3, 1),
                 ctx.arg(node, 4, 0), ctx.arg(node, 5, 1), ctx.arg(node, 6, 1))


@converter(aten.convolution.default, supports=_conv_supports)
def convolution(ctx, node):
    x = ctx.tensor(ctx.arg(node, 0))
    stride, padding, dilation, transposed, _, groups = (ctx.arg(node, i) for i in range(3, 9))
    return _conv(ctx, node, x, _weights(ctx, node, 1), _weights(ctx, node, 2), stride, padding, dilation, groups,
                 transposed)


_TRANSPOSED = (aten.conv_transpose1d.default, aten.conv_transpose2d.input, aten.conv_transpose3d.input)


@converter(*_TRANSPOSED, supports=_conv_supports)
def conv_transpose(ctx, node):
    x = ctx.tensor(ctx.arg(node, 0))
    stride, padding = ctx.arg(node, 3, 1, "stride"), ctx.arg(node, 4, 0, "padding")
    groups, dilation = ctx.arg(node, 6, 1, "groups"), ctx.arg(node, 7, 1, "dilation")
    return _conv(ctx, node, x, _weights(ctx, node, 1), _weights(ctx, node, 2), stride, padding, dilation, groups,
                 transposed=True)


def _pool_supports(node):
    if node.target in (aten.max_pool2d.default, aten.max_pool1d.default, aten.max_pool3d.default):
        dil = node.args[4] if len(node.args) > 4 else node.kwargs.get("dilation", 1)
        if any(d != 1 for d in _ntuple(dil, 1)):
            return "max pooling with dilation has no converter"
    if node.target is aten.avg_pool2d.default and len(node.args) > 6 and node.args[6] is not None:
        return "avg_pool2d divisor_override has no converter"
    return None


def _pool(ctx, node, kind):
    x = ctx.tensor(ctx.arg(node, 0))
    nd = ctx.rank(x) - 2
    kernel = _ntuple(ctx.arg(node, 1), nd)
    stride = ctx.arg(node, 2, None, "stride") or kernel
    padding = ctx.arg(node, 3, 0, "padding")
    ceil_mode = bool(ctx.arg(node, 5 if kind == PoolingType.MAX else 4, False, "ceil_mode"))
    layer = ctx.network.add_pooling_nd(x, kind, kernel)
    layer.stride_nd = _ntuple(stride, nd)
    layer.padding_nd = _ntuple(padding, nd)
    if ceil_mode:
        from inferrt.enums import PaddingMode
        layer.padding_mode = PaddingMode.EXPLICIT_ROUND_UP
    if kind == PoolingType.AVERAGE:
        layer.average_count_excludes_padding = not bool(ctx.arg(node, 5, True, "count_include_pad"))
    return ctx.done(layer)


@converter(aten.max_pool1d.default, aten.max_pool2d.default, aten.max_pool3d.default, supports=_pool_supports)
def max_pool(ctx, node):
    return _pool(ctx, node, PoolingType.MAX)


@converter(aten.avg_pool1d.default, aten.avg_pool2d.default, aten.avg_pool3d.default, supports=_pool_supports)
def avg_pool(ctx, node):
    return _pool(ctx, node, PoolingType.AVERAGE)


def _adaptive_supports(node):
    x = node.args[0].meta.get("val") if isinstance(node.args[0], torch.fx.Node) else None
    out = _ntuple(node.args[1], 1)
    if all(o == 1 for o in out):
        return None
    if x is None or any(not isinstance(d, int) for d in x.shape[2:]):
        return "adaptive pooling to sizes other than 1 needs static spatial dims"
    ins = [int(d) for d in x.shape[2:]]
    out = _ntuple(out, len(ins))
    if any(i % o for i, o in zip(ins, out)):
        return f"adaptive pooling from {ins} to {list(out)}: the output size must divide the input size"
    return None


@converter(aten.adaptive_avg_pool1d.default, aten.adaptive_avg_pool2d.default, aten.adaptive_avg_pool3d.default,
           supports=_adaptive_supports)
def adaptive_avg_pool(ctx, node):
    x = ctx.tensor(ctx.arg(node, 0))
    r = ctx.rank(x)
    out = _ntuple(ctx.arg(node, 1), r - 2)
    if all(o == 1 for o in out):
        return ctx.reduce(x, ReduceOperation.AVG, list(range(2, r)), keep_dims=True)
    ins = [int(d) for d in x.shape[2:]]
    kernel = tuple(i // o for i, o in zip(ins, out))
    layer = ctx.network.add_pooling_nd(x, PoolingType.AVERAGE, kernel)
    layer.stride_nd = kernel
    return ctx.done(layer)
