"""Horizontal fusion of convolutions: convolutions with constant kernels, the same geometry and the same
epilogue that read the same input become one convolution with concatenated output channels.

    x ─┬─ Conv1x1(W1, b1) + ReLU ─ a          x ─ Conv1x1([W1; W2], [b1; b2]) + ReLU ─ t ─┬─ Slice(C 0:n1) ─ a
       └─ Conv1x1(W2, b2) + ReLU ─ b    ==>                                              └─ Slice(C n1:) ─ b

Members: ``convolution`` or non-transposed ``fused_conv`` layers with one group, constant kernels (and constant or
no biases; zeros stand in for a missing one), equal kernel size, stride, padding, dilation and padding mode, and
equal epilogues without residual adds (activations act per channel). Each original output becomes a slice of the
channel axis named after the original layer; the merged layer's origin lists every member.
"""
from __future__ import annotations

import numpy as np

from ..ir.kinds import Kind
from ..ops.base import Attrs
from .rewrite import fuse_horizontally, merged_constants, merged_with_slices, plain

_GEOMETRY = ("kernel_size_nd", "stride_nd", "pre_padding", "post_padding", "padding_mode", "dilation_nd")


def _member(view, n):
    if n.kind not in (Kind.CONVOLUTION, Kind.FUSED_CONV) or len(n.outputs) != 1 or not plain(n):
        return None
    a = n.attrs
    if a.num_groups != 1 or a.get("transposed") or len(n.inputs) < 2:
        return None
    epi = list(a.get("epilogue") or [])
    if any(s[0] == "add" for s in epi) or len([i for i in n.inputs if i]) > 3:
        return None
    w = view.const(n.inputs[1])
    b = view.const(n.inputs[2]) if len(n.inputs) > 2 and n.inputs[2] else None
    if w is None or (len(n.inputs) > 2 and n.inputs[2] and b is None):
        return None
    rank = len(view.shape(n.outputs[0]) or ())
    key = (n.inputs[0], n.kind, repr([a[k] for k in _GEOMETRY]), repr(epi), w.dtype.str, rank)
    return key, w.reshape(a.num_output_maps, -1), None if b is None else b.reshape(-1)


def _merge(graph, view, key, members):
    if len({m[1].shape[1] for m in members}) != 1:
        return None
    nodes = [m[0] for m in members]
    first = nodes[0]
    total = sum(n.attrs.num_output_maps for n in nodes)
    k = tuple(first.attrs.kernel_size_nd)
    w = np.concatenate([m[1] for m in members], axis=0)
    b = None
    if any(m[2] is not None for m in members):
        b = np.concatenate([m[2] if m[2] is not None else np.zeros(m[1].shape[0], w.dtype) for m in members])
    consts = merged_constants(graph, view, nodes, w.reshape((total, -1) + k), b)
    ins = [first.inputs[0]] + [c.outputs[0] for c in consts]
    attrs = Attrs(first.attrs)
    attrs["num_output_maps"] = total
    return consts + merged_with_slices(graph, first, nodes, first.kind, ins, attrs,
                                       [n.attrs.num_output_maps for n in nodes], 1)


def fuse_horizontal_convs(graph, ctx) -> int:
    return fuse_horizontally(graph, _member, _merge)
