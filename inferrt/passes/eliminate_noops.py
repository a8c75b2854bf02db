"""No-op elimination.

    x ─ Identity ─ y ─ B        ==>    x ─ B
    x ─ Cast(to x's type) ─ y   ==>    x
    x ─ Shuffle(reshape to x's own shape, identity transposes) ─ y   ==>   x
    x ─ ElementWise(x * 1, x + 0, 1 * x, 0 + x, x - 0, x / 1, x ^ 1) ─ y  ==>  x
        (the constant is exactly 1 / 0 everywhere and broadcasting it does not change x's shape)
    x ─ Slice(start 0, full static shape, stride 1) ─ y   ==>  x
    x ─ Concatenation(x alone) ─ y   ==>  x

The removed layer's name joins the origin of the layer producing x (or, for an input or a constant, of the
layers reading y), so the inspector still shows it. When y is a network output and x a network input, the layer
stays (an engine output needs a producer).
"""
from __future__ import annotations

import numpy as np

from ..enums import ElementWiseOperation as EW, SampleMode
from ..ir.kinds import Kind
from .rewrite import View, merge_origin, plain, redirect, until_fixed_point

_NEUTRAL = {EW.SUM: (0.0, True), EW.SUB: (0.0, False), EW.PROD: (1.0, True), EW.DIV: (1.0, False),
            EW.POW: (1.0, False)}


def _identity_perm(p):
    return not p or list(p) == list(range(len(p)))


def reshape_is_noop(in_shape, dims, zero_is_placeholder=True) -> bool:
    """Reshaping ``in_shape`` (may hold -1) by ``dims`` gives the same shape for every concrete input shape."""
    if in_shape is None or len(dims) != len(in_shape):
        return False
    inferred = 0
    for d, s in zip(dims, in_shape):
        if d == 0 and zero_is_placeholder:
            continue
        if d == -1:
            inferred += 1
            continue
        if d != s or s < 0:
            return False
    return inferred <= 1


def noop_input(view: View, n) -> str | None:
    """The input that ``n`` passes through unchanged, or None."""
    if n.kind == Kind.IDENTITY:
        return n.inputs[0]
    if n.kind == Kind.CAST:
        return n.inputs[0] if view.spec(n.inputs[0]).dtype == n.attrs.to_type else None
    if n.kind == Kind.SHUFFLE:
        a = n.attrs
        if len([i for i in n.inputs if i]) != 1 or not _identity_perm(a.first_transpose) or \
                not _identity_perm(a.second_transpose):
            return None
        if a.reshape_dims is not None and not reshape_is_noop(view.shape(n.inputs[0]), a.reshape_dims,
                                                              a.zero_is_placeholder):
            return None
        return n.inputs[0]
    if n.kind == Kind.CONCATENATION:
        return n.inputs[0] if len(n.inputs) == 1 else None
    if n.kind == Kind.SLICE:
        a = n.attrs
        shape = view.shape(n.inputs[0])
        if len([i for i in n.inputs if i]) != 1 or shape is None or a.axes or a.mode != SampleMode.STRICT_BOUNDS:
            return None
        full = tuple(a.shape) == tuple(shape) and all(d >= 0 for d in shape)
        if full and all(s == 0 for s in a.start) and all(s == 1 for s in (a.stride or (1,) * len(shape))):
            return n.inputs[0]
        return None
    if n.kind == Kind.ELEMENTWISE and n.attrs.op in _NEUTRAL:
        value, commutes = _NEUTRAL[n.attrs.op]
        for ci, xi in ((1, 0), (0, 1)) if commutes else ((1, 0),):
            c = view.const(n.inputs[ci])
            x = n.inputs[xi]
            xs = view.shape(x)
            if c is None or xs is None or c.dtype.kind not in "fiu" or not np.all(c == value):
                continue
            if id(view.prod[n.inputs[ci]].attrs.weights) in getattr(view.g, "refit_weights", ()):
                continue   # a refittable weight (refit/record.py) is 1 or 0 now, not after a refit
            if view.spec(x).dtype != view.spec(n.outputs[0]).dtype or len(c.shape) > len(xs):
                continue
            cs = (1,) * (len(xs) - c.ndim) + tuple(c.shape)
            if all(d == 1 or (d == s and s >= 0) for d, s in zip(cs, xs)):
                return x
    return None


def eliminate_noops(graph, ctx) -> int:
    return until_fixed_point(_sweep, graph, name="eliminate_noops")


def _sweep(graph) -> int:
    view = View(graph)
    touched: set[str] = set()
    removed = 0
    for n in list(graph.nodes):
        if n.kind == Kind.CONSTANT or len(n.outputs) != 1 or not plain(n) or touched & set(n.inputs + n.outputs):
            continue
        x = noop_input(view, n)
        if x is None:
            continue
        y = n.outputs[0]
        readers = view.uses(y)
        if not redirect(graph, y, x):
            continue
        graph.nodes.remove(n)
        src = view.producer(x)
        for t in [src] if src is not None else readers:
            t.origin = merge_origin(t, n)
        touched |= {x, y}
        removed += 1
    return removed
