"""Pointwise fusion: connected elementwise / unary / activation / cast / parametric ReLU / Scale layers
become one ``pointwise`` layer running a small expression program (see ``ops/pointwise.py``).

    x ─ Add(b) ─ Sigmoid ─┐
    x ────────────────── Mul ─ Cast(HALF) ─ y      ==>   x, b ─ Pointwise([input 0, input 1, binary SUM,
                                                                 act SIGMOID, binary PROD, cast HALF]) ─ y

A layer joins the group of its readers when every reader of its output is in that one group and its output is
not a network output; so only the group's last layer is read from outside and the fused layer cannot create a
cycle. Scalar constants are inlined into the program; other constants stay inputs (a Scale layer's per-channel
or per-element coefficients become constants shaped to broadcast). Pure integer layers (shape
arithmetic) and layers with precision pins are left alone. Groups of one layer are not rewritten.
"""
from __future__ import annotations

from ..dtypes import FLOAT_TYPES as _FLOATS, LOW_BIT
from ..enums import DataType, ScaleMode
from ..ir.graph import Node
from ..ir.kinds import Kind
from ..ops.base import Attrs
from .rewrite import View, absorbed_origin, const_node, plain, replace

KINDS = (Kind.ELEMENTWISE, Kind.UNARY, Kind.ACTIVATION, Kind.CAST, Kind.IDENTITY, Kind.PARAMETRIC_RELU, Kind.SCALE)


def _num(v):
    v = float(v) if not isinstance(v, (bool, int)) else v
    return v if not isinstance(v, float) or v == v and abs(v) != float("inf") else repr(v)


def candidate(view, n) -> bool:
    if n.kind not in KINDS or len(n.outputs) != 1 or not plain(n):
        return False
    if n.kind == Kind.SCALE:
        if view.spec(n.inputs[0]).dtype != DataType.FLOAT or _scale_shape(view, n) is None:
            return False
        if any(i and view.const(i) is None for i in n.inputs[1:]):
            return False
    dts = [view.spec(v).dtype for v in n.inputs + n.outputs if v]
    return any(d in _FLOATS for d in dts) and not any(d in LOW_BIT for d in dts)  # low-bit casts: ops/cast_values


def _scale_shape(view, n):
    """The shape a Scale layer's coefficients broadcast as (None when it depends on unknown dims)."""
    shape = view.shape(n.inputs[0])
    if shape is None:
        return None
    rank = len(shape)
    if n.attrs.mode == ScaleMode.UNIFORM:
        return (1,) * rank
    if rank == 0:
        return None
    ax = n.attrs.channel_axis % rank
    if n.attrs.mode == ScaleMode.CHANNEL:
        out = tuple(shape[ax] if i == ax else 1 for i in range(rank))
    else:
        out = tuple(shape[i] if i >= ax else 1 for i in range(rank))
    return out if all(d >= 0 for d in out) else None


class _Program:
    def __init__(self, view, graph):
        self.view = view
        self.graph = graph
        self.code: list = []
        self.reg: dict[str, int] = {}
        self.inputs: list[str] = []
        self.new_consts: list = []

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

    def coefficient(self, n, v, cshape) -> int:
        c = self.view.const(v)
        if c.size == 1:
            return self.value(v)
        node = const_node(self.graph, f"{n.name} [coefficients]", c.reshape(cshape),
                          list(self.view.producer(v).origin))
        self.new_consts.append(node)
        self.inputs.append(node.outputs[0])
        return self.emit(["input", len(self.inputs) - 1])

    def node(self, n) -> None:
        a, k, out = n.attrs, n.kind, n.outputs[0]
        if k == Kind.IDENTITY:
            self.reg[out] = self.value(n.inputs[0])
            return
        if k == Kind.ELEMENTWISE:
            r = self.emit(["binary", a.op.name, self.value(n.inputs[0]), self.value(n.inputs[1])])
        elif k == Kind.UNARY:
            r = self.emit(["unary", a.op.name, self.value(n.inputs[0])])
        elif k == Kind.ACTIVATION:
            r = self.emit(["act", a.type.name, _num(a.alpha), _num(a.beta), self.value(n.inputs[0])])
        elif k == Kind.CAST:
            r = self.emit(["cast", a.to_type.name, self.value(n.inputs[0])])
        elif k == Kind.PARAMETRIC_RELU:
            r = self.emit(["prelu", self.value(n.inputs[0]), self.value(n.inputs[1])])
        else:  # scale: (x * scale + shift) ^ power, coefficients reshaped to broadcast as the layer does
            r = self.value(n.inputs[0])
            cshape = _scale_shape(self.view, n)
            for slot, op in ((2, "PROD"), (1, "SUM"), (3, "POW")):
                if len(n.inputs) > slot and n.inputs[slot]:
                    r = self.emit(["binary", op, r, self.coefficient(n, n.inputs[slot], cshape)])
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
        prog = _Program(view, graph)
        for n in members:
            prog.node(n)
        out_reg = prog.reg[root.outputs[0]]
        if out_reg != len(prog.code) - 1:
            continue  # the root is an identity of an earlier value; leave this group to no-op elimination
        add += prog.new_consts
        add.append(Node(root.name, Kind.POINTWISE, list(prog.inputs), list(root.outputs), Attrs(program=prog.code),
                        origin=absorbed_origin(view, *members), info=root.info.copy()))
        gone += members
        fused += 1
    if fused:
        replace(graph, gone, add)
        graph.remove_dead()
    return fused
