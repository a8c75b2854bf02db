"""Layered (Sugiyama-style) layout of a plan's layer graph, top to bottom:

    inputs            [x]
                       |
    rank 1          [conv1]          ranks: longest path from the inputs
                     /    \\
    rank 2      [pool1]   (.)        (.) dummy point of an edge that skips a rank
                     \\    /
    rank 3          [add]            order in a rank: barycenter sweeps (fewer crossings)

Nodes are the network inputs, the optimized layers and the network outputs; an edge joins the node that writes a
tensor to each node that reads it (weights and other constants have no node). Pure Python, no drawing here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

LAYER_W, LAYER_H = 210, 46
IO_W, IO_H = 150, 28
DUMMY_W = 16
H_GAP, V_GAP = 28, 40
MARGIN = 16
SWEEPS = 6


@dataclass
class Node:
    id: str
    kind: str                 # "layer", "input", "output" or "dummy"
    label: str
    layer: int | None = None  # index into the plan's layers
    rank: int = 0
    x: float = 0.0            # centre
    y: float = 0.0            # top
    w: float = 0.0
    h: float = 0.0


@dataclass
class Edge:
    src: str
    dst: str
    tensor: str
    points: list = field(default_factory=list)   # [(x, y)] from the source's bottom to the destination's top


@dataclass
class Layout:
    nodes: dict
    edges: list
    width: float
    height: float


def graph_of(layers: list, io: list) -> tuple[list, list]:
    """(nodes, edges) of a plan: ``layers`` are inspector dicts (Inputs/Outputs lists; names-only layers give no
    edges), ``io`` the plan's bindings [{name, mode}]."""
    nodes, edges, producer = [], [], {}
    for b in io:
        if b["mode"] == "INPUT":
            nodes.append(Node(f"in:{b['name']}", "input", b["name"]))
            producer[b["name"]] = f"in:{b['name']}"
    for i, layer in enumerate(layers):
        nid = f"L{i}"
        nodes.append(Node(nid, "layer", layer["Name"], layer=i))
        seen = set()
        for t in layer.get("Inputs", []):
            src = producer.get(t["Name"])
            if src is not None and src != nid and (src, t["Name"]) not in seen:
                seen.add((src, t["Name"]))
                edges.append(Edge(src, nid, t["Name"]))
        for t in layer.get("Outputs", []):
            producer[t["Name"]] = nid
    for b in io:
        if b["mode"] == "OUTPUT":
            nid = f"out:{b['name']}"
            nodes.append(Node(nid, "output", b["name"]))
            if b["name"] in producer:
                edges.append(Edge(producer[b["name"]], nid, b["name"]))
    return nodes, edges


def _ranks(nodes: list, edges: list, chain: bool) -> None:
    """Longest-path ranks in topological order (the inspector lists layers in execution order, so the plain order
    is topological; Kahn's algorithm keeps this correct for any order). ``chain``: the layers' tensors are unknown
    (names-only plans), so each layer takes its own rank in execution order."""
    if chain:
        for n in nodes:
            n.rank = 0 if n.kind == "input" else (n.layer + 1 if n.kind == "layer" else len(nodes))
        return
    preds = {n.id: [] for n in nodes}
    succs = {n.id: [] for n in nodes}
    for e in edges:
        preds[e.dst].append(e.src)
        succs[e.src].append(e.dst)
    indeg = {k: len(v) for k, v in preds.items()}
    ready = [n.id for n in nodes if indeg[n.id] == 0]
    by_id = {n.id: n for n in nodes}
    seen = 0
    while ready:
        nid = ready.pop(0)
        seen += 1
        node = by_id[nid]
        node.rank = max((by_id[p].rank + 1 for p in preds[nid]), default=0)
        for s in succs[nid]:
            indeg[s] -= 1
            if indeg[s] == 0:
                ready.append(s)
    if seen != len(nodes):   # a cycle cannot come from a plan; rank by list order rather than fail the report
        for r, n in enumerate(nodes):
            n.rank = r
    last = max((n.rank for n in nodes if n.kind != "output"), default=0)
    for n in nodes:   # outputs on the bottom row together
        if n.kind == "output":
            n.rank = max(n.rank, last + 1)


def _split_long_edges(nodes: list, edges: list) -> list:
    """Chains through dummy nodes for edges spanning more than one rank; returns the unit-rank edge segments as
    (src, dst, the original edge)."""
    by_id = {n.id: n for n in nodes}
    segs = []
    for k, e in enumerate(edges):
        a, b = by_id[e.src], by_id[e.dst]
        prev = a.id
        for r in range(a.rank + 1, b.rank):
            d = Node(f"d{k}_{r}", "dummy", "", rank=r)
            nodes.append(d)
            by_id[d.id] = d
            segs.append((prev, d.id, e))
            prev = d.id
        segs.append((prev, b.id, e))
    return segs


def _order(nodes: list, segs: list) -> list:
    rows: dict = {}
    for n in nodes:
        rows.setdefault(n.rank, []).append(n.id)
    order = [rows[r] for r in sorted(rows)]
    up = {n.id: [] for n in nodes}
    down = {n.id: [] for n in nodes}
    for s, d, _ in segs:
        down[s].append(d)
        up[d].append(s)
    for sweep in range(SWEEPS):
        rng = range(1, len(order)) if sweep % 2 == 0 else range(len(order) - 2, -1, -1)
        for r in rng:
            ref = order[r - 1] if sweep % 2 == 0 else order[r + 1]
            pos = {nid: i for i, nid in enumerate(ref)}
            nbrs = up if sweep % 2 == 0 else down
            cur = order[r]

            def bary(nid, i, pos=pos, nbrs=nbrs):
                ps = [pos[p] for p in nbrs[nid] if p in pos]
                return sum(ps) / len(ps) if ps else i

            order[r] = [nid for _, _, nid in sorted((bary(nid, i), i, nid) for i, nid in enumerate(cur))]
    return order


def layout(layers: list, io: list) -> Layout:
    nodes, edges = graph_of(layers, io)
    _ranks(nodes, edges, chain=bool(layers) and not any("Inputs" in x for x in layers))
    segs = _split_long_edges(nodes, edges)
    by_id = {n.id: n for n in nodes}
    for n in nodes:
        n.w, n.h = {"layer": (LAYER_W, LAYER_H), "dummy": (DUMMY_W, LAYER_H)}.get(n.kind, (IO_W, IO_H))
    order = _order(nodes, segs)
    widths = [sum(by_id[i].w for i in row) + H_GAP * (len(row) - 1) for row in order]
    width = max(widths, default=0) + 2 * MARGIN
    y = MARGIN
    for row, rw in zip(order, widths):
        x = (width - rw) / 2
        row_h = max(by_id[i].h for i in row)
        for nid in row:
            n = by_id[nid]
            n.x, n.y = x + n.w / 2, y + (row_h - n.h) / 2
            x += n.w + H_GAP
        y += row_h + V_GAP
    chains: dict = {}
    for seg in segs:
        chains.setdefault(id(seg[2]), []).append(seg)
    for e in edges:
        chain = chains[id(e)]
        pts = [(by_id[e.src].x, by_id[e.src].y + by_id[e.src].h)]
        for _, d, _ in chain[:-1]:
            pts.append((by_id[d].x, by_id[d].y + by_id[d].h / 2))
        pts.append((by_id[e.dst].x, by_id[e.dst].y))
        e.points = pts
    real = {k: v for k, v in by_id.items() if v.kind != "dummy"}
    return Layout(real, edges, width, y - V_GAP + MARGIN)
