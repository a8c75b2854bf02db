"""The activation memory plan of an engine at concrete input shapes, as the engine's executor makes it: one arena,
an offset per buffer (``runtime.executor.plan_arena``), and each buffer's lifetime over the optimized layers (the
layer that writes it to the last layer that reads it or a view of it). Views (reshapes the executor aliases) and
folded constants take no arena memory; network inputs and outputs live in the user's buffers, outside the arena.
"""
from __future__ import annotations


def _live_bytes(buffers: list, steps: int) -> list:
    """Bytes of arena buffers alive at each layer step (a buffer is alive from its first to its last step)."""
    delta = [0] * (steps + 1)
    for b in buffers:
        delta[b["first"]] += b["bytes"]
        delta[b["last"] + 1] -= b["bytes"]
    out, run = [], 0
    for d in delta[:steps]:
        run += d
        out.append(run)
    return out


def memory_plan(engine, shapes: dict) -> dict:
    """{"arena_bytes", "peak_bytes", "peak_step", "layers": the steps' layer names (the inspector's layers, in
    execution order), "live_bytes": per layer, "buffers": [{name, offset, bytes, first, last, first_layer,
    last_layer, views}]} at input ``shapes``; with "note" and no buffers when the shapes depend
    on data (the executor then allocates as the layers run) or cannot be inferred."""
    from ..ir.kinds import Kind
    from ..ops import Spec
    from ..runtime.executor import nbytes_of, plan_arena, plan_layout
    from ..runtime.memory import lifetimes_of

    graph = engine.graph
    empty = {"arena_bytes": None, "peak_bytes": None, "peak_step": None, "layers": [], "live_bytes": [],
             "buffers": []}
    try:
        specs = graph.infer({n: Spec(graph.specs[n].dtype, tuple(shapes.get(n, graph.specs[n].shape)))
                             for n in graph.inputs})
    except Exception as e:  # noqa: BLE001 - the report shows what it can; the note says why there is no plan
        return {**empty, "note": f"shape inference at {shapes} failed: {type(e).__name__}: {e}"}
    if not all(s.static for s in specs.values()):
        return {**empty, "note": "shapes depend on data: activations are allocated as the layers run"}
    consts = set(engine.executor.consts)
    offsets, total, folded = plan_arena(graph, specs, consts)
    aliases, _, _ = plan_layout(graph, specs, consts)

    def root(v):
        while v in aliases:
            v = aliases[v]
        return v

    nodes = [n for n in graph.nodes if n.kind != Kind.CONSTANT]   # the inspector's layers, in its order
    steps = [([root(i) for i in n.inputs if i], [o for o in n.outputs if o not in aliases]) for n in nodes]
    life = lifetimes_of(steps, set(graph.inputs) | set(graph.outputs) | consts | folded)
    views: dict = {}
    for v in aliases:
        views.setdefault(root(v), []).append(v)
    names = [n.name for n in nodes]
    buffers = []
    for name, off in offsets.items():
        first, last = life[name]
        buffers.append({"name": name, "offset": off, "bytes": nbytes_of(specs[name]), "first": first,
                        "last": last, "first_layer": names[first], "last_layer": names[last],
                        "views": sorted(views.get(name, []))})
    buffers.sort(key=lambda b: (b["first"], b["offset"], b["name"]))
    live = _live_bytes(buffers, len(nodes))
    peak = max(live, default=0)
    return {"arena_bytes": total, "peak_bytes": peak, "peak_step": live.index(peak) if live else None,
            "layers": names, "live_bytes": live, "buffers": buffers, "note": ""}
