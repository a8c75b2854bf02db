"""Importers for ops whose output shapes depend on input values: NonZero, NonMaxSuppression, Unique, Compress.

Their layers are data-dependent: engines that contain them run through the executor's eager path, where each
output's size comes from the actual values (TensorRT: output allocators).
"""
from __future__ import annotations

import numpy as np

from ...enums import BoundingBoxFormat, DataType, ParserErrorCode as E
from ...ir.kinds import Kind
from ..registry import importer


@importer("NonZero", since=9)
def non_zero(ctx, node):
    x = ctx.tensor(node.inputs[0])
    layer = ctx.network.add_non_zero(x)
    layer.indices_type = DataType.INT64
    return [layer.get_output(0)]


def _scalar_input(ctx, node, i, dtype, default):
    """Input ``i``, or a constant ``default`` when the optional input is absent."""
    name = node.input(i)
    return ctx.tensor(name) if name else ctx.constant(np.array(default, dtype))


@importer("NonMaxSuppression", since=10)
def non_max_suppression(ctx, node):
    boxes, scores = ctx.tensor(node.inputs[0]), ctx.tensor(node.inputs[1])
    if ctx.rank(boxes) != 3 or ctx.rank(scores) != 3:
        ctx.fail(f"boxes {tuple(boxes.shape)} must be [batch, boxes, 4] and scores {tuple(scores.shape)} "
                 f"[batch, classes, boxes]", E.UNSUPPORTED_NODE_SHAPE)
    cpb = int(node.attr("center_point_box", 0))
    if cpb not in (0, 1):
        ctx.fail(f"center_point_box must be 0 or 1, got {cpb}", E.UNSUPPORTED_NODE_ATTR)
    # ONNX scores are [batch, classes, boxes]; the NMS layer takes [batch, boxes, classes]
    shuffle = ctx.network.add_shuffle(scores)
    shuffle.first_transpose = (0, 2, 1)
    scores_t = shuffle.get_output(0)
    max_out = _scalar_input(ctx, node, 2, np.int64, 0)
    if max_out.dtype not in (DataType.INT32, DataType.INT64):
        max_out = ctx.cast(max_out, DataType.INT64)
    layer = ctx.network.add_nms(boxes, scores_t, max_out)
    layer.bounding_box_format = BoundingBoxFormat.CENTER_SIZES if cpb else BoundingBoxFormat.CORNER_PAIRS
    layer.indices_type = DataType.INT64
    n = boxes.shape[1]
    layer.topk_box_limit = int(n) if n > 0 else 2 ** 31 - 1   # ONNX considers every box
    iou = node.input(3)
    layer.set_input(3, ctx.tensor(iou) if iou else ctx.constant(np.array(0.0, np.float32)))
    if node.input(4):
        layer.set_input(4, ctx.tensor(node.input(4)))
    return [layer.get_output(0)]


def _axis_attr(ctx, node, x, attrs: dict) -> None:
    """Copy the node's optional ``axis`` into ``attrs``; INVALID_NODE when it is out of range for ``x``."""
    if node.has_attr("axis"):
        axis = int(node.attr("axis"))
        rank = ctx.rank(x)
        if not -rank <= axis < rank:
            ctx.fail(f"axis {axis} is out of range for input {x.name!r} of rank {rank}", E.INVALID_NODE)
        attrs["axis"] = axis


@importer("Unique", since=11)
def unique(ctx, node):
    x = ctx.tensor(node.inputs[0])
    attrs = {"sorted": bool(node.attr("sorted", 1))}
    _axis_attr(ctx, node, x, attrs)
    layer = ctx.network.internal.add_layer(Kind.UNIQUE, [x], attrs)
    return [layer.get_output(i) for i in range(len(node.outputs))]


@importer("Compress", since=9)
def compress(ctx, node):
    x, cond = ctx.tensor(node.inputs[0]), ctx.tensor(node.inputs[1])
    if cond.dtype != DataType.BOOL:
        cond = ctx.cast(cond, DataType.BOOL)
    attrs = {}
    _axis_attr(ctx, node, x, attrs)
    return [ctx.network.internal.add_layer(Kind.COMPRESS, [x, cond], attrs).get_output(0)]
