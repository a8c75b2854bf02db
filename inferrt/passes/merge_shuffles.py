"""Shuffle merging.

    x ─ Shuffle(T1, R1, T2) ─ t ─ Shuffle(T3, R2, T4) ─ y   ==>   x ─ Shuffle(T, R, T') ─ y
    x ─ Shuffle(perm p) ─ t ─ Shuffle(perm p⁻¹) ─ y          ==>   x ─ y      (transposes that cancel)

Each shuffle is a sequence transpose / reshape / transpose. The two sequences are concatenated, adjacent
transposes are composed, adjacent reshapes are merged (the second one's 0-placeholders are resolved against the
intermediate shape, kept as placeholders only when they copy a dimension of x) and identity transposes dropped.
When what remains fits one shuffle (at most one reshape), it replaces both; when nothing remains, both go.
Only when t feeds the second shuffle alone, and neither shuffle takes its reshape dims as a tensor.
"""
from __future__ import annotations

from ..ir.graph import Node
from ..ops.base import Attrs
from .eliminate_noops import reshape_is_noop
from .rewrite import View, merge_origin, plain, redirect, replace


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


def merge_shuffles(graph, ctx) -> int:
    merged = 0
    while True:
        view = View(graph)
        done = set()
        before = merged
        for s2 in list(graph.nodes):
            if s2.kind != "shuffle" or len([i for i in s2.inputs if i]) != 1 or not plain(s2) or id(s2) in done:
                continue
            t = s2.inputs[0]
            s1 = view.producer(t, "shuffle")
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
                new = Node(s2.name, "shuffle", [x], [y], _attrs(ops), origin=merge_origin(s1, s2), info=dict(s2.info))
                replace(graph, [s1, s2], [new])
                done.add(id(new))
            done |= {id(s1), id(s2)}
            merged += 1
        if merged == before:
            return merged
