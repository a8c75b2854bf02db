"""Pooling (NC* layout): Pooling (MAX, AVERAGE, MAX_AVERAGE_BLEND), and the ONNX-only ``max_pool_indices``,
``max_unpool``, ``max_roi_pool`` and ``roi_align``.

``max_pool_indices`` is the Indices output of ONNX MaxPool: for every output of a max pooling window, the flat
index of the chosen input element over the whole N, C, spatial... input (row-major; with ``storage_order`` 1 the
spatial dims are counted column-major, as ONNX defines). Padding never wins: it is filled with -inf, and ties pick
the first element in window order. Sizes given as inputs (max_unpool's output_shape) must be known when shapes are
computed.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..enums import DataType, LayerType, PaddingMode as PM, PoolingType
from .base import BOOL, FLOAT, INT, INTS, Choice, Enum, OpDef, OpError, Spec, host_ints, known_ints, register
from .conv import _fill, compute_dtype, conv_out_dim, resolve_padding


@register
class Pooling(OpDef):
    kind = "pooling"
    layer_type = LayerType.POOLING
    attrs = {
        "type": (Enum(PoolingType), PoolingType.MAX), "window_size_nd": (INTS, ()), "stride_nd": (INTS, ()),
        "pre_padding": (INTS, ()), "post_padding": (INTS, ()), "padding_mode": (Enum(PM), PM.EXPLICIT_ROUND_DOWN),
        "blend_factor": (FLOAT, 0.0), "average_count_excludes_padding": (BOOL, True), "dilation_nd": (INTS, ()),
    }

    def params(self, a, x_shape):
        """(spatial rank, window, strides, dilations, pre padding, post padding) of attributes ``a`` at input shape
        ``x_shape`` (the generic implementation and the CPU pooling tactic both read them here)."""
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
        nsp, k, s, d, pre, post = self.params(a, x.shape)
        up = a.padding_mode == PM.EXPLICIT_ROUND_UP
        out = [conv_out_dim(n, k[i], s[i], d[i], pre[i], post[i], up) for i, n in enumerate(x.shape[2:])]
        if up:  # the last window must start inside the input or its left padding (as PyTorch and ONNX)
            out = [o - 1 if o > 0 and (o - 1) * s[i] >= x.shape[2 + i] + pre[i] else o for i, o in enumerate(out)]
        return [Spec(x.dtype, (*x.shape[:2], *out))]

    def _window_pads(self, a, x, out_sp):
        """``(nsp, kernel, stride, dilation, pre, post, F.pad amounts)`` for input ``x`` and output spatial shape
        ``out_sp``, the right padding grown so that the last (round-up) window fits."""
        nsp, k, s, d, pre, post = self.params(a, x.shape)
        extra = [max(0, (o - 1) * s[i] + d[i] * (k[i] - 1) + 1 - (x.shape[2 + i] + pre[i] + post[i]))
                 for i, o in enumerate(out_sp)]
        return nsp, k, s, d, pre, post, [p for i in reversed(range(nsp)) for p in (pre[i], post[i] + extra[i])]

    def run(self, a, ins, outs):
        x = ins[0]
        out_sp = outs[0].shape[2:]
        nsp, k, s, d, pre, post, pads = self._window_pads(a, x, out_sp)
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


@register
class MaxPoolIndices(Pooling):
    kind = "max_pool_indices"
    layer_type = LayerType.POOLING
    attrs = {k: v for k, v in Pooling.attrs.items() if k not in ("type", "blend_factor",
                                                                 "average_count_excludes_padding")}
    attrs["storage_order"] = (INT, 0)

    def infer(self, a, ins):
        if a.storage_order not in (0, 1):
            raise OpError(f"storage_order {a.storage_order} must be 0 (row major) or 1 (column major)")
        (y,) = super().infer(a, ins)
        return [Spec(DataType.INT64, y.shape)]

    def run(self, a, ins, outs):
        x = ins[0]
        out_sp = outs[0].shape[2:]
        nsp, k, s, d, pre, post, pads = self._window_pads(a, x, out_sp)
        xp = F.pad(x.float() if not x.is_floating_point() else x, pads, value=float("-inf")) if any(pads) else x
        f = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[nsp - 1]
        _, idx = f(xp, k, s, 0, d, return_indices=True)
        idx = idx[(..., *[slice(0, o) for o in out_sp])]
        # flat index in the padded spatial plane -> coordinates in the input
        padded = xp.shape[2:]
        coords, rem = [], idx
        for i in reversed(range(nsp)):
            coords.append(rem % padded[i] - pre[i])
            rem = torch.div(rem, padded[i], rounding_mode="floor")
        coords = coords[::-1]
        dims = x.shape[2:]
        if a.storage_order == 1:
            flat = torch.zeros_like(idx)
            for i in reversed(range(nsp)):
                flat = flat * dims[i] + coords[i]
        else:
            flat = torch.zeros_like(idx)
            for i in range(nsp):
                flat = flat * dims[i] + coords[i]
        plane = 1
        for v in dims:
            plane *= v
        n, c = x.shape[0], x.shape[1]
        base = (torch.arange(n, device=x.device).view(n, 1) * c + torch.arange(c, device=x.device).view(1, c))
        base = base.view(n, c, *([1] * nsp)) * plane
        return [(flat + base).to(torch.int64)]


def exact_div(t, scalar):
    """``t / scalar`` correctly rounded on every device (CUDA turns a division by a Python scalar into a
    multiplication by its reciprocal, which moves floor/ceil bin edges)."""
    return t / torch.full_like(t, scalar)


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
        dt = compute_dtype(x)
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
    attrs = {"mode": (Choice("avg", "max"), "avg"), "output_height": (INT, 1), "output_width": (INT, 1),
             "sampling_ratio": (INT, 0),
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
        dev, dt = x.device, compute_dtype(x)
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
            shp = known_ints(out, "output_shape")
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
            want = host_ints(out)
            if len(want) != len(shape) or any(w < d for w, d in zip(want, shape)):
                raise ValueError(f"MaxUnpool output_shape {want} is smaller than the unpooled shape {shape}")
            pad = []
            for w, d in zip(reversed(want), reversed(shape)):
                pad += [0, w - d]
            y = F.pad(y, pad)
        return [y]
