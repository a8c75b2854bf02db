"""Horizontal fusion: matrix products with constant weights that read the same input become one product.

    x ─┬─ MatMul(Wq) + bq ─ q            x ─ MatMul([Wq Wk Wv]) + [bq bk bv] ─ qkv ─┬─ Slice(0:Nq) ─ q
       ├─ MatMul(Wk) + bk ─ k     ==>                                               ├─ Slice(Nq:Nq+Nk) ─ k
       └─ MatMul(Wv) + bv ─ v                                                       └─ Slice(...) ─ v

Members must have the same kind (matrix_multiply or fused_matmul), the same operations, 2-D constant weights
(leading 1s allowed) of one type with the same K, the same epilogue without residual adds (activations apply
per column, so they stay valid), and constant biases shaped 1 everywhere but the last axis (zeros are used for a
member without one). Weights (and biases) are concatenated along the output-column axis; each original output is
a slice of the last axis, named after the original layer. The merged layer's origin lists every member.
"""
from __future__ import annotations

import numpy as np

from ..enums import MatrixOperation as MO
from ..ir.kinds import Kind
from ..ops.base import Attrs
from .rewrite import fuse_horizontally, merged_constants, merged_with_slices, plain


def _member(view, n):
    """(key, weights 2-D as (K, N), bias 1-D or None) or None."""
    if n.kind not in (Kind.MATRIX_MULTIPLY, Kind.FUSED_MATMUL) or len(n.outputs) != 1 or not plain(n):
        return None
    if n.attrs.op0 == MO.VECTOR or n.attrs.op1 == MO.VECTOR:
        return None
    w = view.const(n.inputs[1])
    if w is None or w.ndim < 2 or any(d != 1 for d in w.shape[:-2]):
        return None
    w2 = w.reshape(w.shape[-2:])
    if n.attrs.op1 == MO.TRANSPOSE:
        w2 = w2.T
    epi = list(n.attrs.get("epilogue") or [])
    if any(s[0] == "add" for s in epi) or len([i for i in n.inputs if i]) > 3:
        return None
    out_rank = len(view.shape(n.outputs[0]) or ())
    bias = None
    if len(n.inputs) > 2 and n.inputs[2]:
        b = view.const(n.inputs[2])
        if b is None or b.ndim != out_rank or any(d != 1 for d in b.shape[:-1]) or b.shape[-1] != w2.shape[1]:
            return None
        bias = b.reshape(-1)
    key = (n.inputs[0], n.kind, n.attrs.op0.name, w.dtype.str, w.ndim, w2.shape[0], repr(epi), out_rank)
    return key, w2, bias


def _merge(graph, view, key, members):
    nodes = [m[0] for m in members]
    first = nodes[0]
    w = np.concatenate([m[1] for m in members], axis=1)
    lead = (1,) * (key[4] - 2)
    out_rank = key[7]
    b = None
    if any(m[2] is not None for m in members):
        b = np.concatenate([m[2] if m[2] is not None else np.zeros(m[1].shape[1], dtype=w.dtype)
                            for m in members])
        b = b.reshape((1,) * (out_rank - 1) + b.shape)
    consts = merged_constants(graph, view, nodes, w.reshape(lead + w.shape), b)
    ins = [first.inputs[0]] + [c.outputs[0] for c in consts]
    kind = Kind.FUSED_MATMUL if len(ins) > 2 or first.kind == Kind.FUSED_MATMUL else Kind.MATRIX_MULTIPLY
    attrs = Attrs(op0=first.attrs.op0, op1=MO.NONE)
    if kind == Kind.FUSED_MATMUL:
        attrs["epilogue"] = list(first.attrs.get("epilogue") or [])
    return consts + merged_with_slices(graph, first, nodes, kind, ins, attrs, [w2.shape[1] for _, w2, _ in members],
                                       out_rank - 1)


def fuse_horizontal_matmuls(graph, ctx) -> int:
    return fuse_horizontally(graph, _member, _merge)
