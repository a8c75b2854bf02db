"""Softmax and LogSoftmax fusion.

    x ─┬─ ReduceMax(axis) ─ m ─┐                       (max subtraction optional)
       └──────────────────── Sub ─ u ─ Exp ─ e ─┬─ ReduceSum(axis) ─ s ─┐
                                                └───────────────────── Div ─ y     ==>  x ─ SoftMax(axis) ─ y
                                                            (or e * Recip(s))
    ... u ─┬─ Exp ─ e ─ ReduceSum ─ s ─ Log ─ l ─┐
           └──────────────────────────────────── Sub ─ y                          ==>  x ─ LogSoftmax(axis) ─ y
    x ─ SoftMax ─ p ─ Log ─ y                                                      ==>  x ─ LogSoftmax ─ y

Reductions must be over one axis with keep_dims; every intermediate value must be read only inside the pattern.
Subtracting the maximum does not change the result (softmax is shift invariant), so both forms fuse.
"""
from __future__ import annotations

from ..enums import ElementWiseOperation as EW, ReduceOperation as R, UnaryOperation as U
from ..ir.graph import Node
from ..ir.kinds import Kind
from ..ops.base import Attrs
from .rewrite import absorbed_origin, plain, sweep_fusions, until_fixed_point


def node_of(view, v, kind, op=None):
    n = view.producer(v, kind)
    if n is None or not plain(n) or (op is not None and n.attrs.get("op") != op):
        return None
    return n


def _single_axis_reduce(view, v, op):
    r = node_of(view, v, Kind.REDUCE, op)
    if r is None or not r.attrs.keep_dims or bin(r.attrs.axes).count("1") != 1:
        return None
    return r


def _exp_chain(view, e):
    """(x, [nodes]) for e = exp(x) or e = exp(x - reducemax(x)) with the reduce's axes returned too."""
    ex = node_of(view, e, Kind.UNARY, U.EXP)
    if ex is None:
        return None
    u = ex.inputs[0]
    sub = node_of(view, u, Kind.ELEMENTWISE, EW.SUB)
    if sub is not None:
        m = _single_axis_reduce(view, sub.inputs[1], R.MAX)
        if m is not None and m.inputs[0] == sub.inputs[0]:
            return sub.inputs[0], ex, [sub, m], m.attrs.axes, u
    return u, ex, [], None, u


def _match_softmax(view, y_node):
    if y_node.kind != Kind.ELEMENTWISE or not plain(y_node):
        return None
    if y_node.attrs.op == EW.DIV:
        e, s = y_node.inputs
        extra = []
    elif y_node.attrs.op == EW.PROD:
        for e, r in (y_node.inputs, y_node.inputs[::-1]):
            rc = node_of(view, r, Kind.UNARY, U.RECIP)
            if rc is not None:
                s, extra = rc.inputs[0], [rc]
                break
        else:
            return None
    else:
        return None
    red = _single_axis_reduce(view, s, R.SUM)
    if red is None or red.inputs[0] != e:
        return None
    chain = _exp_chain(view, e)
    if chain is None:
        return None
    x, ex, pre, max_axes, u = chain
    if max_axes is not None and max_axes != red.attrs.axes:
        return None
    nodes = [y_node, red, ex] + extra + pre
    return x, red.attrs.axes, nodes


def _match_log_softmax(view, y_node):
    if y_node.kind == Kind.UNARY and y_node.attrs.op == U.LOG and plain(y_node):
        sm = node_of(view, y_node.inputs[0], Kind.SOFTMAX)
        if sm is not None:
            rank = len(view.shape(sm.inputs[0]))
            axes = sm.attrs.axes if sm.attrs.axes is not None else 1 << max(rank - 3, 0)
            return sm.inputs[0], axes, [y_node, sm]
        return None
    if y_node.kind != Kind.ELEMENTWISE or y_node.attrs.op != EW.SUB or not plain(y_node):
        return None
    u, lv = y_node.inputs
    lg = node_of(view, lv, Kind.UNARY, U.LOG)
    if lg is None:
        return None
    red = _single_axis_reduce(view, lg.inputs[0], R.SUM)
    if red is None:
        return None
    chain = _exp_chain(view, red.inputs[0])
    if chain is None or chain[4] != u:
        return None
    x, ex, pre, max_axes, _ = chain
    if max_axes is not None and max_axes != red.attrs.axes:
        return None
    return x, red.attrs.axes, [y_node, lg, red, ex] + pre


def _internal_ok(view, nodes, x):
    """Every value produced inside the pattern (except the final one) is read only inside it."""
    for n in nodes[1:]:
        for o in n.outputs:
            if not view.internal(o, nodes):
                return False
    return all(n.outputs[0] != x for n in nodes)


def fuse_softmax(graph, ctx) -> int:
    return until_fixed_point(lambda g: sweep_fusions(g, _fusion), graph, name="fuse_softmax")


def _fusion(view, n, taken):
    for kind, match in ((Kind.SOFTMAX, _match_softmax), (Kind.LOG_SOFTMAX, _match_log_softmax)):
        m = match(view, n)
        if m is None:
            continue
        x, axes, nodes = m
        if any(id(k) in taken for k in nodes) or not _internal_ok(view, nodes, x):
            continue
        return nodes, Node(n.name, kind, [x], list(n.outputs), Attrs(axes=axes),
                           origin=absorbed_origin(view, *nodes[::-1]), info=n.info.copy())
    return None
