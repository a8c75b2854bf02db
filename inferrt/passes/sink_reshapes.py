"""Sinking reshapes below elementwise layers, so the layer can join the producer's epilogue.

    x ─ MatMul ─ m ─ Reshape ─ t ─ GELU ─ y      ==>   x ─ MatMul ─ m ─ GELU ─ t ─ Reshape ─ y
    x ─ MatMul ─ m ─ Reshape ─ t ─ Add ─ y       ==>   x ─ MatMul ─ m ─ Add ─ t ─ Reshape ─ y
                        r (shape of t) ─┘                   r ─ Reshape ─┘   (a view of r)

A reshape (a shuffle without transposes) that reads a matrix product or a convolution alone and is read alone by
an activation, unary or cast layer is moved below that layer: a one-input elementwise layer gives the same values
in any shape, so this is exact for every input shape. (GPT-2's Gemm + Reshape + GELU becomes a fused_matmul
with the GELU in its epilogue.) A two-input elementwise layer whose other operand has exactly the reshape's
(static) output shape, without broadcasting, takes that operand reshaped to the product's shape instead, so a
residual add after a flattened Gemm joins its epilogue too.
"""
from __future__ import annotations

from ..ir.graph import Node
from ..ir.kinds import Kind
from ..ops import get_op
from .rewrite import View, plain, same_shape, until_fixed_point

_PRODUCERS = (Kind.MATRIX_MULTIPLY, Kind.CONVOLUTION, Kind.DECONVOLUTION, Kind.FUSED_MATMUL, Kind.FUSED_CONV)
_ONE_INPUT = (Kind.ACTIVATION, Kind.UNARY, Kind.CAST)


def _is_reshape(s):
    a = s.attrs
    ident = lambda p: not p or list(p) == list(range(len(p)))  # noqa: E731
    return s.kind == Kind.SHUFFLE and ident(a.first_transpose) and ident(a.second_transpose) and plain(s)


def sink_reshapes(graph, ctx) -> int:
    return until_fixed_point(_sweep, graph, name="sink_reshapes")


def _sweep(graph) -> int:
    view = View(graph)
    moved, touched = 0, set()
    for s in list(graph.nodes):
        if not _is_reshape(s) or id(s) in touched:
            continue
        m = s.inputs[0]
        src = view.producer(m, *_PRODUCERS)
        readers = view.uses(s.outputs[0])
        if src is None or not view.only_use(m, s) or len(readers) != 1 or \
                not view.only_use(s.outputs[0], readers[0]):
            continue
        p = readers[0]
        if id(p) in touched or not plain(p):
            continue
        t, y = s.outputs[0], p.outputs[0]
        if p.kind == Kind.ELEMENTWISE and len(p.inputs) == 2 and p.inputs.count(t) == 1:
            other = _reshaped_operand(graph, view, p, t, m)
            if other is None:
                continue
            p.inputs = [m if i == t else other for i in p.inputs]
        elif p.kind not in _ONE_INPUT or len([i for i in p.inputs if i]) != 1:
            continue
        else:
            p.inputs = [m]
        p.outputs = [t]
        s.inputs = [t] + list(s.inputs[1:])
        s.outputs = [y]
        touched |= {id(s), id(p)}
        moved += 1
    if moved:
        graph.toposort()
    return moved


def _reshaped_operand(graph, view, p, t, m):
    """The other operand of ``p``, reshaped (a new shuffle) from t's shape to m's; None when shapes differ."""
    (r,) = [i for i in p.inputs if i != t]
    if not r or not same_shape(view.shape(r), view.shape(t)) or not same_shape(view.shape(m), view.shape(m)):
        return None
    attrs = get_op(Kind.SHUFFLE).default_attrs()
    attrs.update(reshape_dims=tuple(view.shape(m)), zero_is_placeholder=False)
    out = f"{r} [as {p.name} operand]"
    graph.nodes.append(Node(f"{p.name} [operand reshape]", Kind.SHUFFLE, [r], [out], attrs, origin=list(p.origin)))
    return out
