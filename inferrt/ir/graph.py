"""The builder's graph IR: what passes transform, tactics implement and the plan stores.

A ``Graph`` is a topologically ordered list of ``Node`` s over named values. Weights are constant nodes.
Every node keeps ``origin``: the names of the network layers it stands for, so fusions are never opaque.
"""
from __future__ import annotations

import dataclasses

from ..enums import DataType
from ..ops import Spec, get_op
from ..ops.base import Attrs, AttrValueError, OpError
from .node_info import NodeInfo


@dataclasses.dataclass
class Node:
    name: str
    kind: str
    inputs: list[str]              # "" marks an absent optional input
    outputs: list[str]
    attrs: Attrs = dataclasses.field(default_factory=Attrs)
    origin: list[str] = dataclasses.field(default_factory=list)
    info: NodeInfo = dataclasses.field(default_factory=NodeInfo)      # tactic, precision, ... (typed fields)

    @property
    def op(self):
        return get_op(self.kind)


class Graph:
    def __init__(self):
        self.nodes: list[Node] = []
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.debug: list[str] = []           # debug tensors: the last graph outputs, not engine I/O (mark_debug)
        self.unfused: list[str] = []         # those of them from mark_unfused_tensors_as_debug_tensors
        self.specs: dict[str, Spec] = {}     # symbolic specs (dims may be -1)

    # ------------------------------------------------------------------ queries
    def producers(self) -> dict[str, Node]:
        return {o: n for n in self.nodes for o in n.outputs}

    def consumers(self) -> dict[str, list[Node]]:
        out: dict[str, list[Node]] = {}
        for n in self.nodes:
            for i in n.inputs:
                if i:
                    out.setdefault(i, []).append(n)
        return out

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def taken_names(self) -> set[str]:
        """Every node and value name in use: pass it to ``unique_name`` when making many names in a row."""
        return {n.name for n in self.nodes} | set(self.specs)

    def unique_name(self, base: str, taken: set[str] | None = None) -> str:
        """``base``, or ``base_<i>`` when that is in use. ``taken``: the names in use (``taken_names()``), kept up
        to date by the caller and here (the new name is added), so a pass naming thousands of nodes does not
        rescan the graph for each (without it, every call costs a scan of the whole graph)."""
        names = self.taken_names() if taken is None else taken
        name = base
        i = 0
        while name in names:
            i += 1
            name = f"{base}_{i}"
        if taken is not None:
            taken.add(name)
        return name

    # ------------------------------------------------------------------ checks and inference
    def infer(self, input_specs: dict[str, Spec] | None = None, strict: bool = True) -> dict[str, Spec]:
        """Specs of every value given input specs (defaults: the symbolic ones). Raises OpError naming the node."""
        specs = {k: self.specs[k] for k in self.inputs}
        if input_specs:
            specs.update(input_specs)
        for n in self.nodes:
            ins = [specs[i] if i else None for i in n.inputs]
            try:
                outs = n.op.infer_all(n.attrs, ins)
            except (OpError, ValueError, TypeError, IndexError, ArithmeticError) as e:  # absurd values: inf, 0
                raise OpError(f"node {n.name!r} ({n.kind}, from {', '.join(n.origin) or 'nothing'}): {e}") from None
            for o, s in zip(n.outputs, outs):
                specs[o] = s
        return specs

    def check(self) -> None:
        """IR invariants: unique names, defined-before-use, outputs produced, no dangling references."""
        defined = set(self.inputs)
        names = set()
        for n in self.nodes:
            if n.name in names:
                raise AssertionError(f"duplicate node name {n.name!r}")
            names.add(n.name)
            for i in n.inputs:
                if i and i not in defined:
                    raise AssertionError(f"node {n.name!r} reads {i!r} before it is defined")
            for o in n.outputs:
                if o in defined:
                    raise AssertionError(f"value {o!r} is defined twice (by node {n.name!r})")
                defined.add(o)
            get_op(n.kind)
        for o in self.outputs:
            if o not in defined:
                raise AssertionError(f"graph output {o!r} is never produced")

    def toposort(self) -> None:
        produced = set(self.inputs)
        pending = list(self.nodes)
        order = []
        while pending:
            rest = []
            for n in pending:
                if all(not i or i in produced for i in n.inputs):
                    order.append(n)
                    produced.update(n.outputs)
                else:
                    rest.append(n)
            if len(rest) == len(pending):
                raise OpError(f"graph has a cycle or a dangling input near node {rest[0].name!r}")
            pending = rest
        self.nodes = order

    def remove_dead(self) -> int:
        """Drop nodes none of whose outputs reach a graph output. Returns the number removed."""
        live = set(self.outputs)
        keep = []
        for n in reversed(self.nodes):
            if not n.outputs or any(o in live for o in n.outputs):  # no outputs: a side effect (assertion)
                keep.append(n)
                live.update(i for i in n.inputs if i)
        removed = len(self.nodes) - len(keep)
        self.nodes = keep[::-1]
        for k in list(self.specs):
            if k not in live and k not in self.inputs:
                del self.specs[k]
        return removed

    def __repr__(self):
        lines = [f"graph inputs={self.inputs} outputs={self.outputs}"]
        for n in self.nodes:
            lines.append(f"  {n.name}: {n.kind}({', '.join(n.inputs)}) -> {', '.join(n.outputs)}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ serialization (plan manifest)
    def to_json(self, blobs) -> dict:
        def attrs_json(n):
            schema = n.op.attrs
            return {k: (None if v is None else schema[k][0].to_json(v, blobs)) for k, v in n.attrs.items()}

        return {
            "inputs": list(self.inputs), "outputs": list(self.outputs),
            **({"debug": list(self.debug)} if self.debug else {}),
            **({"debug_unfused": list(self.unfused)} if self.unfused else {}),
            "values": {k: {"dtype": s.dtype.name, "shape": None if s.shape is None else list(s.shape)}
                       for k, s in self.specs.items()},
            "nodes": [{"name": n.name, "kind": n.kind, "inputs": n.inputs, "outputs": n.outputs,
                       "attrs": attrs_json(n), "origin": n.origin, "info": n.info.to_json()} for n in self.nodes],
        }

    @classmethod
    def from_json(cls, j: dict, blobs) -> "Graph":
        g = cls()
        g.inputs = [_str(x, "graph input") for x in _list(j["inputs"], "inputs")]
        g.outputs = [_str(x, "graph output") for x in _list(j["outputs"], "outputs")]
        g.debug = [_str(x, "debug tensor") for x in _list(j.get("debug", []), "debug")]
        if g.debug != g.outputs[len(g.outputs) - len(g.debug):]:
            raise ValueError(f"debug tensors {g.debug} must be the last graph outputs {g.outputs}")
        g.unfused = [_str(x, "debug tensor") for x in _list(j.get("debug_unfused", []), "debug_unfused")]
        if not set(g.unfused) <= set(g.debug):
            raise ValueError(f"unfused debug tensors {g.unfused} must be debug tensors {g.debug}")
        for k, v in _dict(j["values"], "values").items():
            dt = DataType[_str(v["dtype"], f"dtype of {k}")] if v["dtype"] in DataType.__members__ else None
            if dt is None:
                raise ValueError(f"value {k!r} has unknown dtype {v['dtype']!r}")
            shape = v["shape"]
            if shape is not None:
                shape = tuple(_int(d, f"shape of {k}") for d in _list(shape, f"shape of {k}"))
            g.specs[k] = Spec(dt, shape)
        for nj in _list(j["nodes"], "nodes"):
            kind = _str(nj["kind"], "node kind")
            try:
                op = get_op(kind)
            except KeyError:
                raise ValueError(f"node {nj.get('name')!r} has unknown kind {kind!r}") from None
            attrs = op.default_attrs()
            for k, v in _dict(nj["attrs"], "attrs").items():
                if k not in op.attrs:
                    raise ValueError(f"node {nj.get('name')!r}: unknown attribute {k!r} for {kind}")
                if v is None and op.attrs[k][1] is not None:
                    raise ValueError(f"node {nj.get('name')!r}: attribute {k!r} of {kind} cannot be null")
                try:
                    attrs[k] = None if v is None else op.attrs[k][0].from_json(v, blobs)
                except AttrValueError as e:
                    raise ValueError(f"node {nj.get('name')!r}: attribute {k!r} of {kind}: {e}") from None
            g.nodes.append(Node(
                name=_str(nj["name"], "node name"), kind=kind,
                inputs=[_str(x, "node input") for x in _list(nj["inputs"], "node inputs")],
                outputs=[_str(x, "node output") for x in _list(nj["outputs"], "node outputs")],
                attrs=attrs, origin=[_str(x, "origin") for x in _list(nj["origin"], "origin")],
                info=NodeInfo.from_json(_dict(nj["info"], "info"), nj.get("name"))))
        g.check()
        return g


def _list(v, what):
    if not isinstance(v, list):
        raise ValueError(f"{what} must be a list")
    return v


def _dict(v, what):
    if not isinstance(v, dict):
        raise ValueError(f"{what} must be an object")
    return v


def _str(v, what):
    if not isinstance(v, str):
        raise ValueError(f"{what} must be a string")
    return v


def _int(v, what):
    if not isinstance(v, int) or isinstance(v, bool):
        raise ValueError(f"{what} must be an integer")
    return v
