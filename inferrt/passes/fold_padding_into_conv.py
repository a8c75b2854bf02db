"""Padding folded into the following convolution.

    x ─ Padding(zeros, pre p0, post p1 on spatial dims) ─ t ─ Conv(pre q0, post q1) ─ y
        ==>   x ─ Conv(pre p0 + q0, post p1 + q1) ─ y

Only constant-zero padding (no fill value, or a constant 0), non-negative pads that touch the spatial dimensions
only, a convolution with explicit padding (not SAME_*) and a padding output read by that convolution alone.
"""
from __future__ import annotations

import numpy as np

from ..enums import PaddingMode as PM
from ..ir.kinds import Kind
from .rewrite import View, dying_consts, merge_origin, plain, replace


def _pads(view, pad):
    a = pad.attrs
    if a.mode != "constant":
        return None
    fill = pad.inputs[1] if len(pad.inputs) > 1 and pad.inputs[1] else None
    if fill is not None and view.scalar(fill) != 0.0:
        return None
    if len(pad.inputs) > 2 and pad.inputs[2]:
        v = view.const(pad.inputs[2])
        if v is None:
            v = view.spec(pad.inputs[2]).value
        if v is None:
            return None
        v = [int(x) for x in np.asarray(v).reshape(-1)]
        return v[:len(v) // 2], v[len(v) // 2:]
    return list(a.pre_padding_nd), list(a.post_padding_nd)


def fold_padding_into_conv(graph, ctx) -> int:
    view = View(graph)
    folded = 0
    gone = []
    for conv in graph.nodes:
        if conv.kind != Kind.CONVOLUTION or conv.attrs.padding_mode not in (PM.EXPLICIT_ROUND_DOWN,
                                                                         PM.EXPLICIT_ROUND_UP):
            continue
        pad = view.producer(conv.inputs[0], Kind.PADDING)
        if pad is None or not plain(pad) or not view.only_use(conv.inputs[0], conv):
            continue
        pads = _pads(view, pad)
        if pads is None:
            continue
        pre, post = pads
        nsp = len(conv.attrs.kernel_size_nd)
        rank = nsp + 2
        extra = len(pre) - nsp
        if extra > 0 and (any(pre[:extra]) or any(post[:extra])):
            continue
        pre, post = pre[max(extra, 0):], post[max(extra, 0):]
        pre = [0] * (nsp - len(pre)) + pre
        post = [0] * (nsp - len(post)) + post
        if any(p < 0 for p in pre + post) or len(view.shape(pad.inputs[0]) or ()) != rank:
            continue
        old_pre = list(conv.attrs.pre_padding) or [0] * nsp
        old_post = list(conv.attrs.post_padding) or [0] * nsp
        conv.attrs["pre_padding"] = tuple(a + b for a, b in zip(old_pre, pre))
        conv.attrs["post_padding"] = tuple(a + b for a, b in zip(old_post, post))
        conv.inputs[0] = pad.inputs[0]
        conv.origin = merge_origin(pad, conv, *dying_consts(view, [pad]))
        gone.append(pad)
        folded += 1
    if gone:
        replace(graph, gone, [])
    return folded
