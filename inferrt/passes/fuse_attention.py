"""Attention fusion.

    Q ─ [·c_q] ─┐
    K ─ [·c_k] ─┴ MatMul(Q, Kᵀ) ─ s ─ [· c | ÷ c] ─ [+ mask] ─ SoftMax(last axis) ─ [NaN guard] ─ P ─┐
                                                                               V ───── MatMul(P, V) ─ y
        ==>   Q, K, V, [mask] ─ Attention(scale, key_transposed, causal) ─ y

Kᵀ is either the matrix product's TRANSPOSE operation on K, a Shuffle read only by the scores (one that just
swaps K's last two axes is absorbed; any other is changed to write K, its last transpose composed with that swap,
since SDPA's fused kernels need K's last axis contiguous), or any other tensor laid out as (..., D, S)
(``key_transposed``). Scalar factors on Q, on K and on the scores multiply into ``scale`` (1.0 when there are
none: never 1/√D implicitly); a division divides it (PyTorch's SDPA export puts √scale on both Q and K). Batch
dimensions broadcast, so multi-head, grouped-query (K/V with fewer heads in a broadcast axis) and multi-query
layouts all fuse, as do K/V expanded beforehand by other layers. Scores, scaled scores, masked scores and
probabilities must be read only inside the pattern.

The NaN guard is what both torch exporters write after the softmax of SDPA's decomposition,
``P = Where(IsNaN(p), 0, p)``: a row whose every score is -inf gives zeros, which is the attention layer's own
rule (PyTorch's SDPA), so the guard is absorbed.

The mask is read in this order:
  * a constant that is 0 on and below the diagonal and ≤ -1e4 above: ``causal``;
  * ``Where(attend, 0, m)`` or ``Where(blocked, m, 0)`` with m ≤ -1e4 whose condition holds exactly where
    key ≤ query, built from the key index and the query index (aranges ``0, 1, …`` from Range, unsqueezed,
    reshaped or broadcast onto the last and the second-to-last axis) by comparisons, their difference compared
    with 0, AND / OR / XOR / NOT, or ``Where(c, t, e) == z`` (Trilu's form): ``causal``, top-left aligned as the
    layer's rule. The mask must add no axis or length to the scores, whose shape it would otherwise change;
    where a length is dynamic on either side they are taken to agree;
  * ``Where(attend, 0, -inf)``: the BOOL ``attend`` becomes the mask (the same scores, and the same zero rows
    where all is masked); with a finite m (``finfo.min``) the additive mask stays, since a fully masked row then
    averages V instead of giving zeros;
  * anything else is an additive mask input.
Layers that only built a mask the attention no longer reads die with the fusion; their names join its origin.
"""
from __future__ import annotations

import numpy as np

from ..enums import DataType, ElementWiseOperation as EW, FillOperation, MatrixOperation as MO, UnaryOperation as U
from ..ir.graph import Node
from ..ir.kinds import Kind
from ..ops.base import Attrs, broadcast_shapes
from .fuse_softmax import node_of
from .rewrite import View, absorbed_origin, merge_origin, replace

#: a mask value at or below this blocks a position (exp underflows to 0 next to any attended score)
BLOCKED = -1e4


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


def _unguarded(view, p, nodes):
    """The softmax output under the NaN guard ``p = Where(IsNaN(s), 0, s)`` (s), or p itself."""
    sel = node_of(view, p, Kind.SELECT)
    if sel is None:
        return p
    cond, zero, s = sel.inputs
    isnan = node_of(view, cond, Kind.UNARY, U.ISNAN)
    if isnan is None or isnan.inputs[0] != s or view.scalar(zero) != 0.0:
        return p
    nodes += [sel, isnan]
    return s


def _is_causal(mask, l_len, s_len):
    if mask is None or mask.ndim < 2 or any(d != 1 for d in mask.shape[:-2]) or mask.dtype.kind != "f":
        return False
    m = mask.reshape(mask.shape[-2:])
    if m.shape != (l_len, s_len) or l_len != s_len or l_len < 2:
        return False
    lower = np.tril(np.ones(m.shape, dtype=bool))
    return bool(np.all(m[lower] == 0) and np.all(m[~lower] <= BLOCKED))


# ---------------------------------------------------------------------------------------- masks built in-graph
def _broadcast_source(view, v):
    """x when v is the importers' Expand of x: a slice from 0 with stride max(min(dim - 1, 1), 0) (each axis of x
    broadcast from 1 or kept whole), to a size of max(x's shape, target) or a constant keeping x's sizes; else v."""
    sl = view.producer(v, Kind.SLICE)
    if sl is None or len(sl.inputs) != 4 or not all(sl.inputs):
        return v
    x, start, size, stride = sl.inputs
    shape, folded = view.shape(x), view.const(stride)
    if folded is not None:          # folded when x's shape is known
        strides = folded.shape == (len(shape),) and all(
            c in (0, 1) and (c == 0) == (d == 1) for c, d in zip(folded.tolist(), shape))
    else:
        strides = _of_shape(view, stride, x, EW.MAX, 0, EW.MIN, 1, EW.SUB, 1)
    whole = all(d == 1 for d in shape) or _of_shape(view, size, x, EW.MAX, None) \
        or _keeps_sizes(view.const(size), shape)
    return x if _all_equal(view, start, 0) and strides and whole else v


def _all_equal(view, v, value):
    c = view.const(v)
    return c is not None and bool(np.all(c == value))


def _of_shape(view, v, x, *steps):
    """v == step(... step(shape(x), c) ..., c) for the (op, constant) pairs of ``steps``, outermost first (a constant
    of None: any second operand); shape(x) may be folded to a constant when x's shape is known."""
    for op, c in zip(steps[::2], steps[1::2]):
        n = node_of(view, v, Kind.ELEMENTWISE, op)
        if n is None or (c is not None and not _all_equal(view, n.inputs[1], c)):
            return False
        v = n.inputs[0]
    shape, folded = view.shape(x), view.const(v)
    if folded is not None:
        return all(d >= 0 for d in shape) and folded.tolist() == list(shape)
    shp = view.producer(v, Kind.SHAPE)
    return shp is not None and shp.inputs[0] == x


def _keeps_sizes(target, shape):
    return target is not None and target.shape == (len(shape),) and all(
        d == 1 or d == t for d, t in zip(shape, target.tolist()))


def _unsqueezed_source(view, v):
    """x when v is x with unit axes added in front or between (an unsqueeze, or the shuffle the importers use to
    broadcast a lower-rank operand: reshape to x's dims then 1s, transposed without reordering x's axes)."""
    while True:
        n = view.producer(v, Kind.UNSQUEEZE, Kind.SHUFFLE)
        if n is None or (n.kind == Kind.SHUFFLE and not _adds_unit_axes(view, n)):
            return v
        v = n.inputs[0]


def _adds_unit_axes(view, sh):
    a, shape = sh.attrs, view.shape(sh.inputs[0])
    if a.reshape_dims is None or (len(sh.inputs) > 1 and sh.inputs[1]) or list(a.first_transpose) != sorted(
            a.first_transpose):
        return False
    dims, r = list(a.reshape_dims), len(shape)
    if len(dims) < r or any(d != 1 for d in dims[r:]) or not all(
            (d == 0 and a.zero_is_placeholder) or d == s >= 0 for d, s in zip(dims, shape)):
        return False
    kept = [p for p in (list(a.second_transpose) or range(len(dims))) if p < r]
    return kept == sorted(kept)


def _arange_axis(view, v):
    """The axis (from the end) along which v holds 0, 1, 2, … with size 1 on every other axis: a LINSPACE fill
    from 0 by 1 through unsqueezes, reshapes and casts to INT32 / INT64 / FLOAT; else None."""
    shape = view.shape(v)
    wide = [i - len(shape) for i, d in enumerate(shape) if d != 1]
    if len(wide) != 1:
        return None
    n = view.producer(v)
    while n is not None and n.kind != Kind.FILL:
        if n.kind == Kind.UNSQUEEZE or (n.kind == Kind.CAST and n.attrs.to_type in (
                DataType.INT32, DataType.INT64, DataType.FLOAT)):
            pass
        elif n.kind != Kind.SHUFFLE or not (_adds_unit_axes(view, n) or all(list(t) == sorted(t) for t in (
                n.attrs.first_transpose, n.attrs.second_transpose))):
            return None
        n = view.producer(n.inputs[0])
    if n is None or n.attrs.operation != FillOperation.LINSPACE or len(view.shape(n.outputs[0])) != 1:
        return None
    start, step = n.attrs.alpha, n.attrs.beta
    if len(n.inputs) == 3 and n.inputs[1] and n.inputs[2]:
        start, step = view.scalar(n.inputs[1]), view.scalar(n.inputs[2])
    return wide[0] if (start, step) == (0.0, 1.0) else None


_SIGNS = frozenset((-1, 0, 1))
_COMPARE = {EW.LESS: frozenset({-1}), EW.EQUAL: frozenset({0}), EW.GREATER: frozenset({1})}
_JOIN = {EW.AND: frozenset.__and__, EW.OR: frozenset.__or__, EW.XOR: frozenset.__xor__}


def _source(view, v):
    return _unsqueezed_source(view, _broadcast_source(view, v))


def _relation(view, v, depth=0):
    """The set of signs of key - query where the BOOL v is true, when v is built from comparisons of the key index
    (an arange on the last axis) with the query index (an arange on the axis before it) or of their difference
    with 0, joined by AND / OR / XOR / NOT, or from ``Where(that, t, e) == z`` with constants (Trilu's masks);
    else None. Every such v is a function of sign(key - query), so the set says all of it."""
    n = view.producer(_source(view, v))
    if n is None or depth > 16:
        return None
    if n.kind == Kind.UNARY and n.attrs.op == U.NOT:
        r = _relation(view, n.inputs[0], depth + 1)
        return None if r is None else _SIGNS - r
    if n.kind != Kind.ELEMENTWISE:
        return None
    a, b = n.inputs
    if n.attrs.op == EW.EQUAL:
        r = _branch_relation(view, a, b, depth)
        if r is not None:
            return r
    if n.attrs.op in _COMPARE:
        order = _order(view, a, b)
        return None if order is None else frozenset(order * s for s in _COMPARE[n.attrs.op])
    if n.attrs.op not in _JOIN:
        return None
    ra, rb = _relation(view, a, depth + 1), _relation(view, b, depth + 1)
    return None if ra is None or rb is None else _JOIN[n.attrs.op](ra, rb)


def _order(view, a, b):
    """+1 when comparing a with b compares the key index with the query index (a = key and b = query, or
    a = key - query and b = 0), -1 when it is the other way round, None otherwise."""
    axes = (_arange_axis(view, a), _arange_axis(view, b))
    if axes in ((-1, -2), (-2, -1)):
        return 1 if axes == (-1, -2) else -1
    for diff, zero, sign in ((a, b, 1), (b, a, -1)):
        sub = node_of(view, _source(view, diff), Kind.ELEMENTWISE, EW.SUB)
        if sub is not None and view.scalar(zero) == 0.0:
            inner = _order(view, *sub.inputs)
            if inner is not None:
                return sign * inner
    return None


def _branch_relation(view, a, b, depth):
    """The relation of ``Where(c, t, e) == z`` (t, e, z constants): that of c where only t equals z, of NOT c
    where only e does; None otherwise."""
    for sel_v, z in ((a, b), (b, a)):
        sel = view.producer(_source(view, sel_v), Kind.SELECT)
        zv = view.scalar(z)
        if sel is None or zv is None:
            continue
        tv, ev = (view.scalar(_source(view, x)) for x in sel.inputs[1:])
        if tv is None or ev is None or (tv == zv) == (ev == zv):
            continue
        r = _relation(view, sel.inputs[0], depth + 1)
        return None if r is None else (r if tv == zv else _SIGNS - r)
    return None


def _selected_mask(view, mask):
    """(condition, blocked value, whether the condition marks the attended positions) for
    ``mask = Where(attend, 0, blocked)`` or ``mask = Where(masked, blocked, 0)`` with blocked ≤ BLOCKED."""
    sel = view.producer(mask, Kind.SELECT)
    if sel is None:
        return None
    cond, t, e = sel.inputs
    ts, es = view.scalar(t), view.scalar(e)
    if ts == 0.0 and es is not None and es <= BLOCKED:
        return cond, es, True
    if es == 0.0 and ts is not None and ts <= BLOCKED:
        return cond, ts, False
    return None


def _spans(mask, scores):
    """The mask's shape adds no axis and no length to the scores' (dropping it would otherwise change the output's
    shape); a dynamic length is taken to agree with the other side's."""
    extra = len(mask) - len(scores)
    if extra > 0:
        return all(d == 1 for d in mask[:extra]) and _spans(mask[extra:], scores)
    return all(d == 1 or d == s or s == -1 or (d == -1 and s != 1) for d, s in zip(mask[::-1], scores[::-1]))


def _mask_form(view, mask, scores):
    """(mask input or None, causal) standing for the additive ``mask`` on scores of shape ``scores`` (see the
    module docstring)."""
    l_len, s_len = scores[-2:]
    if _is_causal(view.const(mask), l_len, s_len):
        return None, True
    sel = _selected_mask(view, _unsqueezed_source(view, mask))
    if sel is None:
        return mask, False
    cond, blocked, attend_when_true = sel
    rel = _relation(view, cond)
    if rel is not None:
        attended = rel if attend_when_true else _SIGNS - rel
        if attended == {-1, 0} and _spans(view.shape(mask), scores):
            return None, True
    if attend_when_true and blocked == -np.inf:
        return cond, False
    return mask, False


def _match(view, mm2):
    if mm2.kind != Kind.MATRIX_MULTIPLY or mm2.attrs.op0 != MO.NONE or mm2.attrs.op1 != MO.NONE:
        return None
    p, v = mm2.inputs
    guard = []
    sm = node_of(view, _unguarded(view, p, guard), Kind.SOFTMAX)
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
        m = _from_scores(view, scores, [mm2] + guard + [sm] + extra)
        if m is not None and (mask is None or all(mask != n.outputs[0] for n in m[-2])):
            q, k, scale, key_t, nodes, relaid = m
            return q, k, v, mask, scale, key_t, nodes, relaid
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
        return q, kt, scale, False, nodes, None
    rows = _key_rows(view, kt, nodes)
    if rows is None:
        return q, kt, scale, True, nodes, None
    if rows is True:                              # Kᵀ was K with its last two axes swapped: absorbed
        return q, view.producer(kt).inputs[0], scale, False, nodes, None
    return q, kt, scale, True, nodes, rows


def _key_rows(view, kt, nodes):
    """How K reaches the layer as (..., S, D) when Kᵀ comes from a shuffle read only by the scores: swapping the
    output's last two axes joins the shuffle's last transpose, so the shuffle writes K instead of Kᵀ for the same
    work (SDPA's fused kernels need K's last axis contiguous). True when the shuffle is then the identity (it joins
    ``nodes``), else (shuffle, its new attributes); None when Kᵀ has no such shuffle."""
    sh = node_of(view, kt, Kind.SHUFFLE)
    r = len(view.shape(kt))
    if sh is None or r < 2 or len(view.uses(kt)) != 1 or kt in view.outputs:
        return None
    swap = list(range(r - 2)) + [r - 1, r - 2]
    a = sh.attrs
    reshapes = a.reshape_dims is not None or (len(sh.inputs) > 1 and bool(sh.inputs[1]))
    which = "second_transpose" if reshapes or a.second_transpose else "first_transpose"
    perm = list(a[which]) or list(range(r))
    perm = [perm[i] for i in swap]
    if perm == list(range(r)) and not reshapes:
        nodes.append(sh)
        return True
    return sh, Attrs(a, **{which: tuple(perm)})


def _live(graph):
    """Ids of the nodes whose outputs reach a graph output (what Graph.remove_dead keeps)."""
    live, keep = set(graph.outputs), set()
    for n in reversed(graph.nodes):
        if not n.outputs or any(o in live for o in n.outputs):
            keep.add(id(n))
            live.update(i for i in n.inputs if i)
    return keep


def _claim_dead(graph, dropped):
    """The layers that only built a mask a fused attention no longer reads join that attention's origin (the first
    one's, when layers shared the mask), so no name is lost when they are removed."""
    keep, prod, claimed = _live(graph), graph.producers(), set()
    for att, value in dropped:
        found, stack = [], [value]
        while stack:
            n = prod.get(stack.pop())
            if n is None or id(n) in keep or id(n) in claimed:
                continue
            claimed.add(id(n))
            found.append(n)
            stack.extend(i for i in n.inputs if i)
        att.origin = merge_origin(att, *found)


def fuse_attention(graph, ctx) -> int:
    fused = 0
    view = View(graph)
    taken, dropped = set(), []
    for mm2 in list(graph.nodes):
        m = _match(view, mm2)
        if m is None:
            continue
        q, k, v, mask, scale, key_t, nodes, relayout = m
        if any(id(n) in taken for n in nodes + list(relayout or ())[:1]) or not all(
                view.internal(o, nodes) for n in nodes[1:] for o in n.outputs):
            continue
        if view.spec(q).dtype != view.spec(k).dtype or view.spec(q).dtype != view.spec(v).dtype:
            continue
        causal, additive = False, mask
        if mask is not None:
            if view.spec(mask).dtype != view.spec(q).dtype:
                continue
            qs, ks, vs = view.shape(q), view.shape(k), view.shape(v)
            batch = broadcast_shapes(qs[:-2], ks[:-2], vs[:-2])
            mask, causal = _mask_form(view, mask, batch + (qs[-2], ks[-1] if key_t else ks[-2]))
        added = []
        if relayout is not None:              # the Kᵀ shuffle writes K instead
            sh, attrs = relayout
            k, key_t = graph.unique_name(f"{k} [K rows]"), False
            added.append(Node(sh.name, Kind.SHUFFLE, list(sh.inputs), [k], attrs, origin=list(sh.origin),
                              info=sh.info.copy()))
        ins = [q, k, v] + ([mask] if mask is not None else [])
        new = Node(mm2.name, Kind.ATTENTION, ins, list(mm2.outputs),
                   Attrs(scale=float(scale), key_transposed=key_t, causal=causal),
                   origin=absorbed_origin(view, *nodes[::-1]), info=mm2.info.copy())
        gone = [n for n in nodes if n.kind != Kind.CONSTANT] + ([relayout[0]] if relayout else [])
        replace(graph, gone, [new] + added)
        taken |= {id(n) for n in gone}
        if additive is not None and additive != mask:
            dropped.append((new, additive))
        fused += 1
    if fused:
        _claim_dead(graph, dropped)
        graph.remove_dead()
    return fused
