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
from ._compose import (attr, axis_slice, cast, concat, const, ew, fail, has_input, inp, ints, onnx_op, out, rank,
                       reshape, scalar_like, transpose)
from .matrix import matmul
from .microsoft_transformer import last_dim, rotary_tables, rotate

MS = "com.microsoft"


def _out(node, i) -> bool:
    return len(node.outputs) > i and bool(node.outputs[i])


# ----------------------------------------------------------------------------------------------- building blocks
def split_heads(ctx, t, n, h):
    """(B, S, N*H) -> (B, N, S, H)."""
    return transpose(ctx, reshape(ctx, t, [0, 0, n, h], zero_is_placeholder=True), [0, 2, 1, 3])


def merge_heads(ctx, t, n, h):
    """(B, N, S, H) -> (B, S, N*H)."""
    return reshape(ctx, transpose(ctx, t, [0, 2, 1, 3]), [0, 0, n * h], zero_is_placeholder=True)


def _dim(ctx, node, t, axis):
    """Dim ``axis`` of ``t`` as a 1-element INT64 tensor."""
    return onnx_op(ctx, node, "Shape", [t], start=axis, end=axis + 1)[0]


def _arange(ctx, node, n):
    """[0, n) as a 1-D INT64 tensor (``n``: a 1-element INT64 tensor)."""
    zero, one = const(ctx, np.array(0, np.int64)), const(ctx, np.array(1, np.int64))
    return onnx_op(ctx, node, "Range", [zero, reshape(ctx, n, []), one])[0]


def _penalty(ctx, valid, filt, dtype):
    """0 where ``valid`` (BOOL), ``filt`` elsewhere, as ``dtype``."""
    v = cast(ctx, cast(ctx, valid, DataType.FLOAT), dtype)
    return ew(ctx, ew(ctx, v, scalar_like(ctx, 1.0, v), EW.SUB), scalar_like(ctx, -filt, v), EW.PROD)


def causal_valid(ctx, node, q_len, k_len, first=None):
    """BOOL (S, T) (or (B, 1, S, T) with ``first`` (B,) or (1,) INT64, the position of each batch's first query):
    key j is visible from query i when j <= i + first (first defaults to T - S: queries are the last S keys)."""
    i = reshape(ctx, _arange(ctx, node, q_len), [-1, 1])
    j = reshape(ctx, _arange(ctx, node, k_len), [1, -1])
    if first is None:
        first = ew(ctx, k_len, q_len, EW.SUB)
        pos = ew(ctx, i, first, EW.SUM)
    else:
        pos = ew(ctx, i, reshape(ctx, first, [-1, 1, 1, 1]), EW.SUM)
    return onnx_op(ctx, node, "LessOrEqual", [j, pos])[0], j, pos


def key_mask_valid(ctx, node, mask, k_len):
    """A key padding mask as BOOL (B, T): 1-D (B) end positions (keys [0, end) valid), or 2-D (B, T) 0/1."""
    if rank(mask) == 1:
        j = reshape(ctx, _arange(ctx, node, k_len), [1, -1])
        return onnx_op(ctx, node, "Less", [j, reshape(ctx, cast(ctx, mask, DataType.INT64), [-1, 1])])[0]
    return onnx_op(ctx, node, "Greater", [mask, const(ctx, np.zeros((1, 1), _np_int(mask)))])[0]


def _np_int(t):
    return np.int64 if t.dtype == DataType.INT64 else np.int32


def attend(ctx, node, q, k, v, scale, penalties=(), softcap=0.0):
    """softmax(q kᵀ · scale (+ penalties)) v on (B, N, S, H) tensors; each penalty broadcasts to (B, N, S, T)."""
    scores = matmul(ctx, q, k, tb=True)
    scores = ew(ctx, scores, scalar_like(ctx, scale, scores), EW.PROD)
    if softcap > 0:
        t = ctx.activation(ew(ctx, scores, scalar_like(ctx, 1.0 / softcap, scores), EW.PROD), "TANH")
        scores = ew(ctx, t, scalar_like(ctx, softcap, t), EW.PROD)
    if penalties:  # summed first, then added once: the scores -> + mask -> softmax pattern that fuse_attention takes
        mask = penalties[0]
        for p in penalties[1:]:
            mask = ew(ctx, mask, p, EW.SUM)
        scores = ew(ctx, scores, mask, EW.SUM)
    probs = onnx_op(ctx, node, "Softmax", [scores], axis=-1)[0]
    return matmul(ctx, probs, v)


def _to4(ctx, node, t):
    """(B, T) -> (B, 1, 1, T); (B, S, T) -> (B, 1, S, T)."""
    return onnx_op(ctx, node, "Unsqueeze", [t, ints(ctx, [1, 2] if rank(t) == 2 else [1])])[0]


# ----------------------------------------------------------------------------------------------- Attention
@importer("Attention", since=1, domain=MS)
def attention(ctx, node):
    x, w = inp(ctx, node, 0), inp(ctx, node, 1)
    n = int(attr(node, "num_heads"))
    for a in ("do_rotary", "past_present_share_buffer"):
        if int(attr(node, a, 0)):
            fail(node, f"attribute {a}=1 is not supported")
    if has_input(node, 6):
        fail(node, "input past_sequence_length (a shared past/present buffer) is not supported")
    if rank(x) != 3 or rank(w) != 2:
        fail(node, f"input must be 3-D and weights 2-D, got ranks {rank(x)} and {rank(w)}", E.INVALID_NODE)
    total = last_dim(ctx, node, w, "weights")
    sizes = list(attr(node, "qkv_hidden_sizes", []) or [total // 3] * 3)
    if len(sizes) != 3 or sum(sizes) != total or sizes[0] != sizes[1] or any(s % n for s in sizes):
        fail(node, f"qkv_hidden_sizes {sizes} must be 3 sizes summing to the weights' {total} columns, Q and K "
                   f"equal, each a multiple of num_heads {n}", E.INVALID_NODE)
    qkv = matmul(ctx, x, w)
    if has_input(node, 2):
        qkv = ew(ctx, qkv, inp(ctx, node, 2), EW.SUM)
    starts = [0, sizes[0], sizes[0] + sizes[1]]
    q, k, v = (out(axis_slice(ctx, qkv, [2], [s], [z])) for s, z in zip(starts, sizes))
    hq, hv = sizes[0] // n, sizes[2] // n
    q, k, v = split_heads(ctx, q, n, hq), split_heads(ctx, k, n, hq), split_heads(ctx, v, n, hv)
    if has_input(node, 4):  # past (2, B, N, P, H)
        past = inp(ctx, node, 4)
        pk, pv = (onnx_op(ctx, node, "Gather", [past, const(ctx, np.array(i, np.int64))], axis=0)[0] for i in (0, 1))
        k, v = concat(ctx, [pk, k], 2), concat(ctx, [pv, v], 2)
    filt = float(attr(node, "mask_filter_value", -10000.0))
    s_len, t_len = _dim(ctx, node, q, 2), _dim(ctx, node, k, 2)
    penalties = []
    if has_input(node, 3):
        mask = inp(ctx, node, 3)
        mr = rank(mask)
        if mr == 1 and mask.shape[0] >= 0 and x.shape[0] >= 0 and mask.shape[0] == 2 * x.shape[0]:
            fail(node, "mask_index of shape (2 * batch) (end and start positions) is not supported; use a 2-D mask")
        if mr == 4:
            fail(node, "a 4-D mask_index (Megatron causal mask) is not supported; use unidirectional=1")
        if mr in (1, 2):
            penalties.append(_to4(ctx, node, _penalty(ctx, key_mask_valid(ctx, node, mask, t_len), filt, q.dtype)))
        elif mr == 3:
            valid = onnx_op(ctx, node, "Greater", [mask, const(ctx, np.zeros((1, 1, 1), _np_int(mask)))])[0]
            penalties.append(_to4(ctx, node, _penalty(ctx, valid, filt, q.dtype)))
        else:
            fail(node, f"mask_index of rank {mr} is not supported (1, 2 or 3)", E.INVALID_NODE)
    if int(attr(node, "unidirectional", 0)):
        penalties.append(_penalty(ctx, causal_valid(ctx, node, s_len, t_len)[0], filt, q.dtype))
    if has_input(node, 5):
        penalties.append(inp(ctx, node, 5))
    scale = float(attr(node, "scale", 0.0)) or 1.0 / math.sqrt(hq)
    y = merge_heads(ctx, attend(ctx, node, q, k, v, scale, penalties), n, hv)
    present = None
    if _out(node, 1):
        if hq != hv:
            fail(node, "output present needs equal Q/K and V head sizes", E.INVALID_NODE)
        present = concat(ctx, [onnx_op(ctx, node, "Unsqueeze", [t, ints(ctx, [0])])[0] for t in (k, v)], 0)
    return [y, present][:len(node.outputs)]


# ----------------------------------------------------------------------------------------------- MultiHeadAttention
@importer("MultiHeadAttention", since=1, domain=MS)
def multi_head_attention(ctx, node):
    q, k, v = inp(ctx, node, 0), inp(ctx, node, 1), inp(ctx, node, 2)
    n = int(attr(node, "num_heads"))
    if k is None or v is None or rank(q) != 3:
        fail(node, "packed QKV or packed KV inputs are not supported; give query (B, S, D), key and value")
    for i, what in ((8, "past_sequence_length"), (9, "cache_indirection")):
        if has_input(node, i):
            fail(node, f"input {what} is not supported")
    if _out(node, 3):
        fail(node, "output qk is not supported; remove it from the node's outputs")
    d = last_dim(ctx, node, q, "query")
    hq = d // n
    if has_input(node, 3):
        if rank(k) != 3:
            fail(node, "bias with 4-D key/value (B, N, L, H) is not supported")
        dv = last_dim(ctx, node, v, "value")
        bias = inp(ctx, node, 3)
        parts = [out(axis_slice(ctx, bias, [0], [s], [z])) for s, z in ((0, d), (d, d), (2 * d, dv))]
        q, k, v = ew(ctx, q, parts[0], EW.SUM), ew(ctx, k, parts[1], EW.SUM), ew(ctx, v, parts[2], EW.SUM)
    q = split_heads(ctx, q, n, hq)
    if rank(k) == 3:
        k = split_heads(ctx, k, n, last_dim(ctx, node, k, "key") // n)
        v = split_heads(ctx, v, n, last_dim(ctx, node, v, "value") // n)
    elif rank(k) != 4 or rank(v) != 4:
        fail(node, f"key and value must both be 3-D (B, L, D) or 4-D (B, N, L, H), got ranks {rank(k)} and "
                   f"{rank(v)}", E.INVALID_NODE)
    hv = last_dim(ctx, node, v, "value")
    causal = bool(int(attr(node, "unidirectional", 0)))
    if causal and q.shape[2] >= 0 and k.shape[2] >= 0 and q.shape[2] != k.shape[2]:
        fail(node, f"attribute unidirectional=1 with {k.shape[2]} new keys for {q.shape[2]} queries (cross "
                   f"attention) is not supported: onnxruntime aligns that mask differently per shape")
    past_len = _dim(ctx, node, inp(ctx, node, 6), 2) if has_input(node, 6) else ints(ctx, [0])
    if has_input(node, 6) != has_input(node, 7):
        fail(node, "past_key and past_value must be given together", E.INVALID_NODE)
    if has_input(node, 6):
        k, v = concat(ctx, [inp(ctx, node, 6), k], 2), concat(ctx, [inp(ctx, node, 7), v], 2)
    filt = float(attr(node, "mask_filter_value", -10000.0))
    s_len, t_len = _dim(ctx, node, q, 2), _dim(ctx, node, k, 2)
    penalties = []
    if has_input(node, 4):
        mask = inp(ctx, node, 4)
        if rank(mask) not in (1, 2):
            fail(node, f"key_padding_mask of rank {rank(mask)} is not supported ((B) lengths or (B, T))")
        if rank(mask) == 1 and mask.shape[0] >= 0 and q.shape[0] >= 0 and mask.shape[0] != q.shape[0]:
            fail(node, f"key_padding_mask of shape {tuple(mask.shape)} (packed start/end positions) is not "
                       f"supported; give (B) lengths or a (B, T) mask")
        penalties.append(_to4(ctx, node, _penalty(ctx, key_mask_valid(ctx, node, mask, t_len), filt, q.dtype)))
    if causal:  # query i sits at position past_len + i
        penalties.append(_penalty(ctx, causal_valid(ctx, node, s_len, t_len, past_len)[0], filt, q.dtype))
    if has_input(node, 5):
        penalties.append(inp(ctx, node, 5))
    scale = float(attr(node, "scale", 0.0)) or 1.0 / math.sqrt(hq)
    y = merge_heads(ctx, attend(ctx, node, q, k, v, scale, penalties), n, hv)
    return [y, k if _out(node, 1) else None, v if _out(node, 2) else None][:len(node.outputs)]


# ----------------------------------------------------------------------------------------------- GQA
def _repeat_heads(ctx, node, t, groups, n):
    """(B, kvN, T, H) -> (B, kvN * groups, T, H), each K/V head serving ``groups`` consecutive query heads."""
    if groups == 1:
        return t
    t5 = onnx_op(ctx, node, "Unsqueeze", [t, ints(ctx, [2])])[0]
    t5 = onnx_op(ctx, node, "Expand", [t5, ints(ctx, [1, 1, groups, 1, 1])])[0]
    return reshape(ctx, t5, [0, n, -1, last_dim(ctx, node, t, "key")], zero_is_placeholder=True)


@importer("GroupQueryAttention", since=1, domain=MS)
def group_query_attention(ctx, node):
    n, kvn = int(attr(node, "num_heads")), int(attr(node, "kv_num_heads"))
    if n % kvn:
        fail(node, f"num_heads {n} must be a multiple of kv_num_heads {kvn}", E.INVALID_NODE)
    if int(attr(node, "smooth_softmax", 0)):
        fail(node, "attribute smooth_softmax=1 is not supported")
    for i, what in ((11, "head_sink"),):
        if has_input(node, i):
            fail(node, f"input {what} is not supported")
    q = inp(ctx, node, 0)
    d = last_dim(ctx, node, q, "query")
    if has_input(node, 1):
        k, v = inp(ctx, node, 1), inp(ctx, node, 2)
        h = d // n
    else:  # packed QKV: (B, S, (N + 2 kvN) H)
        h = d // (n + 2 * kvn)
        q, k, v = (out(axis_slice(ctx, q, [2], [s], [z]))
                   for s, z in ((0, n * h), (n * h, kvn * h), ((n + kvn) * h, kvn * h)))
    q, k, v = split_heads(ctx, q, n, h), split_heads(ctx, k, kvn, h), split_heads(ctx, v, kvn, h)
    s_len = _dim(ctx, node, q, 2)
    seqlens = cast(ctx, inp(ctx, node, 5), DataType.INT64)  # (B): total length - 1 per sequence
    first = ew(ctx, ew(ctx, seqlens, ints(ctx, [1]), EW.SUM), s_len, EW.SUB)  # position of the first new token
    if int(attr(node, "do_rotary", 0)):
        if not (has_input(node, 7) and has_input(node, 8)):
            fail(node, "do_rotary=1 needs cos_cache and sin_cache", E.INVALID_NODE)
        if has_input(node, 9):
            positions = inp(ctx, node, 9)
        else:
            positions = ew(ctx, reshape(ctx, first, [-1, 1]), reshape(ctx, _arange(ctx, node, s_len), [1, -1]),
                           EW.SUM)
        cos, sin = rotary_tables(ctx, node, inp(ctx, node, 7), inp(ctx, node, 8), positions)  # (B, S, half)
        cos, sin = (onnx_op(ctx, node, "Unsqueeze", [t, ints(ctx, [1])])[0] for t in (cos, sin))
        rot = 2 * last_dim(ctx, node, inp(ctx, node, 7), "cos_cache")
        inter = bool(attr(node, "rotary_interleaved", 0))
        q, k = rotate(ctx, node, q, cos, sin, rot, inter), rotate(ctx, node, k, cos, sin, rot, inter)
    if has_input(node, 3) != has_input(node, 4):
        fail(node, "past_key and past_value must be given together", E.INVALID_NODE)
    if has_input(node, 3):
        k, v = concat(ctx, [inp(ctx, node, 3), k], 2), concat(ctx, [inp(ctx, node, 4), v], 2)
    t_len = _dim(ctx, node, k, 2)
    valid, j, pos = causal_valid(ctx, node, s_len, t_len, first)
    window = int(attr(node, "local_window_size", -1))
    if window > 0:
        lo = ew(ctx, pos, ints(ctx, [window]), EW.SUB)
        valid = onnx_op(ctx, node, "And", [valid, onnx_op(ctx, node, "Greater", [j, lo])[0]])[0]
    penalties = [_penalty(ctx, valid, float(np.finfo(np.float32).min) / 2, q.dtype)]
    if has_input(node, 10):
        penalties.append(inp(ctx, node, 10))
    scale = float(attr(node, "scale", 0.0)) or 1.0 / math.sqrt(h)
    kr, vr = _repeat_heads(ctx, node, k, n // kvn, n), _repeat_heads(ctx, node, v, n // kvn, n)
    y = attend(ctx, node, q, kr, vr, scale, penalties, float(attr(node, "softcap", 0.0)))
    return [merge_heads(ctx, y, n, h), k if _out(node, 1) else None, v if _out(node, 2) else None][:len(node.outputs)]
