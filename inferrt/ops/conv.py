"""Convolutions (1-D to 3-D spatial, NC* layout): Convolution, Deconvolution, and the ONNX-only ``integer_conv``
(ConvInteger, exact integer math as ``integer_matmul``), ``deform_conv`` (DeformConv) and ``col2im`` (Col2Im).

Sizes given as inputs (col2im's image_shape and block_shape) must be known when shapes are computed.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..dtypes import FLOAT_TYPES as _FLOATS
from ..enums import DataType, LayerType, PaddingMode as PM
from .base import ARRAY, INT, INTS, Choice, Enum, OpDef, OpError, Spec, host_ints, known_ints, register
from .matmul import as_f64


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


def conv_geometry(x_shape, w_shape, strides, pads, dilations, auto_pad, where="conv"):
    """ONNX Conv geometry: (output spatial dims, pads as (begin..., end...)); -1 where a dim is unknown."""
    nsp = len(x_shape) - 2
    if nsp < 1 or len(w_shape) != nsp + 2:
        raise OpError(f"{where}: input rank {len(x_shape)} and weight rank {len(w_shape)} must be equal and >= 3")
    k = tuple(w_shape[2:])
    s = tuple(strides) or (1,) * nsp
    d = tuple(dilations) or (1,) * nsp
    p = tuple(pads) or (0,) * (2 * nsp)
    if len(s) != nsp or len(d) != nsp or len(p) != 2 * nsp:
        raise OpError(f"{where}: strides {s}, dilations {d} and pads {p} do not fit {nsp} spatial dims")
    out, begin, end = [], list(p[:nsp]), list(p[nsp:])
    for i in range(nsp):
        n = x_shape[2 + i]
        eff = d[i] * (k[i] - 1) + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            if n < 0:
                out.append(-1)
                continue
            o = -(-n // s[i])
            total = max(0, (o - 1) * s[i] + eff - n)
            small, big = total // 2, total - total // 2
            begin[i], end[i] = (small, big) if auto_pad == "SAME_UPPER" else (big, small)
            out.append(o)
            continue
        if auto_pad == "VALID":
            begin[i] = end[i] = 0
        if n < 0 or k[i] < 0:
            out.append(-1)
            continue
        o = (n + begin[i] + end[i] - eff) // s[i] + 1
        if o <= 0:
            raise OpError(f"{where}: spatial dim {i} of size {n} with pads ({begin[i]}, {end[i]}) is smaller than "
                          f"the dilated kernel ({eff})")
        out.append(o)
    return tuple(out), tuple(begin) + tuple(end), s, d


@register
class IntegerConv(OpDef):
    """ConvInteger: conv(x - x_zero_point, w - w_zero_point) (+ INT32 bias, for QLinearConv) as INT32; w's zero
    point may be per output channel."""

    kind = "integer_conv"
    attrs = {"strides": (INTS, ()), "pads": (INTS, ()), "dilations": (INTS, ()), "group": (INT, 1),
             "auto_pad": (Choice("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"), "NOTSET")}
    inputs = ("x", "w", "x_zero_point", "w_zero_point", "bias")
    min_inputs = 2

    def infer(self, a, ins):
        x, w = ins[0], ins[1]
        bias = ins[4] if len(ins) > 4 else None
        if bias is not None and (bias.dtype != DataType.INT32 or bias.shape is None or len(bias.shape) != 1):
            raise OpError(f"bias must be a 1-D INT32 tensor, got {bias.dtype.name} of shape {bias.shape}")
        for s, nm in ((x, "x"), (w, "w")):
            if s.dtype not in (DataType.INT8, DataType.UINT8):
                raise OpError(f"input {nm} must be INT8 or UINT8, got {s.dtype.name}")
        sp, _, _, _ = conv_geometry(x.shape, w.shape, a.strides, a.pads, a.dilations, a.auto_pad)
        if x.shape[1] >= 0 and w.shape[1] >= 0 and x.shape[1] != w.shape[1] * a.group:
            raise OpError(f"x has {x.shape[1]} channels but w expects {w.shape[1]} x group {a.group}")
        return [Spec(DataType.INT32, (x.shape[0], w.shape[0]) + sp)]

    def run(self, a, ins, outs):
        y = integer_conv(ins[0], ins[1], ins[2] if len(ins) > 2 else None, ins[3] if len(ins) > 3 else None, a)
        if len(ins) > 4 and ins[4] is not None:
            y = y + as_f64(ins[4]).reshape((1, -1) + (1,) * (y.dim() - 2))
        return [y.to(torch.int32)]


def integer_conv(x, w, xz, wz, a):
    """float64 convolution of zero-point-shifted integer tensors (exact), pads applied after the shift."""
    _, pads, s, d = conv_geometry(tuple(x.shape), tuple(w.shape), a.strides, a.pads, a.dilations, a.auto_pad)
    x, w = as_f64(x), as_f64(w)
    if xz is not None:
        x = x - as_f64(xz).reshape(())
    if wz is not None:
        wz = as_f64(wz)
        w = w - (wz.reshape((-1,) + (1,) * (w.dim() - 1)) if wz.numel() > 1 else wz.reshape(()))
    nsp = x.dim() - 2
    pad = []
    for i in reversed(range(nsp)):
        pad += [pads[i], pads[nsp + i]]
    if any(pad):
        x = F.pad(x, pad)
    conv = (F.conv1d, F.conv2d, F.conv3d)[nsp - 1]
    return conv(x, w, None, s, 0, d, a.group)


def compute_dtype(t):
    return torch.float32 if t.dtype in (torch.float16, torch.bfloat16) else t.dtype


# ----------------------------------------------------------------------------------------------- Col2Im
@register
class Col2Im(OpDef):
    """Col2Im: [N, C * prod(block), L] columns -> [N, C, *image_shape], summing overlapping blocks (N-D fold)."""

    kind = "col2im"
    host_inputs = (1, 2)
    attrs = {"dilations": (INTS, ()), "pads": (INTS, ()), "strides": (INTS, ())}
    inputs = ("input", "image_shape", "block_shape")
    min_inputs = 3

    def _geometry(self, a, image, block):
        n = len(image)
        if len(block) != n or n == 0:
            raise OpError(f"image_shape {image} and block_shape {block} must have the same, non-zero length")
        d = tuple(a.dilations) or (1,) * n
        s = tuple(a.strides) or (1,) * n
        p = tuple(a.pads) or (0,) * (2 * n)
        if len(d) != n or len(s) != n or len(p) != 2 * n:
            raise OpError(f"dilations {d}, strides {s} and pads {p} do not fit {n} spatial dims")
        counts = []
        for i in range(n):
            eff = d[i] * (block[i] - 1) + 1
            c = (image[i] + p[i] + p[n + i] - eff) // s[i] + 1
            if c <= 0:
                raise OpError(f"block {block[i]} (dilation {d[i]}) does not fit image dim {image[i]} with pads")
            counts.append(c)
        return d, s, p, counts

    def infer(self, a, ins):
        x = ins[0]
        if x.rank != 3:
            raise OpError(f"input must be [N, C * prod(block_shape), L], got shape {x.shape}")
        image, block = known_ints(ins[1], "image_shape"), known_ints(ins[2], "block_shape")
        if image is None or block is None:
            n = ins[1].shape[0] if ins[1].shape and ins[1].shape[0] >= 0 else None
            if n is None:
                raise OpError("image_shape must have a known length")
            return [Spec(x.dtype, (x.shape[0], -1) + (-1,) * n)]
        _, _, _, counts = self._geometry(a, image, block)
        kvol, lvol = int(np.prod(block)), int(np.prod(counts))
        if x.shape[1] >= 0 and x.shape[1] % kvol:
            raise OpError(f"input dim 1 ({x.shape[1]}) is not a multiple of prod(block_shape) = {kvol}")
        if x.shape[2] >= 0 and x.shape[2] != lvol:
            raise OpError(f"input has {x.shape[2]} blocks but image_shape {image} with block_shape {block} "
                          f"gives {lvol}")
        c = x.shape[1] // kvol if x.shape[1] >= 0 else -1
        return [Spec(x.dtype, (x.shape[0], c) + tuple(image))]

    def run(self, a, ins, outs):
        x = ins[0]
        image, block = host_ints(ins[1]), host_ints(ins[2])
        d, s, p, counts = self._geometry(a, image, block)
        n = len(image)
        padded = [image[i] + p[i] + p[n + i] for i in range(n)]
        # flat padded coordinate of every (kernel offset, block position) pair, built on the host (small)
        grids_k = np.meshgrid(*[np.arange(b) for b in block], indexing="ij")
        grids_l = np.meshgrid(*[np.arange(c) for c in counts], indexing="ij")
        flat = np.zeros((int(np.prod(block)), int(np.prod(counts))), dtype=np.int64)
        for i in range(n):
            coord = grids_k[i].reshape(-1, 1) * d[i] + grids_l[i].reshape(1, -1) * s[i]
            flat = flat * padded[i] + coord
        idx = torch.from_numpy(flat.reshape(-1)).to(x.device)
        nb, cb = x.shape[0], x.shape[1] // int(np.prod(block))
        dt = compute_dtype(x)
        out = torch.zeros((nb, cb, int(np.prod(padded))), dtype=dt, device=x.device)
        out.index_add_(2, idx, x.to(dt).reshape(nb, cb, -1))
        out = out.reshape((nb, cb) + tuple(padded))
        for i in range(n):
            out = out.narrow(2 + i, p[i], image[i])
        return [out.to(x.dtype)]


# ----------------------------------------------------------------------------------------------- DeformConv
def bilinear_zeros(x, y, xs):
    """Sample x [B, C, H, W] at pixel coordinates (y, xs) [B, P] bilinearly; corners outside the image count as 0
    (GridSample with align_corners=1 and zeros padding). Returns [B, C, P]."""
    b, c, h, w = x.shape
    flat = x.reshape(b, c, h * w)
    y0, x0 = torch.floor(y), torch.floor(xs)
    ly, lx = y - y0, xs - x0
    out = torch.zeros((b, c, y.shape[1]), dtype=x.dtype, device=x.device)
    for dy, wy in ((0, 1 - ly), (1, ly)):
        for dx, wx in ((0, 1 - lx), (1, lx)):
            yi, xi = y0.to(torch.int64) + dy, x0.to(torch.int64) + dx
            ok = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)
            idx = (yi.clamp(0, h - 1) * w + xi.clamp(0, w - 1)).unsqueeze(1).expand(b, c, -1)
            out = out + torch.gather(flat, 2, idx) * (wy * wx * ok).unsqueeze(1).to(x.dtype)
    return out


@register
class DeformConv(OpDef):
    """ONNX DeformConv (2-D): each kernel tap samples the input at its regular position plus a learned offset
    (bilinear, zeros outside), optionally scaled by a modulation mask; then a grouped convolution."""

    kind = "deform_conv"
    attrs = {"strides": (INTS, ()), "pads": (INTS, ()), "dilations": (INTS, ()), "group": (INT, 1),
             "offset_group": (INT, 1)}
    inputs = ("input", "weights", "offset", "bias", "mask")
    min_inputs = 3

    def _geometry(self, a, x_shape, w_shape):
        if len(x_shape) != 4:
            raise OpError(f"only 2-D deformable convolution is supported; the input has shape {tuple(x_shape)}")
        return conv_geometry(x_shape, w_shape, a.strides, a.pads, a.dilations, "NOTSET", "DeformConv")

    def infer(self, a, ins):
        x, w, off = ins[:3]
        if x.dtype not in _FLOATS:
            raise OpError(f"input must be floating point, got {x.dtype.name}")
        sp, _, _, _ = self._geometry(a, x.shape, w.shape)
        kk = int(np.prod(w.shape[2:])) if all(d >= 0 for d in w.shape[2:]) else -1
        c, g, og = x.shape[1], a.group, a.offset_group
        if c >= 0 and w.shape[1] >= 0 and c != w.shape[1] * g:
            raise OpError(f"input has {c} channels but the weights expect {w.shape[1]} x group {g}")
        if c >= 0 and c % og:
            raise OpError(f"input channels ({c}) must be divisible by offset_group ({og})")
        if kk >= 0 and off.shape[1] >= 0 and off.shape[1] != 2 * og * kk:
            raise OpError(f"offset has {off.shape[1]} channels; offset_group {og} x {kk} taps x 2 = {2 * og * kk}")
        for i in (0, 1):
            if sp[i] >= 0 and off.shape[2 + i] >= 0 and sp[i] != off.shape[2 + i]:
                raise OpError(f"offset spatial shape {tuple(off.shape[2:])} differs from the output's {sp}")
        return [Spec(x.dtype, (x.shape[0], w.shape[0]) + sp)]

    def run(self, a, ins, outs):
        x, w, off = ins[:3]
        bias = ins[3] if len(ins) > 3 else None
        mask = ins[4] if len(ins) > 4 else None
        sp, pads, s, d = self._geometry(a, tuple(x.shape), tuple(w.shape))
        n, c, h, wd = x.shape
        oc, kh, kw = w.shape[0], w.shape[2], w.shape[3]
        og, oh, ow, kk, L = a.offset_group, sp[0], sp[1], kh * kw, sp[0] * sp[1]
        dt = compute_dtype(x)
        dev = x.device
        base_y = (torch.arange(oh, device=dev, dtype=dt) * s[0] - pads[0])[None, :, None]      # [1, oh, 1]
        base_x = (torch.arange(ow, device=dev, dtype=dt) * s[1] - pads[1])[None, None, :]      # [1, 1, ow]
        tap_y = (torch.arange(kh, device=dev, dtype=dt) * d[0]).repeat_interleave(kw)         # [kk]
        tap_x = (torch.arange(kw, device=dev, dtype=dt) * d[1]).repeat(kh)
        o = off.to(dt).reshape(n, og, kk, 2, oh, ow)
        yy = base_y + tap_y[:, None, None] + o[:, :, :, 0]                                   # [n, og, kk, oh, ow]
        xx = base_x + tap_x[:, None, None] + o[:, :, :, 1]
        xg = x.to(dt).reshape(n * og, c // og, h, wd)
        cols = bilinear_zeros(xg, yy.reshape(n * og, kk * L), xx.reshape(n * og, kk * L))
        cols = cols.reshape(n, og, c // og, kk, L)
        if mask is not None:
            cols = cols * mask.to(dt).reshape(n, og, 1, kk, L)
        g = a.group
        cols = cols.reshape(n, g, (c // g) * kk, L)
        wm = w.to(dt).reshape(g, oc // g, (c // g) * kk)
        y = torch.einsum("gok,ngkl->ngol", wm, cols).reshape(n, oc, oh, ow)
        if bias is not None:
            y = y + bias.to(dt).reshape(1, oc, 1, 1)
        return [y.to(x.dtype)]
