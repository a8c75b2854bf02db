"""Sinking reshapes below elementwise activations, so the activation can join the producer's epilogue.

    x ─ MatMul ─ m ─ Reshape ─ t ─ GELU ─ y      ==>   x ─ MatMul ─ m ─ GELU ─ t ─ Reshape ─ y

A reshape (a shuffle without transposes) that reads a matrix product or a convolution alone and is read alone by
an activation, unary or cast layer is moved below that layer: a one-input elementwise layer gives the same values
in any shape, so this is exact for every input shape. (GPT-2's Gemm + Reshape + GELU becomes a fused_matmul
with the GELU in its epilogue.)
"""
from __future__ import annotations

from .rewrite import View, plain

_PRODUCERS = ("matrix_multiply", "convolution", "deconvolution", "fused_matmul", "fused_conv")
_ONE_INPUT = ("activation", "unary", "cast")


def _is_reshape(s):
    a = s.attrs
    ident = lambda p: not p or list(p) == list(range(len(p)))  # noqa: E731
    return s.kind == "shuffle" and ident(a.first_transpose) and ident(a.second_transpose) and plain(s)


def sink_reshapes(graph, ctx) -> int:
    moved = 0
    while True:
        view = View(graph)
        before, touched = moved, set()
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
            if p.kind not in _ONE_INPUT or not plain(p) or len([i for i in p.inputs if i]) != 1 or id(p) in touched:
                continue
            t, y = s.outputs[0], p.outputs[0]
            p.inputs = [m]
            p.outputs = [t]
            s.inputs = [t] + list(s.inputs[1:])
            s.outputs = [y]
            touched |= {id(s), id(p)}
            moved += 1
        if moved == before:
            break
        graph.toposort()
    return moved
