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

from ..ir.kinds import Kind
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
    if n.op.data_dependent or n.kind == Kind.RANDOM or "RANDOM" in getattr(n.attrs.get("operation"), "name", ""):
        return None
    try:
        attrs = tuple(sorted((k, _key_of_value(v)) for k, v in n.attrs.items()))
    except TypeError:
        return None
    info = tuple(sorted((k, v) for k, v in n.info.to_json().items() if k != "metadata"))   # metadata is informational
    return (n.kind, attrs, tuple(n.inputs), len(n.outputs), info)


def eliminate_common_subexpressions(graph, ctx) -> int:
    """One walk in topological order; readers are redirected and removed layers dropped once at the end (a
    redirect per removed layer would rescan the graph each time: minutes on a model of several thousand layers)."""
    removed = 0
    seen: dict = {}
    rename: dict[str, str] = {}     # a removed layer's output -> the kept twin's output
    dropped: set[int] = set()

    origin_sets: dict[int, set] = {}

    def resolve(v: str) -> str:
        while v in rename:
            v = rename[v]
        return v

    def absorb(keep, gone) -> None:
        """merge_origin(keep, gone) into keep.origin, with a set per kept layer: a constant that thousands of
        twins merge into would otherwise rebuild its growing origin list each time"""
        names = origin_sets.get(id(keep))
        if names is None:
            keep.origin = list(keep.origin) or [keep.name]
            names = origin_sets[id(keep)] = set(keep.origin)
        for x in gone.origin or [gone.name]:
            if x not in names:
                names.add(x)
                keep.origin.append(x)

    for n in graph.nodes:
        if rename:   # readers see the kept twins' outputs, so their own twins share a key
            n.inputs = [resolve(i) if i else i for i in n.inputs]
        if not plain(n) and n.kind != Kind.CONSTANT:
            continue
        try:   # refittable weights (refit/record.py) are never merged: a refit may make twins differ
            key = None if id(n.attrs.get("weights")) in getattr(graph, "refit_weights", ()) else node_key(n)
        except TypeError:
            key = None
        if key is None:
            continue
        first = seen.get(key)
        if first is None:
            seen[key] = n
            continue
        if any(o in graph.outputs for o in n.outputs):
            if any(o in graph.outputs for o in first.outputs):
                continue
            # n's output is a network output: keep n and drop ``first`` instead (its outputs are not ones)
            rename.update(zip(first.outputs, n.outputs))
            dropped.add(id(first))
            n.origin = merge_origin(first, n)
            seen[key] = n
        else:
            rename.update(zip(n.outputs, first.outputs))
            dropped.add(id(n))
            absorb(first, n)
        removed += 1
    if removed:
        graph.nodes = [n for n in graph.nodes if id(n) not in dropped]
        for n in graph.nodes:   # layers before a dropped ``first`` read its outputs too
            n.inputs = [resolve(i) if i else i for i in n.inputs]
        graph.toposort()
    return removed
