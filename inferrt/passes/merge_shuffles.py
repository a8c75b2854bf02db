"""Shuffle merging.

    x ─ Shuffle(T1, R1, T2) ─ t ─ Shuffle(T3, R2, T4) ─ y   ==>   x ─ Shuffle(T, R, T') ─ y
    x ─ Shuffle(perm p) ─ t ─ Shuffle(perm p⁻¹) ─ y          ==>   x ─ y      (transposes that cancel)

Each shuffle is a sequence transpose / reshape / transpose. The two sequences are concatenated, adjacent
transposes are composed, adjacent reshapes are merged (the second one's 0-placeholders are resolved against the
intermediate shape, kept as placeholders only when they copy a dimension of x) and identity transposes dropped.
When what remains fits one shuffle (at most one reshape), it replaces both; when nothing remains, both go.
Only when t feeds the second shuffle alone. Reshape dims given as a constant tensor become the attribute first.

    x(197, B, 768) ─ Reshape(197, 12B, 64) ─ Transpose(1, 0, 2) ─ t(12B, 197, 64)
        ==>  x ─ Shuffle(reshape (197, B, 12, 64), transpose (1, 2, 0, 3)) ─ Reshape(12B, 197, 64) ─ t

A reshape that merges dimensions before a transpose (a head split after a fused Q/K/V projection) forces a copy
when x is strided. With static shapes it is rewritten to split x's dimensions to the finest common factorization
first (always a view), permute that, and reshape last; the final reshape then often merges with the next one or
disappears, so the whole chain becomes a view of x.
"""
from __future__ import annotations

from ..ir.graph import Node
from ..ir.kinds import Kind
from ..ops.base import Attrs
from .eliminate_noops import reshape_is_noop
from .rewrite import View, merge_origin, plain, redirect, replace, until_fixed_point


def _ops(a):
    ops = []
    if a.first_transpose and list(a.first_transpose) != list(range(len(a.first_transpose))):
        ops.append(["T", list(a.first_transpose)])
    if a.reshape_dims is not None:
        ops.append(["R", list(a.reshape_dims), a.zero_is_placeholder])
    if a.second_transpose and list(a.second_transpose) != list(range(len(a.second_transpose))):
        ops.append(["T", list(a.second_transpose)])
    return ops


def _merge(ops1, ops2, mid_shape):
    """Merged op list, or None when two reshapes cannot be merged."""
    ops = list(ops1)
    for i, op in enumerate(ops2):
        if ops and ops[-1][0] == "T" and op[0] == "T":
            p, q = ops[-1][1], op[1]
            ops[-1] = ["T", [p[j] for j in q]]
            if ops[-1][1] == list(range(len(q))):
                ops.pop()
        elif ops and ops[-1][0] == "R" and op[0] == "R":
            if i != 0 or ops1[-1][0] != "R":
                return None
            _, d1, z1 = ops[-1]
            _, d2, z2 = op
            dims, zero = [], False
            for j, d in enumerate(d2):
                if d == 0 and z2:
                    if j < len(mid_shape) and mid_shape[j] >= 0:
                        dims.append(mid_shape[j])
                    elif j < len(d1) and d1[j] == 0 and z1:
                        dims.append(0)
                        zero = True
                    else:
                        return None
                else:
                    dims.append(d)
            if zero and any(d == 0 for d, dd in zip(dims, d2) if not z2 and dd == 0):
                return None
            ops[-1] = ["R", dims, zero or not any(d == 0 for d in dims)]
        else:
            ops.append(op)
    return ops


def _fits(ops):
    kinds = "".join(o[0] for o in ops)
    return kinds in ("", "T", "R", "TR", "RT", "TRT")


def _attrs(ops):
    a = Attrs(first_transpose=(), reshape_dims=None, second_transpose=(), zero_is_placeholder=True)
    seen_r = False
    for op in ops:
        if op[0] == "R":
            a["reshape_dims"] = tuple(op[1])
            a["zero_is_placeholder"] = bool(op[2])
            seen_r = True
        elif seen_r or (a["first_transpose"] and not seen_r):
            a["second_transpose"] = tuple(op[1])
        else:
            a["first_transpose"] = tuple(op[1])
    return a


def _dims_attr(graph, view) -> int:
    """Shuffles whose reshape dims come from a constant take them as the attribute instead."""
    n_changed = 0
    for n in graph.nodes:
        if n.kind != Kind.SHUFFLE or len(n.inputs) < 2 or not n.inputs[1]:
            continue
        dims = view.const(n.inputs[1])
        if dims is None or dims.ndim != 1:
            continue
        n.attrs["reshape_dims"] = tuple(int(d) for d in dims)
        n.inputs = [n.inputs[0]]
        n_changed += 1
    return n_changed


def _refinement(a, b):
    """The finest shape both ``a`` and ``b`` coarsen (each of their dims a product of consecutive ones), with, for
    each dim of ``b``, the indices of its group; None when there is none, or a dim is unknown, zero, or (in ``b``)
    one."""
    if any(d <= 0 for d in a) or any(d <= 0 for d in b):
        return None
    cuts = set()
    for shape in (a, b):
        p = 1
        for d in shape:
            p *= d
            cuts.add(p)
    cuts = sorted(cuts)
    if cuts and (cuts[-1] != _prod(a) or _prod(a) != _prod(b)):
        return None
    fine, prev = [], 1
    for c in cuts:
        if c % prev:
            return None
        fine.append(c // prev)
        prev = c
    groups, i, p = [], 0, 1
    for d in b:
        g, acc = [], 1
        while acc < d or (d == 1 and not g):
            if i >= len(fine):
                return None
            acc *= fine[i]
            g.append(i)
            i += 1
        if acc != d:
            return None
        groups.append(g)
    return (fine, groups) if i == len(fine) else None


def _prod(shape):
    p = 1
    for d in shape:
        p *= d
    return p


def _refine_head_splits(graph, view) -> int:
    """The second rewrite of the docstring; returns how many chains it changed."""
    changed = 0
    for s2 in list(graph.nodes):
        if s2.kind != Kind.SHUFFLE or len([i for i in s2.inputs if i]) != 1 or not plain(s2):
            continue
        ops2 = _ops(s2.attrs)
        s1 = view.producer(s2.inputs[0], Kind.SHUFFLE)
        if len(ops2) != 1 or ops2[0][0] != "T" or s1 is None or not plain(s1) or \
                len([i for i in s1.inputs if i]) != 1 or not view.only_use(s2.inputs[0], s2):
            continue
        ops1 = _ops(s1.attrs)
        x = s1.inputs[0]
        x_shape, mid = view.shape(x), view.shape(s2.inputs[0])
        if len(ops1) != 1 or ops1[0][0] != "R" or x_shape is None or mid is None:
            continue
        ref = _refinement(tuple(x_shape), tuple(mid))
        if ref is None or len(ref[0]) == len(mid):
            continue  # no finer factorization: nothing to gain
        fine, groups = ref
        perm = ops2[0][1]
        fine_perm = [k for j in perm for k in groups[j]]
        a = Attrs(first_transpose=(), reshape_dims=tuple(fine), second_transpose=tuple(fine_perm),
                  zero_is_placeholder=False)
        b = Attrs(first_transpose=(), reshape_dims=tuple(mid[j] for j in perm), second_transpose=(),
                  zero_is_placeholder=False)
        t = f"{s1.outputs[0]} [fine]"
        first = Node(s1.name, Kind.SHUFFLE, [x], [t], a, origin=merge_origin(s1, s2), info=s1.info.copy())
        last = Node(s2.name, Kind.SHUFFLE, [t], list(s2.outputs), b, origin=merge_origin(s1, s2), info=s2.info.copy())
        replace(graph, [s1, s2], [first, last])
        changed += 1
    return changed


def merge_shuffles(graph, ctx) -> int:
    merged = _dims_attr(graph, View(graph))
    if merged:
        graph.infer()
    merged += _refine_head_splits(graph, View(graph))
    return merged + until_fixed_point(_merge_pairs, graph, name="merge_shuffles")


def _merge_pairs(graph) -> int:
    """One sweep merging each shuffle into the shuffle it reads (when that one has no other reader)."""
    view = View(graph)
    done = set()
    merged = 0
    for s2 in list(graph.nodes):
        if s2.kind != Kind.SHUFFLE or len([i for i in s2.inputs if i]) != 1 or not plain(s2) or id(s2) in done:
            continue
        t = s2.inputs[0]
        s1 = view.producer(t, Kind.SHUFFLE)
        if s1 is None or id(s1) in done or len([i for i in s1.inputs if i]) != 1 or not plain(s1) \
                or not view.only_use(t, s2):
            continue
        ops = _merge(_ops(s1.attrs), _ops(s2.attrs), view.shape(t) or ())
        if ops is None or not _fits(ops):
            continue
        x, y = s1.inputs[0], s2.outputs[0]
        if not ops or (len(ops) == 1 and ops[0][0] == "R" and reshape_is_noop(view.shape(x), ops[0][1], ops[0][2])):
            if not redirect(graph, y, x):
                continue
            graph.nodes.remove(s1)
            graph.nodes.remove(s2)
            src = view.producer(x)
            for r in [src] if src is not None else view.uses(y):
                r.origin = merge_origin(r, s1, s2)
        else:
            new = Node(s2.name, Kind.SHUFFLE, [x], [y], _attrs(ops), origin=merge_origin(s1, s2), info=s2.info.copy())
            replace(graph, [s1, s2], [new])
            done.add(id(new))
        done |= {id(s1), id(s2)}
        merged += 1
    return merged
