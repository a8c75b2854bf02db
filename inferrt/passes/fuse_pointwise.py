"""Pointwise fusion: connected elementwise / unary / activation / cast / parametric ReLU / uniform Scale layers
become one ``pointwise`` layer running a small expression program (see ``ops/pointwise.py``).

    x ─ Add(b) ─ Sigmoid ─┐
    x ────────────────── Mul ─ Cast(HALF) ─ y      ==>   x, b ─ Pointwise([input 0, input 1, binary SUM,
                                                                 act SIGMOID, binary PROD, cast HALF]) ─ y

A layer joins the group of its readers when every reader of its output is in that one group and its output is
not a network output; so only the group's last layer is read from outside and the fused layer cannot create a
cycle. Scalar constants are inlined into the program; other constants stay inputs. Pure integer layers (shape
arithmetic) and layers with precision pins are left alone. Groups of one layer are not rewritten.
"""
from __future__ import annotations

from ..enums import DataType, ScaleMode
from ..ir.graph import Node
from ..ops.base import Attrs
from .rewrite import View, absorbed_origin, plain, replace

KINDS = ("elementwise", "unary", "activation", "cast", "identity", "parametric_relu", "scale")
_FLOATS = (DataType.FLOAT, DataType.HALF, DataType.BF16)


def _num(v):
    v = float(v) if not isinstance(v, (bool, int)) else v
    return v if not isinstance(v, float) or v == v and abs(v) != float("inf") else repr(v)


def candidate(view, n) -> bool:
    if n.kind not in KINDS or len(n.outputs) != 1 or not plain(n):
        return False
    if n.kind == "scale":
        if n.attrs.mode != ScaleMode.UNIFORM or view.spec(n.inputs[0]).dtype != DataType.FLOAT:
            return False
        if any(i and view.scalar(i) is None for i in n.inputs[1:]):
            return False
    dts = [view.spec(v).dtype for v in n.inputs + n.outputs if v]
    return any(d in _FLOATS for d in dts)


class _Program:
    def __init__(self, view):
        self.view = view
        self.code: list = []
        self.reg: dict[str, int] = {}
        self.inputs: list[str] = []

    def emit(self, ins) -> int:
        self.code.append(ins)
        return len(self.code) - 1

    def value(self, v) -> int:
        if v in self.reg:
            return self.reg[v]
        c = self.view.const(v)
        if c is not None and c.size == 1 and c.dtype.kind in "fiub":
            val = c.reshape(()).item()
            r = self.emit(["scalar", _num(val), self.view.spec(v).dtype.name])
        else:
            self.inputs.append(v)
            r = self.emit(["input", len(self.inputs) - 1])
        self.reg[v] = r
        return r

    def node(self, n) -> None:
        a, k, out = n.attrs, n.kind, n.outputs[0]
        if k == "identity":
            self.reg[out] = self.value(n.inputs[0])
            return
        if k == "elementwise":
            r = self.emit(["binary", a.op.name, self.value(n.inputs[0]), self.value(n.inputs[1])])
        elif k == "unary":
            r = self.emit(["unary", a.op.name, self.value(n.inputs[0])])
        elif k == "activation":
            r = self.emit(["act", a.type.name, _num(a.alpha), _num(a.beta), self.value(n.inputs[0])])
        elif k == "cast":
            r = self.emit(["cast", a.to_type.name, self.value(n.inputs[0])])
        elif k == "parametric_relu":
            r = self.emit(["prelu", self.value(n.inputs[0]), self.value(n.inputs[1])])
        else:  # uniform scale: (x * scale + shift) ^ power
            r = self.value(n.inputs[0])
            for slot, op in ((2, "PROD"), (1, "SUM"), (3, "POW")):
                if len(n.inputs) > slot and n.inputs[slot]:
                    r = self.emit(["binary", op, r, self.value(n.inputs[slot])])
        self.reg[out] = r


def fuse_pointwise(graph, ctx) -> int:
    view = View(graph)
    cand = {id(n): n for n in graph.nodes if candidate(view, n)}
    parent = {k: k for k in cand}

    def find(k):
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for n in reversed(graph.nodes):
        if id(n) not in cand:
            continue
        v = n.outputs[0]
        readers = view.uses(v)
        if not readers or v in view.outputs or any(id(r) not in cand for r in readers):
            continue
        roots = {find(id(r)) for r in readers}
        if len(roots) == 1:
            parent[find(id(n))] = roots.pop()
    groups: dict[int, list] = {}
    for n in graph.nodes:
        if id(n) in cand:
            groups.setdefault(find(id(n)), []).append(n)
    fused = 0
    gone, add = [], []
    for root_id, members in groups.items():
        if len(members) < 2:
            continue
        root = cand[root_id]
        prog = _Program(view)
        for n in members:
            prog.node(n)
        out_reg = prog.reg[root.outputs[0]]
        if out_reg != len(prog.code) - 1:
            continue  # the root is an identity of an earlier value; leave this group to no-op elimination
        add.append(Node(root.name, "pointwise", list(prog.inputs), list(root.outputs), Attrs(program=prog.code),
                        origin=absorbed_origin(view, *members), info=dict(root.info)))
        gone += members
        fused += 1
    if fused:
        replace(graph, gone, add)
        graph.remove_dead()
    return fused
