"""com.microsoft transformer blocks written by onnxruntime's transformer optimizer: SkipLayerNormalization,
SkipSimplifiedLayerNormalization, EmbedLayerNormalization and RotaryEmbedding.

They decompose into standard layers (Gather, LayerNormalization / RMSNormalization, slices and element-wise
layers); ``rotate`` is shared with GroupQueryAttention's ``do_rotary``.
"""
from __future__ import annotations

import numpy as np

from ...enums import (DataType, ElementWiseOperation as EW, ParserErrorCode as E, ReduceOperation as R,
                      UnaryOperation as U)
from ..registry import importer


MS = "com.microsoft"


def last_dim(ctx, node, t, what):
    d = t.shape[-1] if ctx.rank(t) else -1
    if d < 0:
        ctx.fail(f"the last dimension of {what} must be static, got shape {tuple(t.shape)}",
                 E.UNSUPPORTED_NODE_SHAPE)
    return int(d)


# ----------------------------------------------------------------------------------------------- skip + norm
def _skip_sum(ctx, node, bias_index):
    x, skip = ctx.input(node, 0), ctx.input(node, 1)
    if ctx.rank(x) != 3 or ctx.rank(skip) not in (2, 3):
        ctx.fail(f"input must be 3-D (B, S, H) and skip 3-D or 2-D, got ranks {ctx.rank(x)} and {ctx.rank(skip)}",
                 E.INVALID_NODE)
    s = ctx.elementwise(x, skip, EW.SUM)
    if ctx.has_input(node, bias_index):
        s = ctx.elementwise(s, ctx.input(node, bias_index), EW.SUM)
    return s


@importer("SkipLayerNormalization", since=1, domain=MS)
def skip_layer_norm(ctx, node):
    s = _skip_sum(ctx, node, 4)
    eps = float(ctx.attr(node, "epsilon", 1e-12))
    ln_in = [s, ctx.input(node, 2)] + ([ctx.input(node, 3)] if ctx.has_input(node, 3) else [])
    stats = ctx.has_output(node, 1) or ctx.has_output(node, 2)
    y, mean, inv = (ctx.onnx_op("LayerNormalization", ln_in, n_out=3 if stats else 1, axis=-1, epsilon=eps)
                    + [None, None])[:3]
    return [y, mean if ctx.has_output(node, 1) else None, inv if ctx.has_output(node, 2) else None,
            s if ctx.has_output(node, 3) else None][:len(node.outputs)]


@importer("SkipSimplifiedLayerNormalization", since=1, domain=MS)
def skip_simplified_layer_norm(ctx, node):
    s = _skip_sum(ctx, node, 3)
    eps = float(ctx.attr(node, "epsilon", 1e-12))
    if ctx.has_output(node, 1):
        ctx.fail("output 1 (mean) does not exist for the RMS form (onnxruntime leaves it unwritten); remove it "
                 "from the node's outputs", E.UNSUPPORTED_NODE_ATTR)
    y = ctx.onnx_op("RMSNormalization", [s, ctx.input(node, 2)], opset=23, axis=-1, epsilon=eps)[0]
    inv = None
    if ctx.has_output(node, 2):  # 1 / sqrt(mean(s^2) + epsilon) over the hidden axis, kept as (B, S, 1)
        sf = ctx.to_float(s)
        ms_ = ctx.reduce(ctx.elementwise(sf, sf, EW.PROD), R.AVG, [ctx.rank(sf) - 1], True)
        inv = ctx.unary(ctx.unary(ctx.elementwise(ms_, ctx.scalar_like(eps, ms_), EW.SUM), U.SQRT), U.RECIP)
    return [y, None, inv, s if ctx.has_output(node, 3) else None][:len(node.outputs)]


# ----------------------------------------------------------------------------------------------- embedding
def _leading_rows(ctx, node, table, count):
    """``table[0:count]`` along axis 0 (``count``: a 1-element INT64 tensor)."""
    return ctx.onnx_op("Slice", [table, ctx.ints([0]), count, ctx.ints([0])])[0]


@importer("EmbedLayerNormalization", since=1, domain=MS)
def embed_layer_norm(ctx, node):
    ids = ctx.input(node, 0)
    if ctx.rank(ids) != 2:
        ctx.fail(f"input_ids must be 2-D (batch, sequence), got rank {ctx.rank(ids)}", E.INVALID_NODE)
    word, pos_table = ctx.input(node, 2), ctx.input(node, 3)
    emb = ctx.onnx_op("Gather", [word, ids], axis=0)[0]
    if ctx.has_input(node, 8):  # position_ids (B, S) or (1, S)
        pos = ctx.onnx_op("Gather", [pos_table, ctx.input(node, 8)], axis=0)[0]
    else:
        s = ctx.onnx_op("Shape", [ids], start=1, end=2)[0]
        pos = ctx.unsqueeze_front(_leading_rows(ctx, node, pos_table, s), 1)
    emb = ctx.elementwise(emb, pos, EW.SUM)
    if ctx.has_input(node, 1) != ctx.has_input(node, 4):
        ctx.fail("segment_ids and segment_embedding must be given together", E.INVALID_NODE)
    if ctx.has_input(node, 1):
        emb = ctx.elementwise(emb, ctx.onnx_op("Gather", [ctx.input(node, 4), ctx.input(node, 1)], axis=0)[0], EW.SUM)
    eps = float(ctx.attr(node, "epsilon", 1e-12))
    y = ctx.onnx_op("LayerNormalization", [emb, ctx.input(node, 5), ctx.input(node, 6)], axis=-1,
                    epsilon=eps)[0]
    mask_index = None
    if ctx.has_output(node, 1):
        if int(ctx.attr(node, "mask_index_type", 1)) != 1:
            ctx.fail(f"attribute mask_index_type={ctx.attr(node, 'mask_index_type')} with a mask_index output is not "
                     f"supported (1: the number of tokens per sequence)", E.UNSUPPORTED_NODE_ATTR)
        if ctx.has_input(node, 7):
            m = ctx.cast(ctx.input(node, 7), DataType.INT32)
            mask_index = ctx.onnx_op("ReduceSum", [m, ctx.ints([1])], keepdims=0)[0]
        else:  # no mask: onnxruntime writes zeros
            from onnx import TensorProto, helper

            batch = ctx.onnx_op("Shape", [ids], start=0, end=1)[0]
            mask_index = ctx.onnx_op("ConstantOfShape", [batch],
                                     value=helper.make_tensor("zero", TensorProto.INT32, [1], [0]))[0]
    return [y, mask_index, emb if ctx.has_output(node, 2) else None][:len(node.outputs)]


# ----------------------------------------------------------------------------------------------- rotary
def rotate(ctx, node, x, cos, sin, rot_dim, interleaved):
    """Rotary embedding over the last axis of ``x`` (head size H >= ``rot_dim``); ``cos`` / ``sin`` broadcast onto
    x's leading axes and hold ``rot_dim / 2`` values last. Pairs are (i, i + rot_dim/2), or (2i, 2i+1) when
    ``interleaved``; the dims past ``rot_dim`` pass through."""
    r = ctx.rank(x)
    h = last_dim(ctx, node, x, "the rotated input")
    half = rot_dim // 2
    part = ctx.out(ctx.axis_slice(x, [r - 1], [0], [rot_dim])) if rot_dim < h else x
    if interleaved:
        x1 = ctx.out(ctx.axis_slice(part, [r - 1], [0], [half], [2]))
        x2 = ctx.out(ctx.axis_slice(part, [r - 1], [1], [half], [2]))
    else:
        x1 = ctx.out(ctx.axis_slice(part, [r - 1], [0], [half]))
        x2 = ctx.out(ctx.axis_slice(part, [r - 1], [half], [half]))
    cos, sin = ctx.cast(cos, x.dtype), ctx.cast(sin, x.dtype)
    o1 = ctx.elementwise(ctx.elementwise(x1, cos, EW.PROD), ctx.elementwise(x2, sin, EW.PROD), EW.SUB)
    o2 = ctx.elementwise(ctx.elementwise(x2, cos, EW.PROD), ctx.elementwise(x1, sin, EW.PROD), EW.SUM)
    if interleaved:
        pair = ctx.concat([ctx.onnx_op("Unsqueeze", [o, ctx.ints([-1])])[0] for o in (o1, o2)], r)
        y = ctx.reshape(pair, [0] * (r - 1) + [rot_dim], zero_copies=True)
    else:
        y = ctx.concat([o1, o2], r - 1)
    if rot_dim < h:
        y = ctx.concat([y, ctx.out(ctx.axis_slice(x, [r - 1], [rot_dim], [h - rot_dim]))], r - 1)
    return y


def rotary_tables(ctx, node, cos_cache, sin_cache, positions):
    """cos / sin rows for ``positions`` (any INT shape): Gather along the cache's first axis."""
    pos = ctx.cast(positions, DataType.INT64)
    return [ctx.onnx_op("Gather", [c, pos], axis=0)[0] for c in (cos_cache, sin_cache)]


@importer("RotaryEmbedding", since=1, domain=MS)
def rotary_embedding(ctx, node):
    x, pos_ids, cos_cache, sin_cache = (ctx.input(node, i) for i in range(4))
    if int(ctx.attr(node, "is_packed_batching", 0)):
        ctx.fail("attribute is_packed_batching=1 (packed variable-length batches) is not supported",
                 E.UNSUPPORTED_NODE_ATTR)
    if float(ctx.attr(node, "scale", 1.0)) != 1.0:
        ctx.fail(f"attribute scale={ctx.attr(node, 'scale')} is not supported (1.0)", E.UNSUPPORTED_NODE_ATTR)
    interleaved = bool(ctx.attr(node, "interleaved", 0))
    half = last_dim(ctx, node, cos_cache, "cos_cache")
    r = ctx.rank(x)
    if r not in (3, 4):
        ctx.fail(f"input must be 3-D (B, S, hidden) or 4-D (B, N, S, head_size), got rank {r}", E.INVALID_NODE)
    n_heads = int(ctx.attr(node, "num_heads", 0))
    hidden = last_dim(ctx, node, x, "input")
    if r == 3:
        head = hidden // n_heads if n_heads else 2 * half
        if hidden % head:
            ctx.fail(f"hidden size {hidden} is not a multiple of the head size {head}", E.INVALID_NODE)
    else:
        head = hidden
    rot_dim = int(ctx.attr(node, "rotary_embedding_dim", 0)) or head
    if rot_dim != 2 * half or rot_dim > head:
        ctx.fail(f"rotary_embedding_dim {rot_dim} must be twice cos_cache's last dim ({half}) and at most the head "
                 f"size {head}", E.INVALID_NODE)
    seq_axis = 1 if r == 3 else 2
    if ctx.rank(pos_ids) == 2:  # (B, S) positions
        positions = pos_ids
    else:  # one offset: positions offset + [0, S)
        s = ctx.onnx_op("Shape", [x], start=seq_axis, end=seq_axis + 1)[0]
        zero = ctx.constant(np.array(0, np.int64))
        one = ctx.constant(np.array(1, np.int64))
        steps = ctx.onnx_op("Range", [zero, ctx.reshape(s, [], zero_copies=False), one])[0]
        offset = ctx.reshape(ctx.cast(pos_ids, DataType.INT64), [1], zero_copies=False)
        positions = ctx.unsqueeze_front(ctx.elementwise(steps, offset, EW.SUM), 1)
    cos, sin = rotary_tables(ctx, node, cos_cache, sin_cache, positions)  # (B, S, half)
    if r == 3:
        x4 = ctx.reshape(x, [0, 0, hidden // head, head], zero_copies=True)
        cos, sin = (ctx.onnx_op("Unsqueeze", [t, ctx.ints([2])])[0] for t in (cos, sin))
        y = rotate(ctx, node, x4, cos, sin, rot_dim, interleaved)
        return [ctx.reshape(y, [0, 0, hidden], zero_copies=True)]
    cos, sin = (ctx.onnx_op("Unsqueeze", [t, ctx.ints([1])])[0] for t in (cos, sin))
    return [rotate(ctx, node, x, cos, sin, rot_dim, interleaved)]
