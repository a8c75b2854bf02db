"""Constant folding (shape computations included).

    const ─┐                                   
           ├─ A ─ t ─ B ─ y     ==>    const(y) ─ ...          (every input of A and B is constant)
    const ─┘                          
    x(static shape) ─ Shape ─ Gather ─ Reshape-dims  ==>  const
    x(N, 12, S, 64) ─ Shape ─ Slice[-1:] ─ Cast ─ Sqrt  ==>  const(8.0)     (only static dims selected)

A layer whose inputs are all constants (or whose output value is known from shape inference, such as the shape of
a statically shaped tensor) is evaluated once at build time with its op's generic implementation on the CPU and
replaced by a constant. Network outputs keep their names (the constant produces them). Size cap: an output larger
than ``SMALL`` elements is folded only when every constant it reads is read by nothing else (so a big weight is
transformed, never duplicated), and never beyond ``CAP`` elements. Data-dependent and random layers are kept,
and so are quantized weights: a dequantize layer of a low-bit constant whose output reaches product weights through
shape movers only (``qdq_patterns.feeds_product_weight``) stays, for ``fuse_qdq`` to run the product on the
quantized values.
"""
from __future__ import annotations

import numpy as np

from ..ir.kinds import Kind
from ..logger import Severity
from ..ops.base import evaluate
from .qdq_patterns import constant_dequantize, feeds_product_weight
from .rewrite import View, const_node, merge_origin, refresh_specs, replace

SMALL = 1 << 16
CAP = 1 << 24
#: kinds never folded (their value must be produced at run time)
KEEP = {Kind.CONSTANT, Kind.ASSERTION}   # random kinds: see _random


def _random(n) -> bool:
    op = n.attrs.get("operation")
    return "RANDOM" in getattr(op, "name", "") or n.kind == Kind.RANDOM


def _static_part_of_shape(view, n, values):
    """The value of a Slice or Gather of a Shape that picks only static dimensions (the others dynamic), for
    example the head size in ``Shape(q)[-1]`` under a dynamic batch; None otherwise."""
    if n.kind not in (Kind.SLICE, Kind.GATHER) or not n.inputs or n.inputs[0] not in view.prod:
        return None
    src = view.prod[n.inputs[0]]
    if src.kind != Kind.SHAPE or any(i and values.get(i) is None for i in n.inputs[1:]):
        return None
    dims = view.specs[src.inputs[0]].shape
    if dims is None:
        return None
    partial = np.array(dims, dtype=np.int64)  # -1 marks a dynamic dimension: no real size is negative
    try:
        outs = evaluate(n.op, n.attrs, [partial] + [values.get(i) if i else None for i in n.inputs[1:]],
                        [view.specs[o] for o in n.outputs])
    except Exception:  # noqa: BLE001 - not foldable this way
        return None
    if outs is None or any(o is None or np.any(np.asarray(o) < 0) for o in outs):
        return None
    return outs


def fold_constants(graph, ctx) -> int:
    """Fold until nothing changes: a folded shape makes the shapes after it known, which can fold more."""
    total = 0
    for _ in range(8):
        n = _fold_once(graph, ctx)
        total += n
        if not n:
            break
        refresh_specs(graph)
    return total


def _fold_once(graph, ctx) -> int:
    folded = 0
    view = View(graph)
    values: dict[str, np.ndarray] = {}
    new_nodes, gone = [], []
    origin_of: dict[str, list[str]] = {}
    taken = graph.taken_names()
    quantized: set[str] = set()   # quantized weights kept, and their shuffles
    for n in graph.nodes:
        if n.kind == Kind.CONSTANT:
            values[n.outputs[0]] = view.const(n.outputs[0])
            continue
        if n.kind == Kind.DEQUANTIZE and constant_dequantize(view, n.outputs[0]) is not None and \
                feeds_product_weight(view, n.outputs[0]) or n.kind == Kind.SHUFFLE and n.inputs[0] in quantized:
            quantized.add(n.outputs[0])
            continue   # a quantized weight (or a shuffle of one): fuse_qdq reads the low-bit values
        if n.kind in KEEP or _random(n) or n.op.data_dependent or any(v in graph.inputs for v in n.inputs):
            # inputs may still fold through known values (shape of a static input)
            known = [view.specs[o].value for o in n.outputs]
            if n.kind in KEEP or _random(n) or n.op.data_dependent or any(k is None for k in known):
                continue
            outs = [np.asarray(k) for k in known]
        else:
            ins = [values.get(i) if i else None for i in n.inputs]
            if any(i and values.get(i) is None for i in n.inputs):
                known = [view.specs[o].value for o in n.outputs]
                if any(k is None for k in known):
                    known = _static_part_of_shape(view, n, values)
                    if known is None:
                        continue
                outs = [np.asarray(k) for k in known]
            else:
                specs = [view.specs[o] for o in n.outputs]
                if not all(s.static for s in specs):
                    continue
                size = max(int(np.prod(s.shape)) for s in specs)
                if size > CAP or (size > SMALL and not all(view.only_use(i, n) for i in n.inputs if i)):
                    continue
                try:
                    outs = evaluate(n.op, n.attrs, ins, specs)
                except Exception as e:  # noqa: BLE001 - a layer that cannot run on host values stays a layer
                    ctx.log(Severity.VERBOSE, f"fold_constants: cannot evaluate {n.name!r} ({n.kind}): {e}")
                    continue
                if outs is None or any(o is None for o in outs):
                    continue
        if len(outs) != len(n.outputs):
            continue
        gone.append(n)
        origin = merge_origin(n)
        seen = set(origin)
        for i in n.inputs:
            src = origin_of.get(i) or (view.prod[i].origin if i in view.prod else [])
            for x in src:
                if x not in seen:
                    seen.add(x)
                    origin.append(x)
        for o, arr in zip(n.outputs, outs):
            arr = np.asarray(arr)
            origin_of[o] = origin
            c = const_node(graph, f"{n.name} [folded]", arr, origin, taken)
            c.outputs = [o]
            graph.specs.pop(c.name, None)
            new_nodes.append(c)
            values[o] = arr
        folded += 1
    if folded:
        # constants take the place of the folded layers; constants nothing reads any more are left to
        # eliminate_dead_layers (their names live on in the folded constants' origin)
        replace(graph, gone, new_nodes)
    return folded
