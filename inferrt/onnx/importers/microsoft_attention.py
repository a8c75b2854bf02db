"""com.microsoft attention ops written by onnxruntime's transformer optimizer and its LLM exporters: Attention
(packed QKV projection, mask_index, past/present), MultiHeadAttention (separate Q/K/V, key padding mask, past/
present) and GroupQueryAttention (fewer K/V heads, causal with per-sequence lengths, rotary, local window, softcap).

All three decompose into matrix multiplies, additive masks and a softmax, the pattern that
``passes/fuse_attention.py`` turns into one attention layer. Masks are additive with onnxruntime's
``mask_filter_value`` (-10000 by default), so a fully masked row averages its values as onnxruntime's does.
"""
from __future__ import annotations

import math

import numpy as np

from ...enums import DataType, ElementWiseOperation as EW, ParserErrorCode as E
from ..registry import importer

from .matrix import matmul
from .microsoft_transformer import last_dim, rotary_tables, rotate

MS = "com.microsoft"


# ----------------------------------------------------------------------------------------------- building blocks
def split_heads(ctx, t, n, h):
    """(B, S, N*H) -> (B, N, S, H)."""
    return ctx.transpose(ctx.reshape(t, [0, 0, n, h], zero_copies=True), [0, 2, 1, 3])


def merge_heads(ctx, t, n, h):
    """(B, N, S, H) -> (B, S, N*H)."""
    return ctx.reshape(ctx.transpose(t, [0, 2, 1, 3]), [0, 0, n * h], zero_copies=True)


def _dim(ctx, node, t, axis):
    """Dim ``axis`` of ``t`` as a 1-element INT64 tensor."""
    return ctx.onnx_op("Shape", [t], start=axis, end=axis + 1)[0]


def _arange(ctx, node, n):
    """[0, n) as a 1-D INT64 tensor (``n``: a 1-element INT64 tensor)."""
    zero, one = ctx.constant(np.array(0, np.int64)), ctx.constant(np.array(1, np.int64))
    return ctx.onnx_op("Range", [zero, ctx.reshape(n, [], zero_copies=False), one])[0]


def _penalty(ctx, valid, filt, dtype):
    """0 where ``valid`` (BOOL), ``filt`` elsewhere, as ``dtype``."""
    v = ctx.cast(ctx.cast(valid, DataType.FLOAT), dtype)
    return ctx.elementwise(ctx.elementwise(v, ctx.scalar_like(1.0, v), EW.SUB), ctx.scalar_like(-filt, v), EW.PROD)


def causal_valid(ctx, node, q_len, k_len, first=None):
    """BOOL (S, T) (or (B, 1, S, T) with ``first`` (B,) or (1,) INT64, the position of each batch's first query):
    key j is visible from query i when j <= i + first (first defaults to T - S: queries are the last S keys)."""
    i = ctx.reshape(_arange(ctx, node, q_len), [-1, 1], zero_copies=False)
    j = ctx.reshape(_arange(ctx, node, k_len), [1, -1], zero_copies=False)
    if first is None:
        first = ctx.elementwise(k_len, q_len, EW.SUB)
        pos = ctx.elementwise(i, first, EW.SUM)
    else:
        pos = ctx.elementwise(i, ctx.reshape(first, [-1, 1, 1, 1], zero_copies=False), EW.SUM)
    return ctx.onnx_op("LessOrEqual", [j, pos])[0], j, pos


def key_mask_valid(ctx, node, mask, k_len):
    """A key padding mask as BOOL (B, T): 1-D (B) end positions (keys [0, end) valid), or 2-D (B, T) 0/1."""
    if ctx.rank(mask) == 1:
        j = ctx.reshape(_arange(ctx, node, k_len), [1, -1], zero_copies=False)
        return ctx.onnx_op("Less", [j, ctx.reshape(ctx.cast(mask, DataType.INT64), [-1, 1], zero_copies=False)])[0]
    return ctx.onnx_op("Greater", [mask, ctx.constant(np.zeros((1, 1), _np_int(mask)))])[0]


def _np_int(t):
    return np.int64 if t.dtype == DataType.INT64 else np.int32


def attend(ctx, node, q, k, v, scale, penalties=(), softcap=0.0):
    """softmax(q kᵀ · scale (+ penalties)) v on (B, N, S, H) tensors; each penalty broadcasts to (B, N, S, T)."""
    scores = matmul(ctx, q, k, tb=True)
    scores = ctx.elementwise(scores, ctx.scalar_like(scale, scores), EW.PROD)
    if softcap > 0:
        t = ctx.activation(ctx.elementwise(scores, ctx.scalar_like(1.0 / softcap, scores), EW.PROD), "TANH")
        scores = ctx.elementwise(t, ctx.scalar_like(softcap, t), EW.PROD)
    if penalties:  # summed first, then added once: the scores -> + mask -> softmax pattern that fuse_attention takes
        mask = penalties[0]
        for p in penalties[1:]:
            mask = ctx.elementwise(mask, p, EW.SUM)
        scores = ctx.elementwise(scores, mask, EW.SUM)
    probs = ctx.onnx_op("Softmax", [scores], axis=-1)[0]
    return matmul(ctx, probs, v)


def _to4(ctx, node, t):
    """(B, T) -> (B, 1, 1, T); (B, S, T) -> (B, 1, S, T)."""
    return ctx.onnx_op("Unsqueeze", [t, ctx.ints([1, 2] if ctx.rank(t) == 2 else [1])])[0]


# ----------------------------------------------------------------------------------------------- Attention
@importer("Attention", since=1, domain=MS)
def attention(ctx, node):
    x, w = ctx.input(node, 0), ctx.input(node, 1)
    n = int(ctx.attr(node, "num_heads"))
    for a in ("do_rotary", "past_present_share_buffer"):
        if int(ctx.attr(node, a, 0)):
            ctx.fail(f"attribute {a}=1 is not supported", E.UNSUPPORTED_NODE_ATTR)
    if ctx.has_input(node, 6):
        ctx.fail("input past_sequence_length (a shared past/present buffer) is not supported", E.UNSUPPORTED_NODE_ATTR)
    if ctx.rank(x) != 3 or ctx.rank(w) != 2:
        ctx.fail(f"input must be 3-D and weights 2-D, got ranks {ctx.rank(x)} and {ctx.rank(w)}", E.INVALID_NODE)
    total = last_dim(ctx, node, w, "weights")
    sizes = list(ctx.attr(node, "qkv_hidden_sizes", []) or [total // 3] * 3)
    if len(sizes) != 3 or sum(sizes) != total or sizes[0] != sizes[1] or any(s % n for s in sizes):
        ctx.fail(f"qkv_hidden_sizes {sizes} must be 3 sizes summing to the weights' {total} columns, Q and K "
                 f"equal, each a multiple of num_heads {n}", E.INVALID_NODE)
    qkv = matmul(ctx, x, w)
    if ctx.has_input(node, 2):
        qkv = ctx.elementwise(qkv, ctx.input(node, 2), EW.SUM)
    starts = [0, sizes[0], sizes[0] + sizes[1]]
    q, k, v = (ctx.out(ctx.axis_slice(qkv, [2], [s], [z])) for s, z in zip(starts, sizes))
    hq, hv = sizes[0] // n, sizes[2] // n
    q, k, v = split_heads(ctx, q, n, hq), split_heads(ctx, k, n, hq), split_heads(ctx, v, n, hv)
    if ctx.has_input(node, 4):  # past (2, B, N, P, H)
        past = ctx.input(node, 4)
        pk, pv = (ctx.onnx_op("Gather", [past, ctx.constant(np.array(i, np.int64))], axis=0)[0] for i in (0, 1))
        k, v = ctx.concat([pk, k], 2), ctx.concat([pv, v], 2)
    filt = float(ctx.attr(node, "mask_filter_value", -10000.0))
    s_len, t_len = _dim(ctx, node, q, 2), _dim(ctx, node, k, 2)
    penalties = []
    if ctx.has_input(node, 3):
        mask = ctx.input(node, 3)
        mr = ctx.rank(mask)
        if mr == 1 and mask.shape[0] >= 0 and x.shape[0] >= 0 and mask.shape[0] == 2 * x.shape[0]:
            ctx.fail("mask_index of shape (2 * batch) (end and start positions) is not supported; use a 2-D mask",
                     E.UNSUPPORTED_NODE_ATTR)
        if mr == 4:
            ctx.fail("a 4-D mask_index (Megatron causal mask) is not supported; use unidirectional=1",
                     E.UNSUPPORTED_NODE_ATTR)
        if mr in (1, 2):
            penalties.append(_to4(ctx, node, _penalty(ctx, key_mask_valid(ctx, node, mask, t_len), filt, q.dtype)))
        elif mr == 3:
            valid = ctx.onnx_op("Greater", [mask, ctx.constant(np.zeros((1, 1, 1), _np_int(mask)))])[0]
            penalties.append(_to4(ctx, node, _penalty(ctx, valid, filt, q.dtype)))
        else:
            ctx.fail(f"mask_index of rank {mr} is not supported (1, 2 or 3)", E.INVALID_NODE)
    if int(ctx.attr(node, "unidirectional", 0)):
        penalties.append(_penalty(ctx, causal_valid(ctx, node, s_len, t_len)[0], filt, q.dtype))
    if ctx.has_input(node, 5):
        penalties.append(ctx.input(node, 5))
    scale = float(ctx.attr(node, "scale", 0.0)) or 1.0 / math.sqrt(hq)
    y = merge_heads(ctx, attend(ctx, node, q, k, v, scale, penalties), n, hv)
    present = None
    if ctx.has_output(node, 1):
        if hq != hv:
            ctx.fail("output present needs equal Q/K and V head sizes", E.INVALID_NODE)
        present = ctx.concat([ctx.onnx_op("Unsqueeze", [t, ctx.ints([0])])[0] for t in (k, v)], 0)
    return [y, present][:len(node.outputs)]


# ----------------------------------------------------------------------------------------------- MultiHeadAttention
@importer("MultiHeadAttention", since=1, domain=MS)
def multi_head_attention(ctx, node):
    q, k, v = ctx.input(node, 0), ctx.input(node, 1), ctx.input(node, 2)
    n = int(ctx.attr(node, "num_heads"))
    if k is None or v is None or ctx.rank(q) != 3:
        ctx.fail("packed QKV or packed KV inputs are not supported; give query (B, S, D), key and value",
                 E.UNSUPPORTED_NODE_ATTR)
    for i, what in ((8, "past_sequence_length"), (9, "cache_indirection")):
        if ctx.has_input(node, i):
            ctx.fail(f"input {what} is not supported", E.UNSUPPORTED_NODE_ATTR)
    if ctx.has_output(node, 3):
        ctx.fail("output qk is not supported; remove it from the node's outputs", E.UNSUPPORTED_NODE_ATTR)
    d = last_dim(ctx, node, q, "query")
    hq = d // n
    if ctx.has_input(node, 3):
        if ctx.rank(k) != 3:
            ctx.fail("bias with 4-D key/value (B, N, L, H) is not supported", E.UNSUPPORTED_NODE_ATTR)
        dv = last_dim(ctx, node, v, "value")
        bias = ctx.input(node, 3)
        parts = [ctx.out(ctx.axis_slice(bias, [0], [s], [z])) for s, z in ((0, d), (d, d), (2 * d, dv))]
        q, k, v = (ctx.elementwise(t, p, EW.SUM) for t, p in zip((q, k, v), parts))
    q = split_heads(ctx, q, n, hq)
    if ctx.rank(k) == 3:
        k = split_heads(ctx, k, n, last_dim(ctx, node, k, "key") // n)
        v = split_heads(ctx, v, n, last_dim(ctx, node, v, "value") // n)
    elif ctx.rank(k) != 4 or ctx.rank(v) != 4:
        ctx.fail(f"key and value must both be 3-D (B, L, D) or 4-D (B, N, L, H), got ranks {ctx.rank(k)} and "
                 f"{ctx.rank(v)}", E.INVALID_NODE)
    hv = last_dim(ctx, node, v, "value")
    causal = bool(int(ctx.attr(node, "unidirectional", 0)))
    if causal and q.shape[2] >= 0 and k.shape[2] >= 0 and q.shape[2] != k.shape[2]:
        ctx.fail(f"attribute unidirectional=1 with {k.shape[2]} new keys for {q.shape[2]} queries (cross "
                 f"attention) is not supported: onnxruntime aligns that mask differently per shape",
                 E.UNSUPPORTED_NODE_ATTR)
    past_len = _dim(ctx, node, ctx.input(node, 6), 2) if ctx.has_input(node, 6) else ctx.ints([0])
    if ctx.has_input(node, 6) != ctx.has_input(node, 7):
        ctx.fail("past_key and past_value must be given together", E.INVALID_NODE)
    if ctx.has_input(node, 6):
        k, v = ctx.concat([ctx.input(node, 6), k], 2), ctx.concat([ctx.input(node, 7), v], 2)
    filt = float(ctx.attr(node, "mask_filter_value", -10000.0))
    s_len, t_len = _dim(ctx, node, q, 2), _dim(ctx, node, k, 2)
    penalties = []
    if ctx.has_input(node, 4):
        mask = ctx.input(node, 4)
        if ctx.rank(mask) not in (1, 2):
            ctx.fail(f"key_padding_mask of rank {ctx.rank(mask)} is not supported ((B) lengths or (B, T))",
                     E.UNSUPPORTED_NODE_ATTR)
        if ctx.rank(mask) == 1 and mask.shape[0] >= 0 and q.shape[0] >= 0 and mask.shape[0] != q.shape[0]:
            ctx.fail(f"key_padding_mask of shape {tuple(mask.shape)} (packed start/end positions) is not "
                     f"supported; give (B) lengths or a (B, T) mask", E.UNSUPPORTED_NODE_ATTR)
        penalties.append(_to4(ctx, node, _penalty(ctx, key_mask_valid(ctx, node, mask, t_len), filt, q.dtype)))
    if causal:  # query i sits at position past_len + i
        penalties.append(_penalty(ctx, causal_valid(ctx, node, s_len, t_len, past_len)[0], filt, q.dtype))
    if ctx.has_input(node, 5):
        penalties.append(ctx.input(node, 5))
    scale = float(ctx.attr(node, "scale", 0.0)) or 1.0 / math.sqrt(hq)
    y = merge_heads(ctx, attend(ctx, node, q, k, v, scale, penalties), n, hv)
    return [y, k if ctx.has_output(node, 1) else None, v if ctx.has_output(node, 2) else None][:len(node.outputs)]


# ----------------------------------------------------------------------------------------------- GQA
def _repeat_heads(ctx, node, t, groups, n):
    """(B, kvN, T, H) -> (B, kvN * groups, T, H), each K/V head serving ``groups`` consecutive query heads."""
    if groups == 1:
        return t
    t5 = ctx.onnx_op("Unsqueeze", [t, ctx.ints([2])])[0]
    t5 = ctx.onnx_op("Expand", [t5, ctx.ints([1, 1, groups, 1, 1])])[0]
    return ctx.reshape(t5, [0, n, -1, last_dim(ctx, node, t, "key")], zero_copies=True)


@importer("GroupQueryAttention", since=1, domain=MS)
def group_query_attention(ctx, node):
    n, kvn = int(ctx.attr(node, "num_heads")), int(ctx.attr(node, "kv_num_heads"))
    if n % kvn:
        ctx.fail(f"num_heads {n} must be a multiple of kv_num_heads {kvn}", E.INVALID_NODE)
    if int(ctx.attr(node, "smooth_softmax", 0)):
        ctx.fail("attribute smooth_softmax=1 is not supported", E.UNSUPPORTED_NODE_ATTR)
    for i, what in ((11, "head_sink"),):
        if ctx.has_input(node, i):
            ctx.fail(f"input {what} is not supported", E.UNSUPPORTED_NODE_ATTR)
    q = ctx.input(node, 0)
    d = last_dim(ctx, node, q, "query")
    if ctx.has_input(node, 1):
        k, v = ctx.input(node, 1), ctx.input(node, 2)
        h = d // n
    else:  # packed QKV: (B, S, (N + 2 kvN) H)
        h = d // (n + 2 * kvn)
        q, k, v = (ctx.out(ctx.axis_slice(q, [2], [s], [z]))
                   for s, z in ((0, n * h), (n * h, kvn * h), ((n + kvn) * h, kvn * h)))
    q, k, v = split_heads(ctx, q, n, h), split_heads(ctx, k, kvn, h), split_heads(ctx, v, kvn, h)
    s_len = _dim(ctx, node, q, 2)
    seqlens = ctx.cast(ctx.input(node, 5), DataType.INT64)  # (B): total length - 1 per sequence
    # position of the first new token
    first = ctx.elementwise(ctx.elementwise(seqlens, ctx.ints([1]), EW.SUM), s_len, EW.SUB)
    if int(ctx.attr(node, "do_rotary", 0)):
        if not (ctx.has_input(node, 7) and ctx.has_input(node, 8)):
            ctx.fail("do_rotary=1 needs cos_cache and sin_cache", E.INVALID_NODE)
        if ctx.has_input(node, 9):
            positions = ctx.input(node, 9)
        else:
            positions = ctx.elementwise(ctx.reshape(first, [-1, 1], zero_copies=False),
                                        ctx.reshape(_arange(ctx, node, s_len), [1, -1], zero_copies=False), EW.SUM)
        cos, sin = rotary_tables(ctx, node, ctx.input(node, 7), ctx.input(node, 8), positions)  # (B, S, half)
        cos, sin = (ctx.onnx_op("Unsqueeze", [t, ctx.ints([1])])[0] for t in (cos, sin))
        rot = 2 * last_dim(ctx, node, ctx.input(node, 7), "cos_cache")
        inter = bool(ctx.attr(node, "rotary_interleaved", 0))
        q, k = rotate(ctx, node, q, cos, sin, rot, inter), rotate(ctx, node, k, cos, sin, rot, inter)
    if ctx.has_input(node, 3) != ctx.has_input(node, 4):
        ctx.fail("past_key and past_value must be given together", E.INVALID_NODE)
    if ctx.has_input(node, 3):
        k, v = ctx.concat([ctx.input(node, 3), k], 2), ctx.concat([ctx.input(node, 4), v], 2)
    t_len = _dim(ctx, node, k, 2)
    valid, j, pos = causal_valid(ctx, node, s_len, t_len, first)
    window = int(ctx.attr(node, "local_window_size", -1))
    if window > 0:
        lo = ctx.elementwise(pos, ctx.ints([window]), EW.SUB)
        valid = ctx.onnx_op("And", [valid, ctx.onnx_op("Greater", [j, lo])[0]])[0]
    penalties = [_penalty(ctx, valid, float(np.finfo(np.float32).min) / 2, q.dtype)]
    if ctx.has_input(node, 10):
        penalties.append(ctx.input(node, 10))
    scale = float(ctx.attr(node, "scale", 0.0)) or 1.0 / math.sqrt(h)
    kr, vr = _repeat_heads(ctx, node, k, n // kvn, n), _repeat_heads(ctx, node, v, n // kvn, n)
    y = attend(ctx, node, q, kr, vr, scale, penalties, float(ctx.attr(node, "softcap", 0.0)))
    present = [k if ctx.has_output(node, 1) else None, v if ctx.has_output(node, 2) else None]
    return [merge_heads(ctx, y, n, h)] + present[:len(node.outputs) - 1]
