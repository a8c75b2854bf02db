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
from .rewrite import View, const_node, group_members, merge_origin, merged_with_slices, plain, replace

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


def fuse_horizontal_convs(graph, ctx) -> int:
    view = View(graph)
    groups = group_members(graph, view, _member)
    merged, gone, add = 0, [], []
    for key, members in groups.items():
        if len(members) < 2 or len({m[1].shape[1] for m in members}) != 1:
            continue
        nodes = [m[0] for m in members]
        first = nodes[0]
        total = sum(n.attrs.num_output_maps for n in nodes)
        k = tuple(first.attrs.kernel_size_nd)
        w = np.concatenate([m[1] for m in members], axis=0)
        cw = const_node(graph, f"{first.name} [merged kernel]", w.reshape((total, -1) + k),
                        merge_origin(*[view.producer(n.inputs[1]) for n in nodes]))
        add.append(cw)
        ins = [first.inputs[0], cw.outputs[0]]
        if any(m[2] is not None for m in members):
            b = np.concatenate([m[2] if m[2] is not None else np.zeros(m[1].shape[0], w.dtype) for m in members])
            cb = const_node(graph, f"{first.name} [merged bias]", b,
                            merge_origin(*[view.producer(n.inputs[2]) for n in nodes
                                           if len(n.inputs) > 2 and n.inputs[2]]))
            add.append(cb)
            ins.append(cb.outputs[0])
        attrs = Attrs(first.attrs)
        attrs["num_output_maps"] = total
        add += merged_with_slices(graph, first, nodes, first.kind, ins, attrs,
                                  [n.attrs.num_output_maps for n in nodes], 1)
        gone += nodes
        merged += len(nodes) - 1
    if merged:
        replace(graph, gone, add)
        graph.remove_dead()
    return merged
