"""Attention fusion.

    Q ─ [·c_q] ─┐
    K ─ [·c_k] ─┴ MatMul(Q, Kᵀ) ─ s ─ [· c | ÷ c] ─ [+ mask] ─ SoftMax(last axis) ─ P ─┐
                                                                         V ───── MatMul(P, V) ─ y
        ==>   Q, K, V, [mask] ─ Attention(scale, key_transposed, causal) ─ y

Kᵀ is either the matrix product's TRANSPOSE operation on K, a Shuffle that swaps K's last two axes (absorbed
when it feeds only the scores), or any tensor already laid out as (..., D, S) (``key_transposed``). Scalar
factors on Q, on K and on the scores multiply into ``scale`` (1.0 when there are none: never 1/√D implicitly);
a division divides it. Batch dimensions broadcast, so multi-head, grouped-query (K/V with fewer heads in a
broadcast axis) and multi-query layouts all fuse, as do K/V expanded beforehand by other layers. A constant mask
that is 0 on and below the diagonal and ≤ -1e4 above becomes ``causal``; any other mask is an input. Scores,
scaled scores, masked scores and probabilities must be read only inside the pattern.
"""
from __future__ import annotations

import numpy as np

from ..enums import ElementWiseOperation as EW, MatrixOperation as MO
from ..ir.graph import Node
from ..ir.kinds import Kind
from ..ops.base import Attrs
from .fuse_softmax import node_of
from .rewrite import View, absorbed_origin, replace


def _scaled(view, v, nodes):
    """(base, factor) peeling one scalar multiplication or division off v when it is read once."""
    for op in (EW.PROD, EW.DIV):
        n = node_of(view, v, Kind.ELEMENTWISE, op)
        if n is None or len(view.uses(v)) != 1 or v in view.outputs:
            continue
        pairs = (n.inputs, n.inputs[::-1]) if op == EW.PROD else (n.inputs,)
        for base, c in pairs:
            f = view.scalar(c)
            if f is not None and f != 0 and base != c:
                nodes.append(n)
                return base, (f if op == EW.PROD else 1.0 / f)
    return v, 1.0


def _is_causal(mask, l_len, s_len):
    if mask is None or mask.ndim < 2 or any(d != 1 for d in mask.shape[:-2]) or mask.dtype.kind != "f":
        return False
    m = mask.reshape(mask.shape[-2:])
    if m.shape != (l_len, s_len) or l_len != s_len or l_len < 2:
        return False
    lower = np.tril(np.ones(m.shape, dtype=bool))
    return bool(np.all(m[lower] == 0) and np.all(m[~lower] <= -1e4))


def _match(view, mm2):
    if mm2.kind != Kind.MATRIX_MULTIPLY or mm2.attrs.op0 != MO.NONE or mm2.attrs.op1 != MO.NONE:
        return None
    p, v = mm2.inputs
    sm = node_of(view, p, Kind.SOFTMAX)
    if sm is None:
        return None
    z = sm.inputs[0]
    rank = len(view.shape(z) or ())
    if rank < 2 or sm.attrs.axes != 1 << (rank - 1):
        return None
    add = node_of(view, z, Kind.ELEMENTWISE, EW.SUM)
    options = [(z, None, [])]
    if add is not None:
        options = [(add.inputs[0], add.inputs[1], [add]), (add.inputs[1], add.inputs[0], [add])] + options
    for scores, mask, extra in options:
        m = _from_scores(view, scores, [mm2, sm] + extra)
        if m is not None and (mask is None or all(mask != n.outputs[0] for n in m[-1])):
            q, k, scale, key_t, nodes = m
            return q, k, v, mask, scale, key_t, nodes
    return None


def _from_scores(view, scores, nodes):
    nodes = list(nodes)
    scale = 1.0
    scores, f = _scaled(view, scores, nodes)
    scale *= f
    qk = node_of(view, scores, Kind.MATRIX_MULTIPLY)
    if qk is None or qk.attrs.op0 != MO.NONE or qk.attrs.op1 == MO.VECTOR:
        return None
    nodes.append(qk)
    q, kt = qk.inputs
    q, f = _scaled(view, q, nodes)
    scale *= f
    kt, f = _scaled(view, kt, nodes)
    scale *= f
    if qk.attrs.op1 == MO.TRANSPOSE:
        return q, kt, scale, False, nodes
    k, key_t = kt, True
    sh = node_of(view, kt, Kind.SHUFFLE)
    if sh is not None and len([i for i in sh.inputs if i]) == 1 and sh.attrs.reshape_dims is None \
            and not sh.attrs.second_transpose and len(view.uses(kt)) == 1 and kt not in view.outputs:
        perm = list(sh.attrs.first_transpose)
        r = len(perm)
        if r >= 2 and perm == list(range(r - 2)) + [r - 1, r - 2]:
            k, key_t = sh.inputs[0], False
            nodes.append(sh)
    return q, k, scale, key_t, nodes


def fuse_attention(graph, ctx) -> int:
    fused = 0
    view = View(graph)
    taken = set()
    for mm2 in list(graph.nodes):
        m = _match(view, mm2)
        if m is None:
            continue
        q, k, v, mask, scale, key_t, nodes = m
        if any(id(n) in taken for n in nodes) or not all(
                view.internal(o, nodes) for n in nodes[1:] for o in n.outputs):
            continue
        if view.spec(q).dtype != view.spec(k).dtype or view.spec(q).dtype != view.spec(v).dtype:
            continue
        causal = False
        if mask is not None:
            if view.spec(mask).dtype != view.spec(q).dtype:
                continue
            qs, ks = view.shape(q), view.shape(k)
            s_len = ks[-1] if key_t else ks[-2]
            if _is_causal(view.const(mask), qs[-2], s_len):
                causal, nodes = True, nodes + [view.producer(mask)]
                mask = None
        ins = [q, k, v] + ([mask] if mask is not None else [])
        new = Node(mm2.name, Kind.ATTENTION, ins, list(mm2.outputs),
                   Attrs(scale=float(scale), key_transposed=key_t, causal=causal),
                   origin=absorbed_origin(view, *nodes[::-1]), info=mm2.info.copy())
        replace(graph, [n for n in nodes if n.kind != Kind.CONSTANT], [new])
        taken |= {id(n) for n in nodes if n.kind != Kind.CONSTANT}
        fused += 1
    if fused:
        graph.remove_dead()
    return fused
