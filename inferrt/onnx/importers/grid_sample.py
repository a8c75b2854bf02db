"""Importers for ONNX GridSample (opsets 16 and 20) onto IGridSampleLayer, and AffineGrid onto the ``affine_grid`` op
(the grid_sample family, ``inferrt/ops/grid_sample.py``)."""
from __future__ import annotations

from ...enums import InterpolationMode, ParserErrorCode as E, SampleMode
from ...ir.kinds import Kind
from ..registry import importer


_GS_MODES = {"bilinear": InterpolationMode.LINEAR, "linear": InterpolationMode.LINEAR,
             "nearest": InterpolationMode.NEAREST, "bicubic": InterpolationMode.CUBIC, "cubic": InterpolationMode.CUBIC}
_GS_PADDING = {"zeros": SampleMode.FILL, "border": SampleMode.CLAMP, "reflection": SampleMode.REFLECT}


def _grid_sample(ctx, node, modes):
    x, grid = ctx.float_input(node, 0), ctx.float_input(node, 1, "grid")
    mode = node.attr("mode", modes[0])
    pad = node.attr("padding_mode", "zeros")
    if mode not in modes:
        ctx.fail(f"mode {mode!r} is not one of {', '.join(modes)} at opset {ctx.opset()}", E.UNSUPPORTED_NODE_ATTR)
    if pad not in _GS_PADDING:
        ctx.fail(f"padding_mode {pad!r} is not one of zeros, border, reflection", E.UNSUPPORTED_NODE_ATTR)
    if ctx.rank(x) not in (4, 5):
        ctx.fail(f"input {x.name!r} has rank {ctx.rank(x)}; GridSample supports 4-D and 5-D inputs",
                 E.UNSUPPORTED_NODE_SHAPE)
    if ctx.rank(x) == 5 and _GS_MODES[mode] == InterpolationMode.CUBIC:
        ctx.fail("cubic interpolation is supported for 4-D inputs only; use linear or nearest for 5-D",
                 E.UNSUPPORTED_NODE_ATTR)
    layer = ctx.network.add_grid_sample(x, ctx.cast(grid, x.dtype))
    layer.interpolation_mode = _GS_MODES[mode]
    layer.align_corners = bool(node.attr("align_corners", 0))
    layer.sample_mode = _GS_PADDING[pad]
    return [layer.get_output(0)]


@importer("GridSample", since=16)
def grid_sample_16(ctx, node):
    return _grid_sample(ctx, node, ("bilinear", "nearest", "bicubic"))


@importer("GridSample", since=20)
def grid_sample_20(ctx, node):
    return _grid_sample(ctx, node, ("linear", "nearest", "cubic"))


@importer("AffineGrid", since=20)
def affine_grid(ctx, node):
    theta = ctx.float_input(node, 0, "theta")
    return ctx.add_op(Kind.AFFINE_GRID, [theta, ctx.int64_input(node, 1)],
                      {"align_corners": bool(node.attr("align_corners", 0))})
