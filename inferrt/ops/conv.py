"""Convolution, Deconvolution and Pooling (1-D to 3-D spatial, NC* layout)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..dtypes import FLOAT_TYPES as _FLOATS
from ..enums import DataType, LayerType, PaddingMode as PM, PoolingType
from .base import ARRAY, BOOL, FLOAT, INT, INTS, Enum, OpDef, OpError, Spec, register


def _fill(v, n, default, what):
    if not v:
        return (default,) * n
    if len(v) != n:
        raise OpError(f"{what} has {len(v)} values but the kernel has {n} spatial dimensions")
    if what.endswith("padding") and any(int(x) < 0 for x in v):  # it used to fail only at run time
        raise OpError(f"{what} {tuple(v)} has negative values; padding must be >= 0 (crop with a slice layer)")
    return tuple(v)


def spatial_params(a, nsp):
    """Resolve kernel/stride/dilation/padding tuples for ``nsp`` spatial dims."""
    k = tuple(a.kernel_size_nd)
    if len(k) != nsp:
        raise OpError(f"kernel_size_nd {k} has {len(k)} dims but the input has {nsp} spatial dims")
    s = _fill(a.stride_nd, nsp, 1, "stride_nd")
    d = _fill(a.get("dilation_nd", ()), nsp, 1, "dilation_nd")
    pre = _fill(a.pre_padding, nsp, 0, "pre_padding")
    post = _fill(a.post_padding, nsp, 0, "post_padding")
    if any(x <= 0 for x in k + s + d):
        raise OpError(f"kernel {k}, stride {s} and dilation {d} must be positive")
    return k, s, d, pre, post


def resolve_padding(mode, in_dims, k, s, d, pre, post, transposed=False):
    """Concrete (pre, post) padding per spatial dim for a padding mode (SAME_* need known dims)."""
    if mode in (PM.SAME_UPPER, PM.SAME_LOWER):
        pre_o, post_o = [], []
        for n, kk, ss, dd in zip(in_dims, k, s, d):
            if n < 0:
                pre_o.append(-1), post_o.append(-1)
                continue
            eff = dd * (kk - 1) + 1
            if transposed:
                total = max(0, eff - ss)
            else:
                out = -(-n // ss)
                total = max(0, (out - 1) * ss + eff - n)
            small, big = total // 2, total - total // 2
            pre_o.append(small if mode == PM.SAME_UPPER else big)
            post_o.append(big if mode == PM.SAME_UPPER else small)
        return tuple(pre_o), tuple(post_o)
    return tuple(pre), tuple(post)


def conv_out_dim(n, k, s, d, p0, p1, round_up=False):
    if n < 0 or p0 < 0:
        return -1
    span = n + p0 + p1 - (d * (k - 1) + 1)
    if span < 0:
        raise OpError(f"the window ({k} with dilation {d}) is larger than the padded input ({n + p0 + p1})")
    return (-(-span // s) if round_up else span // s) + 1


class _ConvBase(OpDef):
    inputs = ("input", "kernel", "bias")
    weight_inputs = {1: "kernel", 2: "bias"}
    attrs = {
        "num_output_maps": (INT, 1), "kernel_size_nd": (INTS, ()), "stride_nd": (INTS, ()),
        "pre_padding": (INTS, ()), "post_padding": (INTS, ()), "padding_mode": (Enum(PM), PM.EXPLICIT_ROUND_DOWN),
        "dilation_nd": (INTS, ()), "num_groups": (INT, 1), "kernel": (ARRAY, None), "bias": (ARRAY, None),
    }
    transposed = False

    def infer(self, a, ins):
        x = ins[0]
        if x.shape is None:
            raise OpError("input rank must be known")
        nsp = len(a.kernel_size_nd)
        if nsp < 1 or nsp > 3 or len(x.shape) != nsp + 2:
            raise OpError(f"input of shape {x.shape} does not match a {nsp}-D kernel (expected rank {nsp + 2}, "
                          f"laid out as N, C, spatial...)")
        if x.dtype not in _FLOATS + (DataType.INT8,):
            raise OpError(f"input type {x.dtype.name} is not supported; cast to FLOAT or HALF")
        k, s, d, pre, post = spatial_params(a, nsp)
        g, c = a.num_groups, x.shape[1]
        if g < 1 or a.num_output_maps < 1:
            raise OpError("num_groups and num_output_maps must be positive")
        if c > 0 and c % g:
            raise OpError(f"input channels {c} are not divisible by num_groups {g}")
        kernel = ins[1] if len(ins) > 1 and ins[1] is not None else None
        kshape = kernel.shape if kernel is not None else (None if a.kernel is None else a.kernel.shape)
        if kshape is not None and c > 0 and all(v >= 0 for v in kshape):
            expect = ((c, a.num_output_maps // g) if self.transposed else (a.num_output_maps, c // g)) + k
            if int(math.prod(kshape)) != int(math.prod(expect)):
                raise OpError(f"kernel has {int(math.prod(kshape))} values but {expect} needs "
                              f"{int(math.prod(expect))} (num_output_maps={a.num_output_maps}, groups={g})")
        bias = ins[2] if len(ins) > 2 and ins[2] is not None else None
        bshape = bias.shape if bias is not None else (None if a.bias is None else a.bias.shape)
        if bshape is not None and all(v >= 0 for v in bshape):
            nb = int(math.prod(bshape))
            if (nb or bias is not None) and nb != a.num_output_maps:  # empty bias weights mean no bias
                raise OpError(f"bias of shape {tuple(bshape)} has {nb} values but there are {a.num_output_maps} "
                              f"output maps (one bias value per output map)")
        pre, post = resolve_padding(a.padding_mode, x.shape[2:], k, s, d, pre, post, self.transposed)
        out = []
        for i, n in enumerate(x.shape[2:]):
            if self.transposed:
                if n < 0 or pre[i] < 0:
                    out.append(-1)
                else:
                    op = (a.output_padding[i] if a.get("output_padding") else 0)
                    out.append((n - 1) * s[i] - pre[i] - post[i] + d[i] * (k[i] - 1) + 1 + op)
            else:
                out.append(conv_out_dim(n, k[i], s[i], d[i], pre[i], post[i],
                                        a.padding_mode == PM.EXPLICIT_ROUND_UP))
        return [Spec(x.dtype if x.dtype != DataType.INT8 else DataType.FLOAT, (x.shape[0], a.num_output_maps, *out))]


@register
class Convolution(_ConvBase):
    kind = "convolution"
    layer_type = LayerType.CONVOLUTION

    def run(self, a, ins, outs):
        x, w = ins[0], ins[1]
        b = ins[2] if len(ins) > 2 else None
        nsp = x.dim() - 2
        k, s, d, pre, post = spatial_params(a, nsp)
        pre, post = resolve_padding(a.padding_mode, x.shape[2:], k, s, d, pre, post)
        w = w.reshape(a.num_output_maps, x.shape[1] // a.num_groups, *k).to(x.dtype)
        if b is not None:
            b = b.reshape(-1).to(x.dtype)
        # EXPLICIT_ROUND_UP: zeros past the end so the last (partial) window fits
        extra = [_round_up_extra(x.shape[2 + i], k[i], s[i], d[i], pre[i] + post[i])
                 if a.padding_mode == PM.EXPLICIT_ROUND_UP else 0 for i in range(nsp)]
        if pre == post and not any(extra):
            pad = pre
        else:
            x = F.pad(x, [p for i in reversed(range(nsp)) for p in (pre[i], post[i] + extra[i])])
            pad = 0
        conv = (F.conv1d, F.conv2d, F.conv3d)[nsp - 1]
        return [conv(x, w, b, s, pad, d, a.num_groups)]


def _round_up_extra(n, k, s, d, total_pad):
    span = n + total_pad - (d * (k - 1) + 1)
    return (-span) % s


@register
class Deconvolution(_ConvBase):
    kind = "deconvolution"
    layer_type = LayerType.DECONVOLUTION
    attrs = dict(_ConvBase.attrs, output_padding=(INTS, ()))
    transposed = True

    def run(self, a, ins, outs):
        x, w = ins[0], ins[1]
        b = ins[2] if len(ins) > 2 else None
        nsp = x.dim() - 2
        k, s, d, pre, post = spatial_params(a, nsp)
        pre, post = resolve_padding(a.padding_mode, x.shape[2:], k, s, d, pre, post, True)
        w = w.reshape(x.shape[1], a.num_output_maps // a.num_groups, *k).to(x.dtype)
        if b is not None:
            b = b.reshape(-1).to(x.dtype)
        op = tuple(a.output_padding) if a.output_padding else (0,) * nsp
        conv = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[nsp - 1]
        if pre == post and all(o < max(ss, dd) for o, ss, dd in zip(op, s, d)):
            return [conv(x, w, b, s, pre, op, a.num_groups, d)]
        # general case: full transposed convolution, then the window [pre, pre + out) of it per spatial dim;
        # output padding reads past the full result's end, where there is only the bias
        y = conv(x, w, None, s, 0, 0, a.num_groups, d)
        for i in range(nsp):
            full = y.shape[2 + i]
            size = full - pre[i] - post[i] + op[i]
            y = y.narrow(2 + i, pre[i], min(size, full - pre[i]))
            if size > full - pre[i]:
                pad = [0] * (2 * nsp)
                pad[2 * (nsp - 1 - i) + 1] = size - (full - pre[i])
                y = F.pad(y, pad)
        if b is not None:
            y = y + b.view(1, -1, *([1] * nsp))
        return [y]


@register
class Pooling(OpDef):
    kind = "pooling"
    layer_type = LayerType.POOLING
    attrs = {
        "type": (Enum(PoolingType), PoolingType.MAX), "window_size_nd": (INTS, ()), "stride_nd": (INTS, ()),
        "pre_padding": (INTS, ()), "post_padding": (INTS, ()), "padding_mode": (Enum(PM), PM.EXPLICIT_ROUND_DOWN),
        "blend_factor": (FLOAT, 0.0), "average_count_excludes_padding": (BOOL, True), "dilation_nd": (INTS, ()),
    }

    def _params(self, a, x_shape):
        nsp = len(a.window_size_nd)
        if nsp < 1 or nsp > 3 or len(x_shape) != nsp + 2:
            raise OpError(f"input of shape {tuple(x_shape)} does not match a {nsp}-D window (expected rank {nsp + 2})")
        k = tuple(a.window_size_nd)
        s = _fill(a.stride_nd, nsp, 1, "stride_nd")
        d = _fill(a.dilation_nd, nsp, 1, "dilation_nd")
        pre = _fill(a.pre_padding, nsp, 0, "pre_padding")
        post = _fill(a.post_padding, nsp, 0, "post_padding")
        pre, post = resolve_padding(a.padding_mode, tuple(x_shape[2:]), k, s, d, pre, post)
        return nsp, k, s, d, pre, post

    def infer(self, a, ins):
        x = ins[0]
        if x.shape is None:
            raise OpError("input rank must be known")
        nsp, k, s, d, pre, post = self._params(a, x.shape)
        up = a.padding_mode == PM.EXPLICIT_ROUND_UP
        out = [conv_out_dim(n, k[i], s[i], d[i], pre[i], post[i], up) for i, n in enumerate(x.shape[2:])]
        if up:  # the last window must start inside the input or its left padding (as PyTorch and ONNX)
            out = [o - 1 if o > 0 and (o - 1) * s[i] >= x.shape[2 + i] + pre[i] else o for i, o in enumerate(out)]
        return [Spec(x.dtype, (*x.shape[:2], *out))]

    def run(self, a, ins, outs):
        x = ins[0]
        nsp, k, s, d, pre, post = self._params(a, x.shape)
        out_sp = outs[0].shape[2:]
        # extra right padding so that the last (round-up) window fits
        extra = [max(0, (o - 1) * s[i] + d[i] * (k[i] - 1) + 1 - (x.shape[2 + i] + pre[i] + post[i]))
                 for i, o in enumerate(out_sp)]
        pads = [p for i in reversed(range(nsp)) for p in (pre[i], post[i] + extra[i])]
        if a.type == PoolingType.MAX:
            return [self._max(x, pads, k, s, d, nsp, out_sp)]
        avg = self._avg(a, x, pads, k, s, d, nsp, pre, post, out_sp)
        if a.type == PoolingType.AVERAGE:
            return [avg]
        mx = self._max(x, pads, k, s, d, nsp, out_sp)
        return [a.blend_factor * mx + (1 - a.blend_factor) * avg]

    @staticmethod
    def _max(x, pads, k, s, d, nsp, out_sp):
        xp = F.pad(x, pads, value=float("-inf")) if any(pads) else x
        f = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[nsp - 1]
        y = f(xp, k, s, 0, d)
        return y[(..., *[slice(0, o) for o in out_sp])]

    @staticmethod
    def _avg(a, x, pads, k, s, d, nsp, pre, post, out_sp):
        def window_sum(t):
            if all(dd == 1 for dd in d):
                return (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[nsp - 1](t, k, s, 0) * math.prod(k)
            # dilated windows: a depthwise convolution with a kernel of ones sums exactly the dilated taps
            c = t.shape[1]
            ones_k = torch.ones((c, 1, *k), dtype=t.dtype, device=t.device)
            return (F.conv1d, F.conv2d, F.conv3d)[nsp - 1](t, ones_k, None, s, 0, d, c)

        xp = F.pad(x, pads) if any(pads) else x
        total = window_sum(xp)
        if a.average_count_excludes_padding:
            ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
            cnt = window_sum(F.pad(ones, pads) if any(pads) else ones)
        else:
            # explicit padding counts; the extra round-up region does not
            ones = torch.ones((1, 1, *[x.shape[2 + i] + pre[i] + post[i] for i in range(nsp)]), dtype=x.dtype,
                              device=x.device)
            extra = [pads[2 * j + 1] - post[nsp - 1 - j] for j in range(nsp)]
            padx = [p for j in range(nsp) for p in (0, extra[j])]
            cnt = window_sum(F.pad(ones, padx) if any(padx) else ones)
        y = total / cnt
        return y[(..., *[slice(0, o) for o in out_sp])]
