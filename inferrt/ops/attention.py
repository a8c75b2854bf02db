"""``attention``: softmax(Q Kᵀ · scale + mask) V in one layer.

Inputs: ``query`` (..., L, D), ``key`` (..., S, D) or, with ``key_transposed``, (..., D, S), ``value`` (..., S, Dv)
and an optional ``mask`` broadcastable to (..., L, S): additive (the query's type) or BOOL (True: attend; the
same as adding 0 there and -inf elsewhere). Batch dimensions broadcast (numpy rules), which covers grouped-query
/ multi-query layouts where K and V carry fewer heads in a broadcast dimension. ``causal`` applies the
top-left-aligned lower-triangular mask. ``scale`` multiplies the scores (1.0 when the network had no scaling; it
is never defaulted to 1/sqrt(D)). A query row whose every score is masked to -inf gives zeros (PyTorch's SDPA;
the softmax written out would give NaN there, which is why the exporters guard it with ``Where(IsNaN(p), 0, p)``).

The generic implementation calls ``torch.nn.functional.scaled_dot_product_attention`` with the scale passed
explicitly; a transposed key is copied back to (..., S, D) first, since SDPA's fused kernels (flash and
memory-efficient on CUDA, flash on the CPU) take only inputs whose last axis is contiguous and fall back to the
unfused math otherwise. Produced by ``passes/fuse_attention.py``.
"""
from __future__ import annotations

import torch.nn.functional as F

from ..dtypes import FLOAT_TYPES
from ..enums import DataType, LayerType
from .base import BOOL, FLOAT, OpDef, OpError, Spec, broadcast_shapes, register


@register
class Attention(OpDef):
    kind = "attention"
    layer_type = LayerType.ATTENTION
    attrs = {"scale": (FLOAT, 1.0), "key_transposed": (BOOL, False), "causal": (BOOL, False)}
    inputs = ("query", "key", "value", "mask")
    min_inputs = 3

    def infer(self, a, ins):
        q, k, v = ins[:3]
        m = ins[3] if len(ins) > 3 else None
        for name, s in (("query", q), ("key", k), ("value", v)):
            if s.dtype not in FLOAT_TYPES:
                raise OpError(f"attention {name} must be floating point, got {s.dtype.name}")
            if s.dtype != q.dtype:
                raise OpError(f"attention {name} has type {s.dtype.name} but query has {q.dtype.name}")
            if s.rank < 2:
                raise OpError(f"attention {name} must have rank >= 2, got {s.rank}")
        ks = k.shape[:-2] + (k.shape[-1], k.shape[-2]) if a.key_transposed else k.shape
        for what, x, y in (("query and key head sizes", q.shape[-1], ks[-1]),
                           ("key and value sequence lengths", ks[-2], v.shape[-2])):
            if x >= 0 and y >= 0 and x != y:
                raise OpError(f"attention: {what} differ ({x} and {y})")
        batch = broadcast_shapes(q.shape[:-2], ks[:-2], v.shape[:-2], where=" (attention batch dimensions)")
        if m is not None:
            if m.dtype not in (q.dtype, DataType.BOOL):
                raise OpError(f"attention mask has type {m.dtype.name}; it must be {q.dtype.name} or BOOL")
            scores = broadcast_shapes(batch + (q.shape[-2], ks[-2]), m.shape, where=" (attention mask)")
            batch = scores[:-2]
        return [Spec(q.dtype, tuple(batch) + (q.shape[-2], v.shape[-1]))]

    def run(self, a, ins, outs):
        q, k, v = ins[:3]
        m = ins[3] if len(ins) > 3 else None
        if a.key_transposed:
            k = k.transpose(-1, -2).contiguous()
        # (inferrt's broadcast: torch.broadcast_shapes imports sympy on first use, which takes seconds)
        batch = broadcast_shapes(tuple(q.shape[:-2]), tuple(k.shape[:-2]), tuple(v.shape[:-2]),
                                 *(() if m is None else (tuple(m.shape[:-2]),)))
        q = q.expand(*batch, *q.shape[-2:])
        k = k.expand(*batch, *k.shape[-2:])
        v = v.expand(*batch, *v.shape[-2:])
        return [F.scaled_dot_product_attention(q, k, v, attn_mask=m, dropout_p=0.0, is_causal=bool(a.causal),
                                               scale=float(a.scale))]
