"""GELU fusion (erf and tanh forms) into one activation layer.

    x ─┬─ Div(√2) ─ Erf ─ Add(1) ─ t ─┐                                  (or x · (1/√2))
       └──────────────────────────── Mul ─ Mul(0.5) ─ y    ==>  x ─ Activation(GELU_ERF) ─ y
    x ─┬─ x³ ─ Mul(0.044715) ─ Add(x) ─ Mul(√(2/π)) ─ Tanh ─ Add(1) ─ t ─┐
       └───────────────────────────────────────────────────────────── Mul ─ Mul(0.5) ─ y
                                                            ==>  x ─ Activation(GELU_TANH) ─ y

The final product of x, t and 0.5 may be grouped in any order ((x·t)·0.5, x·(t·0.5), (0.5·x)·t, ...); x³ may be
Pow(x, 3) or x·x·x. Constants must match to 1e-4 relative. Intermediate values must be read only inside the
pattern (x itself is read twice, by design).
"""
from __future__ import annotations

import math

from ..enums import ActivationType as AT, ElementWiseOperation as EW, UnaryOperation as U
from ..ir.graph import Node
from ..ir.kinds import Kind
from ..ops.base import Attrs
from .fuse_softmax import node_of
from .rewrite import absorbed_origin, sweep_fusions, until_fixed_point


def _near(v, target):
    return v is not None and abs(v - target) <= 1e-4 * abs(target)


def factors(view, v, stop=(), limit=6):
    """Leaves of the product tree rooted at v (single-use Mul nodes are expanded) and the Mul nodes inside it."""
    leaves, nodes, todo = [], [], [v]
    while todo:
        cur = todo.pop()
        n = node_of(view, cur, Kind.ELEMENTWISE, EW.PROD)
        inner = cur == v or (n is not None and len(view.uses(cur)) == 1 and cur not in view.outputs)
        if n is None or cur in stop or not inner or len(nodes) >= limit:
            leaves.append(cur)
            continue
        nodes.append(n)
        todo.extend(n.inputs)
    return leaves, nodes


def _split(view, leaves, target_const):
    """The non-constant leaves after removing one constant near ``target_const`` (None if absent)."""
    rest, found = [], False
    for leaf in leaves:
        if not found and _near(view.scalar(leaf), target_const):
            found = True
        else:
            rest.append(leaf)
    return rest if found else None


def _one_plus(view, t):
    n = node_of(view, t, Kind.ELEMENTWISE, EW.SUM)
    if n is None:
        return None
    for a, c in (n.inputs, n.inputs[::-1]):
        if view.scalar(c) == 1.0:
            return a, n
    return None


def _erf_branch(view, t):
    """x, nodes for t = 1 + erf(x / √2)."""
    op = _one_plus(view, t)
    if op is None:
        return None
    erf = node_of(view, op[0], Kind.UNARY, U.ERF)
    if erf is None:
        return None
    arg = erf.inputs[0]
    d = node_of(view, arg, Kind.ELEMENTWISE, EW.DIV)
    if d is not None and _near(view.scalar(d.inputs[1]), math.sqrt(2.0)):
        return d.inputs[0], [op[1], erf, d]
    leaves, muls = factors(view, arg)
    rest = _split(view, leaves, 1.0 / math.sqrt(2.0))
    if rest is not None and len(rest) == 1 and len(muls) == 1:
        return rest[0], [op[1], erf] + muls
    return None


def _tanh_branch(view, t):
    """x, nodes for t = 1 + tanh(√(2/π)·(x + 0.044715·x³))."""
    op = _one_plus(view, t)
    if op is None:
        return None
    th = node_of(view, op[0], Kind.ACTIVATION)
    if th is None or th.attrs.type != AT.TANH:
        return None
    leaves, muls = factors(view, th.inputs[0])
    rest = _split(view, leaves, math.sqrt(2.0 / math.pi))
    if rest is None or len(rest) != 1:
        return None
    s = node_of(view, rest[0], Kind.ELEMENTWISE, EW.SUM)
    if s is None:
        return None
    nodes = [op[1], th] + muls + [s]
    for x, cube in (s.inputs, s.inputs[::-1]):
        leaves, cm = factors(view, cube)
        rest = _split(view, leaves, 0.044715)
        if rest is None:
            continue
        if len(rest) == 1:
            p = node_of(view, rest[0], Kind.ELEMENTWISE, EW.POW)
            if p is not None and p.inputs[0] == x and view.scalar(p.inputs[1]) == 3.0:
                return x, nodes + cm + [p]
        # x·x·x may hang off the product as three leaves, or as x · (x·x) with a shared square
        flat, sq = [], []
        for leaf in rest:
            lf, ln = factors(view, leaf) if leaf != x else ([leaf], [])
            flat += lf
            sq += ln
        if len(flat) == 3 and all(f == x for f in flat):
            return x, nodes + cm + sq
    return None


def _match(view, t_node_out, branch):
    """Climb from t to the product with x and 0.5."""
    b = branch(view, t_node_out)
    if b is None:
        return None
    x, inner = b
    readers = view.uses(t_node_out)
    if len(readers) != 1:
        return None
    top = readers[0]
    for _ in range(3):
        if top.kind != Kind.ELEMENTWISE or top.attrs.op != EW.PROD:
            return None
        leaves, muls = factors(view, top.outputs[0], stop=(t_node_out, x))
        rest = _split(view, leaves, 0.5)
        if rest is not None and sorted(rest) == sorted([x, t_node_out]):
            return x, top, muls + inner
        nxt = view.uses(top.outputs[0])
        if len(nxt) != 1 or top.outputs[0] in view.outputs:
            return None
        top = nxt[0]
    return None


def fuse_gelu(graph, ctx) -> int:
    return until_fixed_point(lambda g: sweep_fusions(g, _fusion), graph, name="fuse_gelu")


def _fusion(view, n, taken):
    if n.kind != Kind.ELEMENTWISE or n.attrs.op != EW.SUM:
        return None
    for typ, branch in ((AT.GELU_ERF, _erf_branch), (AT.GELU_TANH, _tanh_branch)):
        m = _match(view, n.outputs[0], branch)
        if m is None:
            continue
        x, top, nodes = m
        nodes = list({id(k): k for k in nodes}.values())
        if any(id(k) in taken for k in nodes) or not all(
                view.internal(o, nodes) for k in nodes if k is not top for o in k.outputs):
            continue
        return nodes, Node(top.name, Kind.ACTIVATION, [x], list(top.outputs),
                           Attrs(type=typ, alpha=0.0, beta=0.0), origin=absorbed_origin(view, *nodes[::-1]),
                           info=top.info.copy())
    return None
