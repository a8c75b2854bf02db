"""Importers for ONNX Resize (opsets 10, 11, 13, 18, 19) and Upsample (7, 9), onto IResizeLayer.

Every coordinate_transformation_mode, nearest_mode, cubic_coeff_a, exclude_outside, extrapolation_value, roi,
antialias, axes and keep_aspect_ratio_policy maps onto the resize layer's properties (TensorRT's, plus inferrt's
ONNX extensions ``coordinate_mode``, ``roi``, ``antialias``, ``axes``, ``keep_aspect_ratio_policy``). Scales or sizes
that are only known at run time feed the layer's input 1.
"""
from __future__ import annotations

import numpy as np

from ...enums import (DataType, InterpolationMode as IM, ParserErrorCode as E, ResizeCoordinateTransformation as RCT,
                      ResizeRoundMode as RRM)
from ..registry import importer


_MODES = {"nearest": IM.NEAREST, "linear": IM.LINEAR, "bilinear": IM.LINEAR, "trilinear": IM.LINEAR,
          "cubic": IM.CUBIC, "bicubic": IM.CUBIC}
_STD_COORDS = {"half_pixel": RCT.HALF_PIXEL, "align_corners": RCT.ALIGN_CORNERS, "asymmetric": RCT.ASYMMETRIC}
_EXT_COORDS = ("pytorch_half_pixel", "half_pixel_symmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize")
_ROUNDING = {"round_prefer_floor": RRM.HALF_DOWN, "round_prefer_ceil": RRM.HALF_UP, "floor": RRM.FLOOR,
             "ceil": RRM.CEIL}


def _mode(ctx, node):
    m = ctx.attr(node, "mode", "nearest")
    if m not in _MODES:
        ctx.fail(f"mode {m!r} is not nearest, linear or cubic", E.UNSUPPORTED_NODE_ATTR)
    return _MODES[m]


def _simple_rounding(ctx, node, scales):
    """ONNX Upsample / Resize-10 nearest: floor when upsampling, ceil when downsampling (per the whole op)."""
    resized = [s for s in scales if s != 1.0]
    if all(s >= 1.0 for s in resized):
        return RRM.FLOOR
    if all(s < 1.0 for s in resized):
        return RRM.CEIL
    ctx.fail(f"nearest resize that both up- and down-samples ({list(scales)}) is not supported before opset 11",
             E.UNSUPPORTED_NODE_ATTR)


def _legacy(ctx, node, scales, scales_t):
    """Upsample-7/9 and Resize-10: asymmetric coordinates, 'simple' nearest rounding, scales on every axis."""
    x = ctx.input(node, 0)
    layer = ctx.network.add_resize(x)
    layer.resize_mode = _mode(ctx, node)
    layer.coordinate_transformation = RCT.ASYMMETRIC
    if scales is not None:
        scales = [float(s) for s in np.asarray(scales, np.float32).reshape(-1)]
        if len(scales) != ctx.rank(x):
            ctx.fail(f"scales has {len(scales)} values but the input has rank {ctx.rank(x)}", E.INVALID_NODE)
        layer.scales = scales
        layer.nearest_rounding = _simple_rounding(ctx, node, scales)
    else:
        layer.set_input(1, ctx.cast(scales_t, DataType.FLOAT))
        layer.nearest_rounding = RRM.FLOOR
    return [ctx.done(layer)]


@importer("Upsample", since=7)
def upsample_7(ctx, node):
    return _legacy(ctx, node, ctx.attr(node, "scales"), None)


@importer("Upsample", since=9)
def upsample_9(ctx, node):
    return _legacy(ctx, node, ctx.input_value(node, 1), ctx.input(node, 1))


@importer("Resize", since=10)
def resize_10(ctx, node):
    return _legacy(ctx, node, ctx.input_value(node, 1), ctx.input(node, 1))


@importer("Resize", since=11)
def resize_11(ctx, node):
    """Resize 11 (roi, scales, sizes), 13 (optional roi/scales), 18 (antialias, axes, keep_aspect_ratio_policy)
    and 19 (half_pixel_symmetric): one importer, since later opsets only add attributes and modes."""
    x = ctx.input(node, 0)
    layer = ctx.network.add_resize(x)
    layer.resize_mode = _mode(ctx, node)
    coord = ctx.attr(node, "coordinate_transformation_mode", "half_pixel")
    if coord in _STD_COORDS:
        layer.coordinate_transformation = _STD_COORDS[coord]
    elif coord in _EXT_COORDS:
        layer.coordinate_transformation = RCT.HALF_PIXEL
        layer.coordinate_mode = coord
    else:
        ctx.fail(f"coordinate_transformation_mode {coord!r} is not supported", E.UNSUPPORTED_NODE_ATTR)
    nm = ctx.attr(node, "nearest_mode", "round_prefer_floor")
    if nm not in _ROUNDING:
        ctx.fail(f"nearest_mode {nm!r} is not round_prefer_floor, round_prefer_ceil, floor or ceil",
                 E.UNSUPPORTED_NODE_ATTR)
    layer.nearest_rounding = _ROUNDING[nm]
    layer.cubic_coeff = float(ctx.attr(node, "cubic_coeff_a", -0.75))
    layer.exclude_outside = bool(ctx.attr(node, "exclude_outside", 0))
    layer.extrapolation_value = float(ctx.attr(node, "extrapolation_value", 0.0))
    if int(ctx.attr(node, "antialias", 0)):
        layer.antialias = layer.resize_mode != IM.NEAREST
    axes = ctx.attr(node, "axes", None)
    if axes is not None:
        layer.axes = tuple(int(a) for a in axes)
    policy = ctx.attr(node, "keep_aspect_ratio_policy", "stretch")
    layer.keep_aspect_ratio_policy = policy
    if coord == "tf_crop_and_resize":
        roi = ctx.input_value(node, 1)
        if roi is not None:
            layer.roi = [float(v) for v in np.asarray(roi).reshape(-1)]
        elif ctx.has_input(node, 1):
            layer.set_input(2, ctx.cast(ctx.input(node, 1), DataType.FLOAT))
        else:
            ctx.fail("tf_crop_and_resize needs the roi input", E.INVALID_NODE)
    scales = ctx.input_value(node, 2)
    if scales is not None and scales.size == 0:
        scales = None
    has_scales = ctx.has_input(node, 2) and not (scales is None and ctx.input(node, 2).shape[0] == 0)
    if ctx.has_input(node, 3):
        sizes = ctx.input_value(node, 3)
        if sizes is not None:
            layer.shape = [int(v) for v in sizes.reshape(-1)]
        else:
            layer.set_input(1, ctx.cast(ctx.input(node, 3), DataType.INT64))
    elif has_scales:
        if scales is not None:
            layer.scales = [float(v) for v in np.asarray(scales, np.float32).reshape(-1)]
        else:
            layer.set_input(1, ctx.cast(ctx.input(node, 2), DataType.FLOAT))
    else:
        ctx.fail("needs either scales or sizes", E.INVALID_NODE)
    return [ctx.done(layer)]
