"""ONNX-only image ops: Col2Im, AffineGrid, CenterCropPad, MaxRoiPool, RoiAlign, MaxUnpool.

All take NC* layouts and run as PyTorch ops on the input's device; sizes given as inputs (image_shape, size,
shape, output_shape) must be known when shapes are computed (constants or shape computations).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..dtypes import FLOAT_TYPES as _FLOATS
from ..enums import DataType
from .base import BOOL, FLOAT, INT, INTS, STR, OpDef, OpError, Spec, norm_axis, register


def _ints(spec, what):
    """The integer values of a 1-D shape-like input, or None while unknown."""
    if spec is None or spec.value is None:
        return None
    return [int(v) for v in np.asarray(spec.value).reshape(-1)]


def _host_ints(t):
    return [int(v) for v in t.reshape(-1).tolist()]


def exact_div(t, scalar):
    """``t / scalar`` correctly rounded on every device (CUDA turns a division by a Python scalar into a
    multiplication by its reciprocal, which moves floor/ceil bin edges)."""
    return t / torch.full_like(t, scalar)


def _compute_dtype(t):
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
        image, block = _ints(ins[1], "image_shape"), _ints(ins[2], "block_shape")
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
        image, block = _host_ints(ins[1]), _host_ints(ins[2])
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
        dt = _compute_dtype(x)
        out = torch.zeros((nb, cb, int(np.prod(padded))), dtype=dt, device=x.device)
        out.index_add_(2, idx, x.to(dt).reshape(nb, cb, -1))
        out = out.reshape((nb, cb) + tuple(padded))
        for i in range(n):
            out = out.narrow(2 + i, p[i], image[i])
        return [out.to(x.dtype)]


# ----------------------------------------------------------------------------------------------- AffineGrid
@register
class AffineGrid(OpDef):
    """AffineGrid: theta [N, 2, 3] (2-D) or [N, 3, 4] (3-D) and size (N, C, [D,] H, W) -> sampling grid
    [N, [D,] H, W, 2|3] in normalized coordinates (like torch.nn.functional.affine_grid)."""

    kind = "affine_grid"
    host_inputs = (1,)
    attrs = {"align_corners": (BOOL, False)}
    inputs = ("theta", "size")
    min_inputs = 2

    def infer(self, a, ins):
        theta = ins[0]
        if theta.dtype not in _FLOATS or theta.rank != 3:
            raise OpError(f"theta must be a floating-point [N, 2, 3] or [N, 3, 4] tensor, got {theta.dtype.name} "
                          f"{theta.shape}")
        size = _ints(ins[1], "size")
        if size is None:
            n = ins[1].shape[0] if ins[1].shape else -1
            if n not in (4, 5):
                raise OpError("size must be a known-length 1-D tensor (N, C, H, W) or (N, C, D, H, W)")
            return [Spec(theta.dtype, (theta.shape[0],) + (-1,) * (n - 2) + (n - 2,))]
        if len(size) not in (4, 5):
            raise OpError(f"size {size} must be (N, C, H, W) or (N, C, D, H, W)")
        nsp = len(size) - 2
        if theta.shape[1] >= 0 and theta.shape[2] >= 0 and tuple(theta.shape[1:]) != (nsp, nsp + 1):
            raise OpError(f"theta has shape {theta.shape} but size {size} needs [N, {nsp}, {nsp + 1}]")
        return [Spec(theta.dtype, (size[0],) + tuple(size[2:]) + (nsp,))]

    def run(self, a, ins, outs):
        theta = ins[0]
        size = _host_ints(ins[1])
        dt = torch.float64 if theta.dtype == torch.float64 else torch.float32
        return [F.affine_grid(theta.to(dt), size, align_corners=a.align_corners).to(theta.dtype)]


# ----------------------------------------------------------------------------------------------- CenterCropPad
@register
class CenterCropPad(OpDef):
    """CenterCropPad: crop (centered window) or zero-pad (centered input) each of ``axes`` to ``shape``."""

    kind = "center_crop_pad"
    host_inputs = (1,)
    attrs = {"axes": (INTS, ())}
    inputs = ("input", "shape")
    min_inputs = 2

    def _axes(self, a, rank, n):
        axes = [norm_axis(x, rank, "CenterCropPad axis") for x in a.axes] if a.axes else list(range(rank))
        if len(axes) != n:
            raise OpError(f"shape has {n} values but there are {len(axes)} axes {tuple(axes)}")
        return axes

    def infer(self, a, ins):
        x = ins[0]
        shp = _ints(ins[1], "shape")
        rank = x.rank
        out = list(x.shape)
        if shp is None:
            n = ins[1].shape[0] if ins[1].shape else -1
            for ax in self._axes(a, rank, n if n >= 0 else len(a.axes) or rank):
                out[ax] = -1
            return [Spec(x.dtype, tuple(out))]
        if any(v < 0 for v in shp):
            raise OpError(f"shape {shp} must be non-negative")
        for ax, v in zip(self._axes(a, rank, len(shp)), shp):
            out[ax] = v
        return [Spec(x.dtype, tuple(out))]

    def run(self, a, ins, outs):
        x = ins[0]
        shp = _host_ints(ins[1])
        for ax, want in zip(self._axes(a, x.dim(), len(shp)), shp):
            have = x.shape[ax]
            if want < have:
                x = x.narrow(ax, (have - want) // 2, want)
            elif want > have:
                before = (want - have) // 2
                zeros_shape = list(x.shape)
                parts = []
                for n in (before, want - have - before):
                    zeros_shape[ax] = n
                    parts.append(torch.zeros(zeros_shape, dtype=x.dtype, device=x.device))
                x = torch.cat([parts[0], x, parts[1]], dim=ax)
        return [x]


# ----------------------------------------------------------------------------------------------- RoI pooling
def _round_half_away(t):
    return torch.sign(t) * torch.floor(t.abs() + 0.5)


@register
class MaxRoiPool(OpDef):
    """MaxRoiPool (Caffe ROIPool): rois [R, 5] = (batch, x1, y1, x2, y2) -> [R, C, ph, pw] maxima over bins."""

    kind = "max_roi_pool"
    attrs = {"pooled_shape": (INTS, ()), "spatial_scale": (FLOAT, 1.0)}
    inputs = ("input", "rois")
    min_inputs = 2

    def infer(self, a, ins):
        x, rois = ins
        if x.rank != 4 or rois.rank != 2 or (rois.shape[1] >= 0 and rois.shape[1] != 5):
            raise OpError(f"input must be [N, C, H, W] and rois [R, 5]; got {x.shape} and {rois.shape}")
        if len(a.pooled_shape) != 2 or min(a.pooled_shape) <= 0:
            raise OpError(f"pooled_shape {tuple(a.pooled_shape)} must be two positive ints")
        return [Spec(x.dtype, (rois.shape[0], x.shape[1]) + tuple(a.pooled_shape))]

    def run(self, a, ins, outs):
        x, rois = ins
        ph, pw = a.pooled_shape
        h, w = x.shape[2], x.shape[3]
        dt = _compute_dtype(x)
        r = rois.to(torch.float32)
        b = r[:, 0].to(torch.int64)
        x1, y1, x2, y2 = (_round_half_away(r[:, i] * a.spatial_scale) for i in (1, 2, 3, 4))
        rw, rh = (x2 - x1 + 1).clamp(min=1), (y2 - y1 + 1).clamp(min=1)
        feats = x.to(dt)[b]                                                   # [R, C, H, W]

        def bin_masks(start, size, bins, n):
            i = torch.arange(bins, device=x.device, dtype=torch.float32)
            lo = (torch.floor(i[None] * exact_div(size[:, None], bins)) + start[:, None]).clamp(0, n)
            hi = (torch.ceil((i[None] + 1) * exact_div(size[:, None], bins)) + start[:, None]).clamp(0, n)
            pos = torch.arange(n, device=x.device, dtype=torch.float32)
            return (pos[None, None] >= lo[..., None]) & (pos[None, None] < hi[..., None])   # [R, bins, n]

        mh, mw = bin_masks(y1, rh, ph, h), bin_masks(x1, rw, pw, w)
        neg = torch.tensor(float("-inf"), dtype=dt, device=x.device)
        cols = [torch.where(mw[:, None, None, j], feats, neg).amax(-1) for j in range(pw)]   # [R, C, H] each
        colmax = torch.stack(cols, -1)                                                      # [R, C, H, pw]
        rows = [torch.where(mh[:, None, i, :, None], colmax, neg).amax(2) for i in range(ph)]
        y = torch.stack(rows, 2)                                                            # [R, C, ph, pw]
        return [torch.where(torch.isinf(y) & (y < 0), torch.zeros_like(y), y).to(x.dtype)]


@register
class RoiAlign(OpDef):
    """RoiAlign (onnxruntime's algorithm): bilinear samples on a grid per bin, averaged (or max of the corner
    contributions in ``max`` mode); rois [R, 4] = (x1, y1, x2, y2) with batch_indices [R]."""

    kind = "roi_align"
    attrs = {"mode": (STR, "avg"), "output_height": (INT, 1), "output_width": (INT, 1), "sampling_ratio": (INT, 0),
             "spatial_scale": (FLOAT, 1.0), "half_pixel": (BOOL, True)}
    inputs = ("input", "rois", "batch_indices")
    min_inputs = 3

    def infer(self, a, ins):
        x, rois, bi = ins
        if x.rank != 4 or rois.rank != 2 or (rois.shape[1] >= 0 and rois.shape[1] != 4) or bi.rank != 1:
            raise OpError(f"input must be [N, C, H, W], rois [R, 4], batch_indices [R]; got {x.shape}, {rois.shape}, "
                          f"{bi.shape}")
        if a.mode not in ("avg", "max"):
            raise OpError(f"mode {a.mode!r} must be 'avg' or 'max'")
        if a.output_height <= 0 or a.output_width <= 0 or a.sampling_ratio < 0:
            raise OpError("output_height/output_width must be positive and sampling_ratio >= 0")
        return [Spec(x.dtype, (rois.shape[0], x.shape[1], a.output_height, a.output_width))]

    def run(self, a, ins, outs):
        x, rois, bi = ins
        ph, pw = a.output_height, a.output_width
        n_r = rois.shape[0]
        h, w = x.shape[2], x.shape[3]
        dev, dt = x.device, _compute_dtype(x)
        if n_r == 0:
            return [torch.zeros((0, x.shape[1], ph, pw), dtype=x.dtype, device=dev)]
        r = rois.to(torch.float32) * a.spatial_scale
        off = 0.5 if a.half_pixel else 0.0
        x1, y1, x2, y2 = (r[:, i] - off for i in range(4))
        rw, rh = x2 - x1, y2 - y1
        if not a.half_pixel:
            rw, rh = rw.clamp(min=1.0), rh.clamp(min=1.0)
        bh, bw = exact_div(rh, ph), exact_div(rw, pw)
        if a.sampling_ratio > 0:
            gh = torch.full((n_r,), a.sampling_ratio, device=dev, dtype=torch.int64)
            gw = gh
        else:
            gh, gw = torch.ceil(bh).to(torch.int64), torch.ceil(bw).to(torch.int64)
        big_h, big_w = max(int(gh.max().item()), 1), max(int(gw.max().item()), 1)

        def coords(start, bin_sz, grid, bins, big):
            i = torch.arange(bins, device=dev, dtype=torch.float32)[None, :, None]
            k = torch.arange(big, device=dev, dtype=torch.float32)[None, None, :]
            g = grid.to(torch.float32).clamp(min=1)[:, None, None]
            pos = start[:, None, None] + i * bin_sz[:, None, None] + (k + 0.5) * bin_sz[:, None, None] / g
            return pos, k < grid[:, None, None]                               # [R, bins, big]

        yy, vy = coords(y1, bh, gh, ph, big_h)
        xx, vx = coords(x1, bw, gw, pw, big_w)

        def corners(p, n):
            out_of = (p < -1.0) | (p > n)
            p = p.clamp(min=0)
            lo = torch.floor(p).to(torch.int64)
            edge = lo >= n - 1
            lo = torch.where(edge, torch.full_like(lo, n - 1), lo)
            hi = torch.where(edge, lo, lo + 1)
            p = torch.where(edge, lo.to(p.dtype), p)
            frac = p - lo.to(p.dtype)
            return lo, hi, 1 - frac, frac, out_of

        ylo, yhi, hy, ly, oy = corners(yy, h)
        xlo, xhi, hx, lx, ox = corners(xx, w)
        feats = x.to(dt)[bi.to(torch.int64)].reshape(n_r, x.shape[1], h * w)   # [R, C, H*W]

        def gather(yi, xi):                                                    # -> [R, C, ph, Gh, pw, Gw]
            flat = (yi[:, :, :, None, None] * w + xi[:, None, None, :, :]).reshape(n_r, 1, -1)
            v = torch.gather(feats, 2, flat.expand(-1, feats.shape[1], -1))
            return v.reshape(n_r, feats.shape[1], ph, big_h, pw, big_w)

        def wgt(wy, wx):
            return (wy[:, :, :, None, None] * wx[:, None, None, :, :]).to(dt)[:, None]

        terms = [wgt(hy, hx) * gather(ylo, xlo), wgt(hy, lx) * gather(ylo, xhi),
                 wgt(ly, hx) * gather(yhi, xlo), wgt(ly, lx) * gather(yhi, xhi)]
        valid = (vy[:, :, :, None, None] & vx[:, None, None, :, :])[:, None]
        inside = ~(oy[:, :, :, None, None] | ox[:, None, None, :, :])[:, None]
        if a.mode == "avg":
            s = torch.where(valid & inside, terms[0] + terms[1] + terms[2] + terms[3], torch.zeros((), dtype=dt,
                                                                                                     device=dev))
            count = (gh * gw).clamp(min=1).to(dt)[:, None, None, None]
            y = s.sum(dim=(3, 5)) / count
        else:
            m = torch.maximum(torch.maximum(terms[0], terms[1]), torch.maximum(terms[2], terms[3]))
            m = torch.where(inside, m, torch.zeros((), dtype=dt, device=dev))
            y = torch.where(valid, m, torch.tensor(float("-inf"), dtype=dt, device=dev)).amax(dim=(3, 5))
            y = torch.where(torch.isneginf(y), torch.zeros_like(y), y)             # a bin without samples is 0
        return [y.to(x.dtype)]


# ----------------------------------------------------------------------------------------------- MaxUnpool
@register
class MaxUnpool(OpDef):
    """MaxUnpool: scatter X into zeros at MaxPool's flat indices (over N x C x spatial) of the default unpooled shape
    (from kernel/strides/pads); an ``output_shape`` input zero-pads that result at the end of each dim (as ONNX's
    reference and onnxruntime do)."""

    kind = "max_unpool"
    attrs = {"kernel_shape": (INTS, ()), "strides": (INTS, ()), "pads": (INTS, ())}
    inputs = ("input", "indices", "output_shape")
    min_inputs = 2

    def _default_shape(self, a, shape):
        n = len(shape) - 2
        k = tuple(a.kernel_shape)
        s = tuple(a.strides) or (1,) * n
        p = tuple(a.pads) or (0,) * (2 * n)
        if len(k) != n or len(s) != n or len(p) != 2 * n:
            raise OpError(f"kernel_shape {k}, strides {s} and pads {p} do not fit {n} spatial dims")
        return tuple(shape[:2]) + tuple(-1 if shape[2 + i] < 0 else (shape[2 + i] - 1) * s[i] - p[i] - p[n + i] + k[i]
                                        for i in range(n))

    def infer(self, a, ins):
        x, idx = ins[0], ins[1]
        if idx.dtype != DataType.INT64:
            raise OpError(f"indices must be INT64, got {idx.dtype.name}")
        out = ins[2] if len(ins) > 2 else None
        if out is not None:
            shp = _ints(out, "output_shape")
            return [Spec(x.dtype, tuple(shp) if shp is not None else (-1,) * x.rank)]
        return [Spec(x.dtype, self._default_shape(a, x.shape))]

    def run(self, a, ins, outs):
        x, idx = ins[0], ins[1]
        out = ins[2] if len(ins) > 2 else None
        shape = self._default_shape(a, tuple(x.shape))
        y = torch.zeros(math.prod(shape), dtype=x.dtype, device=x.device)
        y[idx.reshape(-1)] = x.reshape(-1)
        y = y.reshape(shape)
        if out is not None:
            want = _host_ints(out)
            if len(want) != len(shape) or any(w < d for w, d in zip(want, shape)):
                raise ValueError(f"MaxUnpool output_shape {want} is smaller than the unpooled shape {shape}")
            pad = []
            for w, d in zip(reversed(want), reversed(shape)):
                pad += [0, w - d]
            y = F.pad(y, pad)
        return [y]


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
        from .onnx_special import conv_geometry

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
        dt = _compute_dtype(x)
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
