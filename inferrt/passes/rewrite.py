"""Shared graph-rewriting helpers for the passes: a read-only view (producers, consumers, symbolic specs,
constant values), the few edits every pass makes (add a constant, replace nodes, redirect a value), the driver
that repeats a rewrite sweep until nothing changes (``until_fixed_point``) and the sweep of the pattern fusions
(``sweep_fusions``)."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import BuildError
from ..ir.graph import Graph, Node
from ..ir.kinds import Kind
from ..ops import Spec
from ..ops.base import Attrs


class View:
    """Indexes over a graph at one moment: rebuild it after editing the graph."""

    def __init__(self, g: Graph):
        self.g = g
        self.prod = g.producers()
        self.cons = g.consumers()
        self.outputs = set(g.outputs)
        self.specs = g.infer()

    def spec(self, v: str) -> Spec:
        return self.specs[v]

    def shape(self, v: str):
        return self.specs[v].shape

    def producer(self, v: str, *kinds) -> Node | None:
        n = self.prod.get(v)
        if n is None or (kinds and n.kind not in kinds):
            return None
        return n

    def uses(self, v: str) -> list[Node]:
        return self.cons.get(v, [])

    def only_use(self, v: str, node: Node) -> bool:
        """``v`` is read by ``node`` alone (possibly several times) and is not a graph output."""
        return v not in self.outputs and all(c is node for c in self.uses(v)) and bool(self.uses(v))

    def internal(self, v: str, allowed) -> bool:
        """Every reader of ``v`` is in ``allowed`` (node objects) and ``v`` is not a graph output."""
        ids = {id(n) for n in allowed}
        return v not in self.outputs and all(id(c) in ids for c in self.uses(v))

    def const(self, v: str) -> np.ndarray | None:
        """The value of ``v`` when a constant node produces it."""
        n = self.prod.get(v)
        if n is None or n.kind != Kind.CONSTANT:
            return None
        return np.asarray(n.attrs.weights).reshape(tuple(n.attrs.shape))

    def scalar(self, v: str) -> float | None:
        """The value of ``v`` when it is a constant holding one number."""
        c = self.const(v)
        if c is None or c.size != 1 or c.dtype.kind not in "fiu":
            return None
        return float(c.reshape(()))


def until_fixed_point(step: Callable[[Graph], int], graph: Graph, *, name: str, limit: int | None = None) -> int:
    """Run ``step(graph)`` (one sweep over the graph that applies a rewrite wherever it matches and returns how
    many rewrites it made) until a sweep makes none; returns the rewrites of all sweeps together.

    ``limit`` bounds the sweeps that rewrite something; by default two per node of the graph as it is now, plus 64.
    Every pass driven here removes a layer or moves one a step down a chain in each such sweep, so a pass running
    past the bound undoes its own rewrites: BuildError names the pass ``name`` (the pipeline then skips it with a
    warning, outside ``debug_passes``)."""
    bound = 2 * len(graph.nodes) + 64 if limit is None else limit
    total = 0
    for _ in range(bound + 1):  # the sweep after the last rewriting one confirms the fixed point
        made = step(graph)
        if not made:
            return total
        total += made
    raise BuildError(f"internal error: pass {name} did not reach a fixed point: {bound + 1} sweeps in a row "
                     f"rewrote the graph ({total} rewrites, limit {bound}); please report it with the model, and "
                     f"build without the pass meanwhile (INFERRT_DISABLE_PASSES={name})")


def sweep_fusions(graph: Graph, fusion) -> int:
    """One sweep of a pattern fusion (a ``step`` for until_fixed_point): for each node in graph order,
    ``fusion(view, node, taken)`` returns (the nodes a fused layer replaces, that layer) for a match at ``node``
    that avoids ``taken`` (the ids of the nodes replaced earlier in this sweep), or None. Each match is replaced at
    once; the view is not rebuilt within the sweep. Returns the number of fusions."""
    view = View(graph)
    taken, fused = set(), 0
    for n in list(graph.nodes):
        if id(n) in taken:
            continue
        m = fusion(view, n, taken)
        if m is None:
            continue
        nodes, new = m
        replace(graph, nodes, [new])
        taken |= {id(k) for k in nodes}
        fused += 1
    return fused


def plain(n: Node) -> bool:
    """A node with no precision pin, which a fusion may absorb."""
    return not n.info.user_set()


def merge_origin(*nodes: Node) -> list[str]:
    seen, out = set(), []
    for n in nodes:
        for o in n.origin or [n.name]:
            if o not in seen:
                seen.add(o)
                out.append(o)
    return out


def const_node(g: Graph, base: str, arr: np.ndarray, origin: list[str], taken: set[str] | None = None) -> Node:
    """A new constant node (not yet in the graph) whose output is named like its node. ``taken``: see
    Graph.unique_name (passes that add many constants keep one set of the names in use)."""
    arr = np.ascontiguousarray(arr).reshape(np.shape(arr))  # ascontiguousarray makes 0-d arrays 1-d
    name = g.unique_name(base, taken)
    g.specs[name] = Spec(_dtype(arr), tuple(arr.shape))
    return Node(name, Kind.CONSTANT, [], [name], Attrs(weights=arr, shape=tuple(arr.shape)), origin=list(origin))


def merged_constants(graph: Graph, view, nodes: list[Node], kernel, bias) -> list[Node]:
    """A horizontal fusion's constants: ``kernel`` (then ``bias`` unless None) named after the first of ``nodes``,
    each with the origin of the members' input it replaces (input 1, input 2)."""
    out = []
    for i, (what, arr) in enumerate((("kernel", kernel), ("bias", bias)), 1):
        if arr is not None:
            out.append(const_node(graph, f"{nodes[0].name} [merged {what}]", arr,
                                  merge_origin(*[view.producer(n.inputs[i]) for n in nodes
                                                 if len(n.inputs) > i and n.inputs[i]])))
    return out


def merged_with_slices(graph: Graph, first: Node, nodes: list[Node], kind: str, ins: list[str], attrs: Attrs,
                       sizes: list[int], axis: int) -> list[Node]:
    """Horizontal fusion's result: one ``kind`` node standing for ``nodes`` (reading ``ins``), then one slice per
    original node, along ``axis`` with ``sizes``, that keeps that node's name and output names."""
    from ..enums import SampleMode

    name = graph.unique_name(f"{first.name} [+{len(nodes) - 1} merged]")
    out = graph.unique_name(f"{name} output")
    new = [Node(name, kind, ins, [out], attrs, origin=merge_origin(*nodes), info=first.info.copy())]
    off = 0
    for n, size in zip(nodes, sizes):
        new.append(Node(n.name, Kind.SLICE, [out], list(n.outputs),
                        Attrs(start=(off,), shape=(size,), stride=(1,), axes=(axis,), mode=SampleMode.STRICT_BOUNDS),
                        origin=list(n.origin)))
        off += size
    return new


def replace(g: Graph, remove: list[Node], add: list[Node]) -> None:
    """Remove ``remove`` (by identity), add ``add`` and restore topological order."""
    ids = {id(n) for n in remove}
    g.nodes = [n for n in g.nodes if id(n) not in ids] + list(add)
    g.toposort()


def redirect(g: Graph, old: str, new: str) -> bool:
    """Make every reader of ``old`` read ``new``. When ``old`` is a graph output, ``new`` is renamed to ``old``
    instead (only possible when ``new`` is produced by a node and is not a graph input or output). Returns False,
    changing nothing, when neither works."""
    if old == new:
        return True
    if old in g.outputs:
        if new in g.inputs or new in g.outputs or not any(new in n.outputs for n in g.nodes):
            return False
        for n in g.nodes:
            n.outputs = [old if o == new else o for o in n.outputs]
            n.inputs = [old if i == new else i for i in n.inputs]
        if new in g.specs:
            g.specs[old] = g.specs.pop(new)
        return True
    for n in g.nodes:
        n.inputs = [new if i == old else i for i in n.inputs]
    return True


def refresh_specs(g: Graph) -> None:
    """Symbolic specs of every value (what the builder and the plan read), after a pass edited the graph."""
    specs = g.infer()
    keep = {k: g.specs[k] for k in g.inputs}
    for k, s in specs.items():
        if k not in keep:
            keep[k] = Spec(s.dtype, None if s.shape is None else tuple(s.shape))
    g.specs = keep


def same_shape(a, b) -> bool:
    """Shapes are equal for every input shape: same rank and the same known dims (no -1 anywhere)."""
    return a is not None and b is not None and tuple(a) == tuple(b) and all(d >= 0 for d in a)


def _dtype(arr):
    from ..dtypes import from_numpy_dtype

    return from_numpy_dtype(arr.dtype)


def dying_consts(view: View, nodes) -> list[Node]:
    """Constant nodes read only by ``nodes`` (or by layers already replaced): they die with them, so their names
    join the fused layer's origin."""
    ids = {id(n) for n in nodes}
    alive = {id(n) for n in view.g.nodes}
    out, seen = [], set()
    for n in nodes:
        for i in n.inputs:
            p = view.prod.get(i) if i else None
            if p is None or p.kind != Kind.CONSTANT or id(p) in ids or id(p) in seen or i in view.outputs:
                continue
            if all(id(r) in ids or id(r) not in alive for r in view.uses(i)):
                seen.add(id(p))
                out.append(p)
    return out


def absorbed_origin(view: View, *nodes) -> list[str]:
    """Origin of a layer replacing ``nodes``: their names plus those of the constants only they read."""
    return merge_origin(*nodes, *dying_consts(view, nodes))


def fuse_horizontally(graph: Graph, member, merge) -> int:
    """The horizontal fusion driver: nodes for which ``member(view, node)`` returns (key, *rest) are grouped by key
    (in graph order); each group of two or more, as [(node, *rest)], goes to ``merge(graph, view, key, members)``,
    which returns the nodes standing for the whole group or None to leave it. Returns how many nodes went."""
    view = View(graph)
    groups: dict = {}
    for n in graph.nodes:
        m = member(view, n)
        if m is not None:
            groups.setdefault(m[0], []).append((n, *m[1:]))
    merged, gone, add = 0, [], []
    for key, members in groups.items():
        new = merge(graph, view, key, members) if len(members) > 1 else None
        if new is not None:
            add += new
            gone += [m[0] for m in members]
            merged += len(members) - 1
    if merged:
        replace(graph, gone, add)
        graph.remove_dead()
    return merged
