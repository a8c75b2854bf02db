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
from ._compose import (attr, axis_slice, cast, concat, const, ew, fail, has_input, inp, ints, onnx_op, out, rank,
                       reduce, reshape, scalar_like, to_float, unary, unsqueeze_front)

MS = "com.microsoft"


def _out(node, i) -> bool:
    return len(node.outputs) > i and bool(node.outputs[i])


def last_dim(ctx, node, t, what):
    d = t.shape[-1] if rank(t) else -1
    if d < 0:
        fail(node, f"the last dimension of {what} must be static, got shape {tuple(t.shape)}",
             E.UNSUPPORTED_NODE_SHAPE)
    return int(d)


# ----------------------------------------------------------------------------------------------- skip + norm
def _skip_sum(ctx, node, bias_index):
    x, skip = inp(ctx, node, 0), inp(ctx, node, 1)
    if rank(x) != 3 or rank(skip) not in (2, 3):
        fail(node, f"input must be 3-D (B, S, H) and skip 3-D or 2-D, got ranks {rank(x)} and {rank(skip)}",
             E.INVALID_NODE)
    s = ew(ctx, x, skip, EW.SUM)
    if has_input(node, bias_index):
        s = ew(ctx, s, inp(ctx, node, bias_index), EW.SUM)
    return s


@importer("SkipLayerNormalization", since=1, domain=MS)
def skip_layer_norm(ctx, node):
    s = _skip_sum(ctx, node, 4)
    eps = float(attr(node, "epsilon", 1e-12))
    ln_in = [s, inp(ctx, node, 2)] + ([inp(ctx, node, 3)] if has_input(node, 3) else [])
    stats = _out(node, 1) or _out(node, 2)
    y, mean, inv = (onnx_op(ctx, node, "LayerNormalization", ln_in, n_out=3 if stats else 1, axis=-1, epsilon=eps)
                    + [None, None])[:3]
    return [y, mean if _out(node, 1) else None, inv if _out(node, 2) else None,
            s if _out(node, 3) else None][:len(node.outputs)]


@importer("SkipSimplifiedLayerNormalization", since=1, domain=MS)
def skip_simplified_layer_norm(ctx, node):
    s = _skip_sum(ctx, node, 3)
    eps = float(attr(node, "epsilon", 1e-12))
    if _out(node, 1):
        fail(node, "output 1 (mean) does not exist for the RMS form (onnxruntime leaves it unwritten); remove it "
                   "from the node's outputs")
    y = onnx_op(ctx, node, "RMSNormalization", [s, inp(ctx, node, 2)], opset=23, axis=-1, epsilon=eps)[0]
    inv = None
    if _out(node, 2):  # 1 / sqrt(mean(s^2) + epsilon) over the hidden axis, kept as (B, S, 1)
        sf = to_float(ctx, s)
        ms_ = reduce(ctx, ew(ctx, sf, sf, EW.PROD), R.AVG, [rank(sf) - 1], True)
        inv = unary(ctx, unary(ctx, ew(ctx, ms_, scalar_like(ctx, eps, ms_), EW.SUM), U.SQRT), U.RECIP)
    return [y, None, inv, s if _out(node, 3) else None][:len(node.outputs)]


# ----------------------------------------------------------------------------------------------- embedding
def _leading_rows(ctx, node, table, count):
    """``table[0:count]`` along axis 0 (``count``: a 1-element INT64 tensor)."""
    return onnx_op(ctx, node, "Slice", [table, ints(ctx, [0]), count, ints(ctx, [0])])[0]


@importer("EmbedLayerNormalization", since=1, domain=MS)
def embed_layer_norm(ctx, node):
    ids = inp(ctx, node, 0)
    if rank(ids) != 2:
        fail(node, f"input_ids must be 2-D (batch, sequence), got rank {rank(ids)}", E.INVALID_NODE)
    word, pos_table = inp(ctx, node, 2), inp(ctx, node, 3)
    emb = onnx_op(ctx, node, "Gather", [word, ids], axis=0)[0]
    if has_input(node, 8):  # position_ids (B, S) or (1, S)
        pos = onnx_op(ctx, node, "Gather", [pos_table, inp(ctx, node, 8)], axis=0)[0]
    else:
        s = onnx_op(ctx, node, "Shape", [ids], start=1, end=2)[0]
        pos = unsqueeze_front(ctx, _leading_rows(ctx, node, pos_table, s), 1)
    emb = ew(ctx, emb, pos, EW.SUM)
    if has_input(node, 1) != has_input(node, 4):
        fail(node, "segment_ids and segment_embedding must be given together", E.INVALID_NODE)
    if has_input(node, 1):
        emb = ew(ctx, emb, onnx_op(ctx, node, "Gather", [inp(ctx, node, 4), inp(ctx, node, 1)], axis=0)[0], EW.SUM)
    eps = float(attr(node, "epsilon", 1e-12))
    y = onnx_op(ctx, node, "LayerNormalization", [emb, inp(ctx, node, 5), inp(ctx, node, 6)], axis=-1,
                epsilon=eps)[0]
    mask_index = None
    if _out(node, 1):
        if int(attr(node, "mask_index_type", 1)) != 1:
            fail(node, f"attribute mask_index_type={attr(node, 'mask_index_type')} with a mask_index output is not "
                       f"supported (1: the number of tokens per sequence)")
        if has_input(node, 7):
            m = cast(ctx, inp(ctx, node, 7), DataType.INT32)
            mask_index = onnx_op(ctx, node, "ReduceSum", [m, ints(ctx, [1])], keepdims=0)[0]
        else:  # no mask: onnxruntime writes zeros
            from onnx import TensorProto, helper

            batch = onnx_op(ctx, node, "Shape", [ids], start=0, end=1)[0]
            mask_index = onnx_op(ctx, node, "ConstantOfShape", [batch],
                                 value=helper.make_tensor("zero", TensorProto.INT32, [1], [0]))[0]
    return [y, mask_index, emb if _out(node, 2) else None][:len(node.outputs)]


# ----------------------------------------------------------------------------------------------- rotary
def rotate(ctx, node, x, cos, sin, rot_dim, interleaved):
    """Rotary embedding over the last axis of ``x`` (head size H >= ``rot_dim``); ``cos`` / ``sin`` broadcast onto
    x's leading axes and hold ``rot_dim / 2`` values last. Pairs are (i, i + rot_dim/2), or (2i, 2i+1) when
    ``interleaved``; the dims past ``rot_dim`` pass through."""
    r = rank(x)
    h = last_dim(ctx, node, x, "the rotated input")
    half = rot_dim // 2
    part = out(axis_slice(ctx, x, [r - 1], [0], [rot_dim])) if rot_dim < h else x
    if interleaved:
        x1 = out(axis_slice(ctx, part, [r - 1], [0], [half], [2]))
        x2 = out(axis_slice(ctx, part, [r - 1], [1], [half], [2]))
    else:
        x1 = out(axis_slice(ctx, part, [r - 1], [0], [half]))
        x2 = out(axis_slice(ctx, part, [r - 1], [half], [half]))
    cos, sin = cast(ctx, cos, x.dtype), cast(ctx, sin, x.dtype)
    o1 = ew(ctx, ew(ctx, x1, cos, EW.PROD), ew(ctx, x2, sin, EW.PROD), EW.SUB)
    o2 = ew(ctx, ew(ctx, x2, cos, EW.PROD), ew(ctx, x1, sin, EW.PROD), EW.SUM)
    if interleaved:
        pair = concat(ctx, [onnx_op(ctx, node, "Unsqueeze", [o, ints(ctx, [-1])])[0] for o in (o1, o2)], r)
        y = reshape(ctx, pair, [0] * (r - 1) + [rot_dim], zero_is_placeholder=True)
    else:
        y = concat(ctx, [o1, o2], r - 1)
    if rot_dim < h:
        y = concat(ctx, [y, out(axis_slice(ctx, x, [r - 1], [rot_dim], [h - rot_dim]))], r - 1)
    return y


def rotary_tables(ctx, node, cos_cache, sin_cache, positions):
    """cos / sin rows for ``positions`` (any INT shape): Gather along the cache's first axis."""
    pos = cast(ctx, positions, DataType.INT64)
    return [onnx_op(ctx, node, "Gather", [c, pos], axis=0)[0] for c in (cos_cache, sin_cache)]


@importer("RotaryEmbedding", since=1, domain=MS)
def rotary_embedding(ctx, node):
    x, pos_ids, cos_cache, sin_cache = (inp(ctx, node, i) for i in range(4))
    if int(attr(node, "is_packed_batching", 0)):
        fail(node, "attribute is_packed_batching=1 (packed variable-length batches) is not supported")
    if float(attr(node, "scale", 1.0)) != 1.0:
        fail(node, f"attribute scale={attr(node, 'scale')} is not supported (1.0)")
    interleaved = bool(attr(node, "interleaved", 0))
    half = last_dim(ctx, node, cos_cache, "cos_cache")
    r = rank(x)
    if r not in (3, 4):
        fail(node, f"input must be 3-D (B, S, hidden) or 4-D (B, N, S, head_size), got rank {r}", E.INVALID_NODE)
    n_heads = int(attr(node, "num_heads", 0))
    hidden = last_dim(ctx, node, x, "input")
    if r == 3:
        head = hidden // n_heads if n_heads else 2 * half
        if hidden % head:
            fail(node, f"hidden size {hidden} is not a multiple of the head size {head}", E.INVALID_NODE)
    else:
        head = hidden
    rot_dim = int(attr(node, "rotary_embedding_dim", 0)) or head
    if rot_dim != 2 * half or rot_dim > head:
        fail(node, f"rotary_embedding_dim {rot_dim} must be twice cos_cache's last dim ({half}) and at most the head "
                   f"size {head}", E.INVALID_NODE)
    seq_axis = 1 if r == 3 else 2
    if rank(pos_ids) == 2:  # (B, S) positions
        positions = pos_ids
    else:  # one offset: positions offset + [0, S)
        s = onnx_op(ctx, node, "Shape", [x], start=seq_axis, end=seq_axis + 1)[0]
        zero = const(ctx, np.array(0, np.int64))
        one = const(ctx, np.array(1, np.int64))
        steps = onnx_op(ctx, node, "Range", [zero, reshape(ctx, s, []), one])[0]
        offset = reshape(ctx, cast(ctx, pos_ids, DataType.INT64), [1])
        positions = unsqueeze_front(ctx, ew(ctx, steps, offset, EW.SUM), 1)
    cos, sin = rotary_tables(ctx, node, cos_cache, sin_cache, positions)  # (B, S, half)
    if r == 3:
        x4 = reshape(ctx, x, [0, 0, hidden // head, head], zero_is_placeholder=True)
        cos, sin = (onnx_op(ctx, node, "Unsqueeze", [t, ints(ctx, [2])])[0] for t in (cos, sin))
        y = rotate(ctx, node, x4, cos, sin, rot_dim, interleaved)
        return [reshape(ctx, y, [0, 0, hidden], zero_is_placeholder=True)]
    cos, sin = (onnx_op(ctx, node, "Unsqueeze", [t, ints(ctx, [1])])[0] for t in (cos, sin))
    return [rotate(ctx, node, x, cos, sin, rot_dim, interleaved)]
