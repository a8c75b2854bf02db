"""Concatenation elimination.

    x ─┬─ Slice(0:a) ─┐
       └─ Slice(a:n) ─┴─ Concat ─ y              ==>   x ─ y        (slices that tile x back in order)
    x ─ Slice(0:a), Slice(a:n), z ─ Concat ─ y   ==>   x, z ─ Concat ─ y   (a run of them among other inputs)
    p ─ Concat(q, r) ─ t ─ Concat(t, s) ─ y      ==>   p, q, r, s ─ Concat ─ y   (same axis, t read once)
    A ─ a ─┐
    B ─ b ─┴─ Concat ─ y                         ==>   recorded: A writes y[..., 0:|a|], B writes y[..., |a|:]

The first two are graph rewrites. For the rest, copying into the concatenation output is removable only by the
memory planner, so this pass records the decision instead of rewriting: when an input is produced by a layer,
read by the concatenation alone, is not a network input or output, and its offset along the axis is known for
every shape (the sizes of the inputs before it are static), the producer gets ``info.writes_into =
{"tensor": y, "axis": axis, "offset": offset}`` and the concatenation ``info.aliased_inputs`` (the indices;
floating-point activations only, not shape arithmetic);
when all inputs are aliased it gets ``info.elided = True``. An executor that binds each such producer's
output slot to a view of y's slot can then skip the copy; one that ignores the record still runs correctly,
since the concatenation layer itself is kept.
"""
from __future__ import annotations

from ..dtypes import FLOAT_TYPES as _FLOATS
from ..ir.graph import Node
from ..ir.kinds import Kind
from ..ops.base import Attrs, norm_axis
from .rewrite import View, merge_origin, plain, redirect, replace, until_fixed_point


def _axis(n, rank):
    a = n.attrs.axis if n.attrs.axis is not None else max(rank - 3, 0)
    return norm_axis(a, rank)


def _slice_range(view, n, v, ax):
    """(source, start, stop) when v is a unit-stride slice of one tensor along ``ax`` alone, read only by n."""
    s = view.producer(v, Kind.SLICE)
    if s is None or len([i for i in s.inputs if i]) != 1 or not view.only_use(v, n) or not plain(s):
        return None
    x = s.inputs[0]
    shape = view.shape(x)
    if shape is None or shape[ax] < 0:
        return None
    a = s.attrs
    rank = len(shape)
    axes = [norm_axis(i, rank) for i in a.axes] if a.axes else list(range(rank))
    stride = a.stride or (1,) * len(axes)
    rng = None
    for i, st, sz, sd in zip(axes, a.start, a.shape, stride):
        if i == ax:
            if sd != 1 or st < 0:
                return None
            rng = (st, st + sz)
        elif not (st == 0 and sd == 1 and sz == shape[i] and sz >= 0):
            return None
    return None if rng is None else (x, rng[0], rng[1], s)


def _untile(view, n, ax):
    """New inputs of n where each run of consecutive slices tiling a whole tensor is that tensor, and the slices
    removed; None when there is no such run."""
    ins, gone, i = [], [], 0
    while i < len(n.inputs):
        r = _slice_range(view, n, n.inputs[i], ax)
        if r is not None and r[1] == 0:
            src, pos, j, run = r[0], r[2], i + 1, [r[3]]
            while pos < view.shape(src)[ax] and j < len(n.inputs):
                nxt = _slice_range(view, n, n.inputs[j], ax)
                if nxt is None or nxt[0] != src or nxt[1] != pos:
                    break
                pos, j = nxt[2], j + 1
                run.append(nxt[3])
            if pos == view.shape(src)[ax] and len(run) > 1:
                ins.append(src)
                gone += run
                i = j
                continue
        ins.append(n.inputs[i])
        i += 1
    return (ins, gone) if gone else None


def eliminate_concat(graph, ctx) -> int:
    return until_fixed_point(_rewrite_one, graph, name="eliminate_concat") + record_concat_aliases(graph)


def _rewrite_one(graph) -> int:
    """Untile or flatten the first concatenation that allows it (1), or find none (0): each edit reorders the
    graph, so a sweep stops after one."""
    view = View(graph)
    for n in graph.nodes:
        if n.kind != Kind.CONCATENATION or not plain(n):
            continue
        rank = len(view.shape(n.outputs[0]) or ())
        if not rank:
            continue
        ax = _axis(n, rank)
        untiled = _untile(view, n, ax)
        if untiled is not None:
            ins, slices = untiled
            if len(ins) == 1:
                if not redirect(graph, n.outputs[0], ins[0]):
                    continue
                keep = view.producer(ins[0])
                for r in [keep] if keep is not None else view.uses(n.outputs[0]):
                    r.origin = merge_origin(r, *slices, n)
                replace(graph, [n] + slices, [])
            else:
                new = Node(n.name, Kind.CONCATENATION, ins, list(n.outputs), Attrs(axis=ax),
                           origin=merge_origin(n, *slices), info=n.info.copy())
                replace(graph, [n] + slices, [new])
            return 1
        flat, absorbed = [], []
        for v in n.inputs:
            inner = view.producer(v, Kind.CONCATENATION)
            if inner is not None and plain(inner) and view.only_use(v, n) and \
                    _axis(inner, rank) == ax:
                flat += inner.inputs
                absorbed.append(inner)
            else:
                flat.append(v)
        if absorbed:
            new = Node(n.name, Kind.CONCATENATION, flat, list(n.outputs), Attrs(axis=ax),
                       origin=merge_origin(*absorbed, n), info=n.info.copy())
            replace(graph, [n] + absorbed, [new])
            return 1
    return 0


def record_concat_aliases(graph) -> int:
    view = View(graph)
    recorded = 0
    for n in graph.nodes:
        if n.kind != Kind.CONCATENATION:
            continue
        y = n.outputs[0]
        rank = len(view.shape(y) or ())
        if not rank or view.spec(y).dtype not in _FLOATS:   # shape arithmetic is not worth a record
            continue
        ax = _axis(n, rank)
        offset, aliased = 0, []
        for i, v in enumerate(n.inputs):
            p = view.producer(v)
            ok = (offset >= 0 and p is not None and p.kind != Kind.CONSTANT and len(p.outputs) == 1
                  and view.only_use(v, n) and n.inputs.count(v) == 1 and v not in graph.inputs)
            if ok:
                p.info.writes_into = {"tensor": y, "axis": ax, "offset": offset}
                aliased.append(i)
            size = view.shape(v)[ax]
            offset = offset + size if offset >= 0 and size >= 0 else -1
        if aliased and n.info.aliased_inputs != aliased:
            n.info.aliased_inputs = aliased
            n.info.elided = len(aliased) == len(n.inputs)
            recorded += 1
    return recorded
