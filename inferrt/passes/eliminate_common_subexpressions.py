"""Common-subexpression elimination.

    x ─ A(attrs) ─ y1 ─ B            x ─ A(attrs) ─ y1 ─ B
    x ─ A(attrs) ─ y2 ─ C    ==>                    └── C

Two layers of the same kind with equal attributes reading the same inputs compute the same values; the later one
is removed and its readers read the earlier one's outputs (its name joins the kept layer's origin). Constants with
equal type, shape and bytes are merged the same way. Random and data-dependent layers and layers with subgraphs
are never merged; a layer whose output is a network output is kept when its twin's output is one too.
"""
from __future__ import annotations

import hashlib

import numpy as np

from .rewrite import merge_origin, plain, redirect


def _key_of_value(v):
    if isinstance(v, np.ndarray):
        if v.nbytes > 1 << 16:  # large weights: identity only (hashing hundreds of MB costs seconds)
            return ("array-id", id(v))
        return ("array", v.dtype.str, v.shape, hashlib.sha1(np.ascontiguousarray(v).tobytes()).hexdigest())
    if isinstance(v, (list, tuple)):
        return tuple(_key_of_value(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _key_of_value(x)) for k, x in v.items()))
    if isinstance(v, float) and v != v:
        return ("nan",)
    if hasattr(v, "nodes"):  # a subgraph
        raise TypeError("subgraph")
    return (type(v).__name__, v)


def node_key(n):
    if n.op.data_dependent or "random" in n.kind or "RANDOM" in getattr(n.attrs.get("operation"), "name", ""):
        return None
    try:
        attrs = tuple(sorted((k, _key_of_value(v)) for k, v in n.attrs.items()))
    except TypeError:
        return None
    info = tuple(sorted((k, v) for k, v in n.info.items() if k != "metadata"))   # metadata is informational
    return (n.kind, attrs, tuple(n.inputs), len(n.outputs), info)


def eliminate_common_subexpressions(graph, ctx) -> int:
    removed = 0
    seen: dict = {}
    for n in list(graph.nodes):
        if not plain(n) and n.kind != "constant":
            continue
        try:
            key = node_key(n)
        except TypeError:
            key = None
        if key is None:
            continue
        first = seen.get(key)
        if first is None:
            seen[key] = n
            continue
        if any(o in graph.outputs for o in n.outputs) and any(o in graph.outputs for o in first.outputs):
            continue
        ok = True
        for o, keep in zip(n.outputs, first.outputs):
            if o in graph.outputs:
                ok = False
        if not ok:
            # n's output is a network output: keep n and drop ``first`` instead when it is not one
            for keep, o in zip(n.outputs, first.outputs):
                redirect(graph, o, keep)
            graph.nodes.remove(first)
            n.origin = merge_origin(first, n)
            seen[key] = n
        else:
            for o, keep in zip(n.outputs, first.outputs):
                redirect(graph, o, keep)
            graph.nodes.remove(n)
            first.origin = merge_origin(first, n)
        removed += 1
    if removed:
        graph.toposort()
    return removed
