"""Normalization fusions: LayerNorm, InstanceNorm, RMSNorm, GroupNorm and L2 norm into single layers.

    x ─┬─ ReduceAvg(A) ─ μ ─┐
       └─────────────────── Sub ─ d ─┬─ (d·d | d^2) ─ ReduceAvg(A) ─ (+ε) ─ Sqrt ─ s ─┐
                                     └──────────────────────────────────── Div ─ n ─ (·γ) ─ (+β) ─ y
        ==> LayerNorm(x, γ, β; A, ε)   (InstanceNorm when A are the spatial axes of an N, C, H, W... tensor)
    x ─┬─ (x·x | x^2) ─ ReduceAvg(A) ─ (+ε) ─ Sqrt ─ s ─┐
       └────────────────────────────────────────── Div ─ (·γ) ─ y   ==>  RMSNorm(x, γ; A, ε)
    x ─ Reshape(N, G, -1) ─ LayerNorm(axes 2..) ─ Reshape(x's shape) ─ (·γ) ─ (+β) ─ y  ==>  GroupNorm(x, γ, β; G, ε)
    x ─┬─ (x·x) ─ ReduceSum(A) ─ [max ε | +ε] ─ Sqrt ─ [max ε] ─ s ─┐
       └──────────────────────────────────────────────────── Div ─ y   ==>  L2Norm(x; A, ε, how ε enters)

``a / s`` may also be written ``a · Recip(s)``. Reductions keep their dims; γ and β are constants; every value
inside a pattern is read only inside it. The fused layers compute exactly the same math (population variance).
"""
from __future__ import annotations

from ..enums import ElementWiseOperation as EW, ReduceOperation as R, UnaryOperation as U
from ..ir.graph import Node
from ..ir.kinds import Kind
from ..ops.base import Attrs
from .fuse_softmax import node_of
from .rewrite import absorbed_origin, sweep_fusions, until_fixed_point


def square_of(view, v):
    """(t, node) when v = t·t or t^2."""
    n = node_of(view, v, Kind.ELEMENTWISE, EW.PROD)
    if n is not None and n.inputs[0] == n.inputs[1]:
        return n.inputs[0], n
    n = node_of(view, v, Kind.ELEMENTWISE, EW.POW)
    if n is not None and view.scalar(n.inputs[1]) == 2.0:
        return n.inputs[0], n
    return None


def _reduce(view, v, op):
    r = node_of(view, v, Kind.REDUCE, op)
    return r if r is not None and r.attrs.keep_dims and r.attrs.axes else None


def _quotient(view, n):
    """(numerator, denominator, nodes) for n = a / s or a · Recip(s)."""
    if n.kind != Kind.ELEMENTWISE:
        return None
    if n.attrs.op == EW.DIV and node_of(view, n.outputs[0], Kind.ELEMENTWISE) is n:
        return n.inputs[0], n.inputs[1], [n]
    if n.attrs.op == EW.PROD and node_of(view, n.outputs[0], Kind.ELEMENTWISE) is n:
        for a, r in (n.inputs, n.inputs[::-1]):
            rc = node_of(view, r, Kind.UNARY, U.RECIP)
            if rc is not None:
                return a, rc.inputs[0], [n, rc]
    return None


def _with_eps(view, v, op):
    """(inner, eps, nodes) for v = op(inner, ε) with a constant ε >= 0 (either order), else None."""
    n = node_of(view, v, Kind.ELEMENTWISE, op)
    if n is not None:
        for a, c in (n.inputs, n.inputs[::-1]):
            eps = view.scalar(c)
            if eps is not None and eps >= 0:
                return a, eps, [n]
    return None


def _plus_eps(view, v):
    """(inner, eps, nodes) for v = inner + ε (either order) or v = inner (ε = 0)."""
    return _with_eps(view, v, EW.SUM) or (v, 0.0, [])


def _max_eps(view, v):
    return _with_eps(view, v, EW.MAX)


def _match_mean_var(view, n):
    """LayerNorm / InstanceNorm / RMSNorm core: (kind, x, attrs, nodes)."""
    q = _quotient(view, n)
    if q is None:
        return None
    num, den, nodes = q
    sq = node_of(view, den, Kind.UNARY, U.SQRT)
    if sq is None:
        return None
    inner, eps, eps_nodes = _plus_eps(view, sq.inputs[0])
    var = _reduce(view, inner, R.AVG)
    if var is None:
        return None
    s = square_of(view, var.inputs[0])
    if s is None or s[0] != num:
        return None
    nodes = nodes + [sq] + eps_nodes + [var, s[1]]
    axes = var.attrs.axes
    sub = node_of(view, num, Kind.ELEMENTWISE, EW.SUB)
    if sub is not None:
        mu = _reduce(view, sub.inputs[1], R.AVG)
        if mu is not None and mu.inputs[0] == sub.inputs[0] and mu.attrs.axes == axes:
            x = sub.inputs[0]
            rank = len(view.shape(x))
            spatial = sum(1 << i for i in range(2, rank))
            kind = Kind.INSTANCE_NORM if rank >= 4 and axes == spatial else Kind.LAYER_NORM
            return kind, x, Attrs(axes=axes, epsilon=eps), nodes + [sub, mu]
    return Kind.RMS_NORM, num, Attrs(axes=axes, epsilon=eps), nodes


def _match_l2(view, n):
    q = _quotient(view, n)
    if q is None:
        return None
    x, den, nodes = q
    mode, eps = "none", 0.0
    outer = _max_eps(view, den)
    if outer is not None:
        den, eps, extra = outer
        nodes = nodes + extra
        mode = "max_sqrt"
    sq = node_of(view, den, Kind.UNARY, U.SQRT)
    if sq is None:
        return None
    nodes = nodes + [sq]
    inner = sq.inputs[0]
    if mode == "none":
        m = _max_eps(view, inner)
        if m is not None:
            inner, eps, extra = m
            mode, nodes = "max", nodes + extra
        else:
            inner, eps, extra = _plus_eps(view, inner)
            if extra:
                mode, nodes = "add", nodes + extra
    total = _reduce(view, inner, R.SUM)
    if total is None:
        return None
    s = square_of(view, total.inputs[0])
    if s is None or s[0] != x:
        return None
    return Kind.L2_NORM, x, Attrs(axes=total.attrs.axes, epsilon=eps, eps_mode=mode), nodes + [total, s[1]]


def _affine_step(view, node, slot):
    """The reader of ``node``'s output multiplying (slot 1) or adding (slot 2) a constant, and that constant."""
    y = node.outputs[0]
    readers = view.uses(y)
    if len(readers) != 1 or not view.only_use(y, readers[0]):
        return None
    e = readers[0]
    op = EW.PROD if slot == 1 else EW.SUM
    if node_of(view, e.outputs[0], Kind.ELEMENTWISE, op) is not e:
        return None
    other = e.inputs[1] if e.inputs[0] == y else e.inputs[0]
    if other == y or view.const(other) is None:
        return None
    return e, other


def _match_group(view, ln):
    """GroupNorm around a LayerNorm without affine: (x, G, nodes)."""
    if ln.kind != Kind.LAYER_NORM or len([i for i in ln.inputs if i]) != 1:
        return None
    r1 = node_of(view, ln.inputs[0], Kind.SHUFFLE)
    readers = view.uses(ln.outputs[0])
    if (r1 is None or len(readers) != 1 or readers[0].kind != Kind.SHUFFLE
            or not view.only_use(ln.outputs[0], readers[0])):
        return None
    r2 = readers[0]
    for s in (r1, r2):
        if len([i for i in s.inputs if i]) != 1 or s.attrs.first_transpose or s.attrs.second_transpose \
                or s.attrs.reshape_dims is None:
            return None
    x = r1.inputs[0]
    xs, mid, out = view.shape(x), view.shape(r1.outputs[0]), view.shape(r2.outputs[0])
    if xs is None or len(xs) < 3 or any(d < 0 for d in xs[1:]) or len(mid) < 3:
        return None
    g = mid[1]
    if g <= 0 or xs[1] % g or tuple(out) != tuple(xs) or (mid[0] != xs[0] and r1.attrs.reshape_dims[0] != 0):
        return None
    if ln.attrs.axes != sum(1 << i for i in range(2, len(mid))) or not view.only_use(r1.outputs[0], ln):
        return None
    return x, g, [r2, ln, r1]


def fuse_norms(graph, ctx) -> int:
    return until_fixed_point(lambda g: sweep_fusions(g, _fusion), graph, name="fuse_norms")


def _fusion(view, n, taken):
    m = _match_mean_var(view, n) or _match_l2(view, n)
    if m is not None:
        kind, x, attrs, nodes = m
        if any(id(k) in taken for k in nodes) or not all(
                view.internal(o, nodes) for k in nodes[1:] for o in k.outputs):
            return None
        return nodes, Node(n.name, kind, [x], list(n.outputs), attrs, origin=absorbed_origin(view, *nodes[::-1]),
                           info=n.info.copy())
    if n.kind not in (Kind.LAYER_NORM, Kind.INSTANCE_NORM, Kind.RMS_NORM, Kind.GROUP_NORM):
        return None
    for slot in {Kind.RMS_NORM: (1,)}.get(n.kind, (1, 2)):
        if len(n.inputs) > slot and n.inputs[slot] or (slot == 1 and len(n.inputs) > 2):
            continue
        st = _affine_step(view, n, slot)
        if st is None or id(st[0]) in taken:
            continue
        e, c = st
        ins = list(n.inputs) + [""] * (slot + 1 - len(n.inputs))
        ins[slot] = c
        return [e, n], Node(n.name, n.kind, ins, list(e.outputs), Attrs(n.attrs), origin=absorbed_origin(view, n, e),
                            info=n.info.copy())
    if n.kind == Kind.LAYER_NORM:
        g = _match_group(view, n)
        if g is not None and not any(id(k) in taken for k in g[2]):
            x, groups, nodes = g
            return nodes, Node(nodes[0].name, Kind.GROUP_NORM, [x], list(nodes[0].outputs),
                               Attrs(num_groups=groups, epsilon=n.attrs.epsilon),
                               origin=absorbed_origin(view, *nodes[::-1]), info=n.info.copy())
    return None
