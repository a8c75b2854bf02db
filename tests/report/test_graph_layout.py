"""Layered layout of the layer graph: one node per layer and binding, an edge per tensor passed, every edge going
down, no overlapping nodes in a row, rank-skipping edges routed through extra points, names-only plans in a column."""
from __future__ import annotations

from inferrt.report.graph_layout import graph_of, layout
from inferrt.report.plan_data import describe_plan


def _no_overlap(nodes):
    rows = {}
    for n in nodes:
        rows.setdefault(n.y, []).append(n)
    for row in rows.values():
        row.sort(key=lambda n: n.x)
        for a, b in zip(row, row[1:]):
            assert a.x + a.w / 2 <= b.x - b.w / 2, (a.id, b.id)


def test_edges_follow_tensors(plans):
    d = describe_plan(plans["residual"])
    nodes, edges = graph_of(d["layers"], d["io"])
    layer_ids = [f"L{i}" for i in range(len(d["layers"]))]
    assert sorted(n.id for n in nodes) == sorted(["in:x", "out:y", "out:z", *layer_ids])
    idx = {x["Name"]: f"L{i}" for i, x in enumerate(d["layers"])}
    got = {(e.src, e.dst) for e in edges}
    # x feeds conv_a, the fused residual conv_b and the side pool; weights (constants) give no edge
    assert {("in:x", idx["conv_a"]), ("in:x", idx["conv_b"]), ("in:x", idx["side_pool"])} <= got
    assert (idx["conv_a"], idx["conv_b"]) in got and (idx["softmax"], "out:y") in got
    assert (idx["side_exp"], "out:z") in got
    want = sum(1 for x in d["layers"] for t in x["Inputs"] if not t["Name"].endswith(("[kernel]", "[bias]"))) + 2
    assert len(edges) == want


def test_layout_positions(plans):
    d = describe_plan(plans["residual"])
    lay = layout(d["layers"], d["io"])
    assert sum(n.kind == "layer" for n in lay.nodes.values()) == len(d["layers"])
    for e in lay.edges:
        src, dst = lay.nodes[e.src], lay.nodes[e.dst]
        assert dst.y > src.y                                               # top to bottom
        assert e.points[0] == (src.x, src.y + src.h) and e.points[-1] == (dst.x, dst.y)
        assert all(b[1] > a[1] for a, b in zip(e.points, e.points[1:]))
        gap = dst.rank - src.rank
        assert len(e.points) == gap + 1                                    # one bend point per skipped rank
    skip = [e for e in lay.edges if lay.nodes[e.dst].rank - lay.nodes[e.src].rank > 1]
    assert skip, "x -> conv_b skips a rank"
    _no_overlap(lay.nodes.values())
    assert all(0 <= n.x - n.w / 2 and n.x + n.w / 2 <= lay.width and n.y + n.h <= lay.height
               for n in lay.nodes.values())


def test_names_only_is_a_column(plans):
    d = describe_plan(plans["residual_names"])
    lay = layout(d["layers"], d["io"])
    assert lay.edges == []
    ys = [lay.nodes[f"L{i}"].y for i in range(len(d["layers"]))]
    assert ys == sorted(ys) and len(set(ys)) == len(ys)                    # execution order, one per row
