"""Resize (IResizeLayer), generic N-D: each resized axis gets per-output source indices and weights, applied with
a gather and a weighted sum, so every ONNX Resize mode (opsets 10-19) is reproduced exactly.

TensorRT's properties: shape, scales, resize_mode, coordinate_transformation, selector_for_single_pixel,
nearest_rounding, exclude_outside, cubic_coeff; input 1 gives the output shape (INT32/INT64) or the scales (FLOAT).
inferrt extensions for ONNX: ``coordinate_mode`` (an ONNX coordinate_transformation_mode name that overrides
``coordinate_transformation``: half_pixel_symmetric, pytorch_half_pixel, tf_half_pixel_for_nn,
tf_crop_and_resize), ``roi`` (or input 2) with ``extrapolation_value``, ``antialias``, ``axes`` and
``keep_aspect_ratio_policy`` (stretch, not_larger, not_smaller).
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch

from ..dtypes import FLOAT_TYPES as _FLOATS
from ..enums import (DataType, InterpolationMode as IM, LayerType, ResizeCoordinateTransformation as RCT,
                     ResizeRoundMode as RRM, ResizeSelector)
from .base import BOOL, FLOAT, FLOATS, INTS, Choice, Enum, OpDef, OpError, Spec, norm_axis, register

COORD_MODES = ("align_corners", "asymmetric", "half_pixel", "half_pixel_symmetric", "pytorch_half_pixel",
               "tf_half_pixel_for_nn", "tf_crop_and_resize")
_POLICIES = ("stretch", "not_larger", "not_smaller")


def _f32(v):
    return float(np.float32(v))


def resolve(a, in_shape, size_in=None, scales_in=None, roi_in=None):
    """Output shape, per-axis scale and per-axis (start, end) roi for ``in_shape``.

    ``size_in`` / ``scales_in`` are the values of input 1 (whichever it holds); attributes are used otherwise.
    Output dims are -1 where ``in_shape`` is unknown.
    """
    rank = len(in_shape)
    axes = _resized_axes(a, rank)
    if len(set(axes)) != len(axes):
        raise OpError(f"axes {tuple(a.axes)} repeat an axis")
    sizes = scales = None
    if size_in is not None:
        sizes = [int(v) for v in size_in]
    elif scales_in is not None:
        scales = [_f32(v) for v in scales_in]
    elif a.scales:
        scales = [_f32(v) for v in a.scales]
    elif a.shape:
        sizes = [int(v) for v in a.shape]
    else:
        raise OpError("neither the output shape nor the scales are set; set `shape` or `scales`, "
                      "or give them as input 1")
    given = sizes if sizes is not None else scales
    if len(given) != len(axes):
        what = "shape" if sizes is not None else "scales"
        raise OpError(f"{what} {tuple(given)} has {len(given)} values but {len(axes)} axes are resized "
                      f"(input rank {rank}{', axes ' + str(tuple(axes)) if a.axes else ''})")
    roi = list(roi_in) if roi_in is not None else list(a.roi)
    if roi and len(roi) != 2 * len(axes):
        raise OpError(f"roi has {len(roi)} values; it needs 2 per resized axis ({2 * len(axes)}): starts then ends")
    out = list(in_shape)
    scale = [1.0] * rank
    box = [(0.0, 1.0)] * rank
    if roi:
        for i, ax in enumerate(axes):
            box[ax] = (float(roi[i]), float(roi[len(axes) + i]))
    if scales is not None:
        for ax, s in zip(axes, scales):
            if not s > 0:
                raise OpError(f"scale {s} on axis {ax} must be positive")
            scale[ax] = s
            out[ax] = -1 if in_shape[ax] < 0 else int(math.floor(in_shape[ax] * s))
        return out, scale, box, axes
    if any(s < 0 for s in sizes):
        raise OpError(f"output shape {tuple(sizes)} has a negative size")
    if a.keep_aspect_ratio_policy not in _POLICIES:
        raise OpError(f"keep_aspect_ratio_policy {a.keep_aspect_ratio_policy!r} must be one of {_POLICIES}")
    if any(in_shape[ax] < 0 for ax in axes):
        for ax, s in zip(axes, sizes):
            out[ax] = s if a.keep_aspect_ratio_policy == "stretch" else -1
        return out, None, box, axes
    for ax, s in zip(axes, sizes):
        if in_shape[ax] == 0:
            raise OpError(f"axis {ax} of the input is empty and cannot be resized to {s}")
        scale[ax] = s / in_shape[ax]
        out[ax] = s
    if a.keep_aspect_ratio_policy != "stretch":
        pick = min if a.keep_aspect_ratio_policy == "not_larger" else max
        common = pick(scale[ax] for ax in axes)
        for ax in axes:
            scale[ax] = common
            out[ax] = int(common * in_shape[ax] + 0.5)
    return out, scale, box, axes


def _coords(mode, n_in, n_out, scale, box, selector):
    """Source coordinate of every output index (float64) and the extrapolation mask (tf_crop_and_resize)."""
    y = np.arange(n_out, dtype=np.float64)
    width = scale * n_in  # the real-valued output length the scale implies
    mask = None
    if n_out == 1 and selector == "upper" and mode not in ("tf_crop_and_resize",):
        return np.zeros(1), None
    if mode == "align_corners":
        x = np.zeros(n_out) if width == 1 else y * (n_in - 1) / (width - 1)
    elif mode == "asymmetric":
        x = y / scale
    elif mode == "half_pixel":
        x = (y + 0.5) / scale - 0.5
    elif mode == "pytorch_half_pixel":
        x = np.full(n_out, -0.5) if width == 1 else (y + 0.5) / scale - 0.5
    elif mode == "half_pixel_symmetric":
        offset = n_in / 2 * (1 - n_out / width)
        x = offset + (y + 0.5) / scale - 0.5
    elif mode == "tf_half_pixel_for_nn":
        x = (y + 0.5) / scale
    elif mode == "tf_crop_and_resize":
        s, e = box
        if width == 1:
            x = np.full(n_out, (e - s) * (n_in - 1) / 2)
        else:
            x = y * (e - s) * (n_in - 1) / (width - 1)
        x = x + s * (n_in - 1)
        mask = (x < 0) | (x > n_in - 1)
    else:
        raise OpError(f"unknown coordinate mode {mode!r}; use one of {COORD_MODES}")
    return x, mask


def _cubic(t, A):
    t = np.abs(t)
    near = ((A + 2) * t - (A + 3)) * t * t + 1
    far = ((A * t - 5 * A) * t + 8 * A) * t - 4 * A
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


@functools.lru_cache(maxsize=256)
def axis_plan(n_in, n_out, scale, box, mode, interp, rounding, selector, exclude_outside, cubic_a, antialias):
    """(indices [n_out, taps] int64, weights [n_out, taps] float64 or None, extrapolation mask or None)."""
    x, mask = _coords(mode, n_in, n_out, scale, box, selector)
    if interp == "nearest":
        f = np.floor(x)
        frac = x - f
        if rounding == "HALF_DOWN":
            idx = np.where(frac <= 0.5, f, f + 1)
        elif rounding == "HALF_UP":
            idx = np.where(frac < 0.5, f, f + 1)
        elif rounding == "FLOOR":
            idx = f
        else:
            idx = np.ceil(x)
        idx = np.clip(idx, 0, n_in - 1).astype(np.int64)[:, None]
        return idx, None, mask
    p = np.floor(x)
    t = x - p
    s = min(scale, 1.0) if antialias else 1.0
    if interp == "linear":
        start = int(math.floor(-1 / s) + 1)
        offs = np.arange(start, 1 - start + 1)  # 2 - 2 * start taps
        w = np.clip(1 - np.abs((offs[None, :] - t[:, None]) * s), 0, 1)
    else:
        start = int(math.floor(-2 / s) + 1)
        offs = np.arange(start, 2 - start)
        w = _cubic((offs[None, :] - t[:, None]) * s, cubic_a)
    if antialias:
        w = w / w.sum(axis=1, keepdims=True)
    idx = p[:, None].astype(np.int64) + offs[None, :]
    if exclude_outside:
        w = np.where((idx < 0) | (idx >= n_in), 0.0, w)
        tot = w.sum(axis=1, keepdims=True)
        w = w / np.where(tot == 0, 1.0, tot)
    return np.clip(idx, 0, n_in - 1), w, mask


@functools.lru_cache(maxsize=256)
def device_plan(device, *key):
    """``axis_plan`` as tensors on ``device``, made once (so a warmed-up resize can be captured in a CUDA graph)."""
    idx, w, mask = axis_plan(*key)
    return (torch.from_numpy(idx.reshape(-1)).to(device), None if w is None else torch.from_numpy(w).to(device),
            None if mask is None or not mask.any() else torch.from_numpy(mask).to(device))


#: use PyTorch's interpolate kernels for the modes where they compute exactly ONNX's formula (tests switch it off
#: to check the generic path on the same cases)
USE_TORCH_INTERPOLATE = True
_TORCH_MODES = {("linear", 3): "linear", ("linear", 4): "bilinear", ("linear", 5): "trilinear", ("cubic", 4): "bicubic"}


def torch_interpolate(y, out, scale, mode, interp, a):
    """F.interpolate when it matches ONNX exactly (linear 1-3 D / cubic 2-D, half-pixel or align-corners, no
    antialias, cubic_coeff -0.75 without exclude_outside, batch and channel dims kept); else None."""
    tmode = _TORCH_MODES.get((interp, y.dim()))
    if tmode is None or a.antialias or (interp == "cubic" and (a.exclude_outside or a.cubic_coeff != -0.75)):
        return None
    if out[0] != y.shape[0] or out[1] != y.shape[1] or not (math.isclose(scale[0], 1) and math.isclose(scale[1], 1)):
        return None
    spatial = range(2, y.dim())
    if any(out[i] == 1 and y.shape[i] != 1 for i in spatial) or any(out[i] == 0 for i in spatial):
        return None  # single-pixel outputs follow per-mode rules (selector, pytorch_half_pixel)
    from_sizes = all(math.isclose(scale[i] * y.shape[i], out[i], rel_tol=1e-9) for i in spatial)
    if mode == "align_corners" and from_sizes:
        align = True
    elif mode in ("half_pixel", "pytorch_half_pixel"):
        align = False
    else:
        return None
    import torch.nn.functional as F

    if from_sizes:
        r = F.interpolate(y, size=[out[i] for i in spatial], mode=tmode, align_corners=align)
    else:
        r = F.interpolate(y, scale_factor=[scale[i] for i in spatial], mode=tmode, align_corners=align,
                          recompute_scale_factor=False)
    return r if list(r.shape) == list(out) else None


def _mode_name(a):
    if a.coordinate_mode:
        if a.coordinate_mode not in COORD_MODES:
            raise OpError(f"coordinate_mode {a.coordinate_mode!r} is not one of {COORD_MODES}")
        return a.coordinate_mode
    return a.coordinate_transformation.name.lower()


def _resized_axes(a, rank):
    return [norm_axis(x, rank, "resize axis") for x in a.axes] if a.axes else list(range(rank))


def _input1(ins, k):
    t = ins[k] if len(ins) > k else None
    return t


@register
class Resize(OpDef):
    kind = "resize"
    host_inputs = (1, 2)
    layer_type = LayerType.RESIZE
    attrs = {
        "shape": (INTS, ()), "scales": (FLOATS, ()), "resize_mode": (Enum(IM), IM.NEAREST),
        "coordinate_transformation": (Enum(RCT), RCT.ASYMMETRIC),
        "selector_for_single_pixel": (Enum(ResizeSelector), ResizeSelector.FORMULA),
        "nearest_rounding": (Enum(RRM), RRM.FLOOR), "exclude_outside": (BOOL, False), "cubic_coeff": (FLOAT, -0.75),
        # inferrt extensions (ONNX Resize)
        "coordinate_mode": (Choice("", *COORD_MODES), ""), "roi": (FLOATS, ()), "extrapolation_value": (FLOAT, 0.0),
        "antialias": (BOOL, False), "axes": (INTS, ()), "keep_aspect_ratio_policy": (Choice(*_POLICIES), "stretch"),
    }
    inputs = ("input", "shape_or_scales", "roi")

    def infer(self, a, ins):
        x = ins[0]
        if x.shape is None:
            raise OpError("input rank must be known")
        mode = _mode_name(a)
        if a.resize_mode != IM.NEAREST and x.dtype not in _FLOATS:
            raise OpError(f"{a.resize_mode.name} resize needs a floating-point input, got {x.dtype.name}; "
                          f"use NEAREST or cast the input")
        if a.antialias and a.resize_mode == IM.NEAREST:
            raise OpError("antialias applies to LINEAR and CUBIC resize only")
        t1, t2 = _input1(ins, 1), _input1(ins, 2)
        if mode == "tf_crop_and_resize" and not a.roi and t2 is None:
            raise OpError("coordinate mode tf_crop_and_resize needs a roi (attribute `roi` or input 2)")
        size_in = scales_in = roi_in = None
        if t1 is not None:
            if t1.shape is None or len(t1.shape) != 1:
                raise OpError("input 1 (output shape or scales) must be a 1-D tensor")
            if t1.value is None:
                n = len(x.shape)
                return [Spec(x.dtype, (-1,) * n)]
            if t1.dtype in (DataType.INT32, DataType.INT64):
                size_in = t1.value
            elif t1.dtype in _FLOATS:
                scales_in = t1.value
            else:
                raise OpError(f"input 1 has type {t1.dtype.name}; give INT32/INT64 sizes or FLOAT scales")
        if t2 is not None and t2.value is not None:
            roi_in = t2.value.reshape(-1)
        out, _, _, _ = resolve(a, x.shape, size_in, scales_in, roi_in)
        return [Spec(x.dtype, tuple(out))]

    def run(self, a, ins, outs):
        x = ins[0]
        t1, t2 = _input1(ins, 1), _input1(ins, 2)
        size_in = scales_in = roi_in = None
        if t1 is not None:
            if not t1.is_floating_point() and a.keep_aspect_ratio_policy == "stretch" and outs[0] is not None:
                # the sizes are the output's shape: no need to read them back from the device
                size_in = [outs[0].shape[ax] for ax in _resized_axes(a, x.dim())]
            elif t1.is_floating_point():
                scales_in = t1.detach().cpu().numpy()
            else:
                size_in = t1.detach().cpu().numpy()
        if t2 is not None:
            roi_in = t2.detach().to(torch.float64).cpu().numpy().reshape(-1)
        out, scale, box, axes = resolve(a, tuple(x.shape), size_in, scales_in, roi_in)
        mode = _mode_name(a)
        interp = a.resize_mode.name.lower()
        selector = "upper" if a.selector_for_single_pixel == ResizeSelector.UPPER else "formula"
        compute = x.dtype if x.dtype in (torch.float32, torch.float64) or interp == "nearest" else torch.float32
        y = x.to(compute)
        if USE_TORCH_INTERPOLATE and x.dim() >= 3 and y.is_floating_point():
            fast = torch_interpolate(y, out, scale, mode, interp, a)
            if fast is not None:
                return [fast.to(x.dtype)]
        mask = None
        for ax in axes:
            n_in, n_out = y.shape[ax], out[ax]
            if (math.isclose(scale[ax], 1.0) and n_out == n_in
                    and (mode != "tf_crop_and_resize" or (math.isclose(box[ax][0], 0.0, abs_tol=1e-9)
                                                          and math.isclose(box[ax][1], 1.0)))):
                continue  # identity along this axis
            if n_in == 0 or n_out == 0:
                shape = list(y.shape)
                shape[ax] = n_out
                y = y.new_zeros(shape)
                continue
            idx, w, m = device_plan(y.device, n_in, n_out, scale[ax], box[ax], mode, interp, a.nearest_rounding.name,
                                    selector, a.exclude_outside, a.cubic_coeff, a.antialias)
            taps = idx.numel() // n_out
            g = y.index_select(ax, idx)
            if w is not None:
                g = g.reshape(*y.shape[:ax], n_out, taps, *y.shape[ax + 1:])
                g = (g * w.to(compute).reshape(n_out, taps, *([1] * (y.dim() - ax - 1)))).sum(ax + 1)
            y = g
            if m is not None:
                shape = [1] * y.dim()
                shape[ax] = n_out
                mt = m.reshape(shape)
                mask = mt if mask is None else (mask | mt)
        if mask is not None:
            y = y.masked_fill(mask, a.extrapolation_value)
        return [y.to(x.dtype)]
