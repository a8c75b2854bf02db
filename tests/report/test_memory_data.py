"""The report's memory plan: the executor's own arena at the report's shapes, buffers that never share bytes while
both are alive, lifetimes from the writing layer to the last reader (or reader of a view), and the peak."""
from __future__ import annotations

from inferrt.report.plan_data import describe_plan, load_engine_file


def _check_plan(path):
    d = describe_plan(path)
    m = d["memory"]
    engine = load_engine_file(path)
    ctx = engine.create_execution_context()
    for k, v in d["shapes"].items():
        assert ctx.set_input_shape(k, tuple(v))
    assert m["arena_bytes"] == ctx._plan().arena_bytes          # what the context really allocates
    bufs = m["buffers"]
    assert bufs
    for b in bufs:
        assert 0 <= b["offset"] and b["offset"] + b["bytes"] <= m["arena_bytes"]
    for i, a in enumerate(bufs):
        for b in bufs[i + 1:]:
            alive_together = not (a["last"] < b["first"] or b["last"] < a["first"])
            share_bytes = a["offset"] < b["offset"] + b["bytes"] and b["offset"] < a["offset"] + a["bytes"]
            assert not (alive_together and share_bytes), (a["name"], b["name"])
    layers = d["layers"]
    for b in bufs:
        names = {b["name"], *b["views"]}
        assert b["name"] in {t["Name"] for t in layers[b["first"]]["Outputs"]}
        readers = [i for i, x in enumerate(layers) if names & {t["Name"] for t in x["Inputs"]}]
        assert b["last"] == max(readers)
        assert (b["first_layer"], b["last_layer"]) == (layers[b["first"]]["Name"], layers[b["last"]]["Name"])
        dims = next(t["Dimensions"] for t in layers[b["first"]]["Outputs"] if t["Name"] == b["name"])
        n = 1
        for x in dims:
            n *= x
        assert b["bytes"] == 4 * n                                 # FLOAT
    live = [sum(b["bytes"] for b in bufs if b["first"] <= s <= b["last"]) for s in range(len(layers))]
    assert m["live_bytes"] == live
    assert m["peak_bytes"] == max(live) <= m["arena_bytes"]
    assert live[m["peak_step"]] == m["peak_bytes"]
    return d


def test_residual_memory_plan(plans):
    d = _check_plan(plans["residual"])
    views = {v for b in d["memory"]["buffers"] for v in b["views"]}
    def out(name):
        return next(x for x in d["layers"] if x["Name"] == name)["Outputs"][0]["Name"]

    assert out("side_flatten") in views                           # the reshape is a view, not a buffer
    assert out("side_flatten") not in {b["name"] for b in d["memory"]["buffers"]}
    # flatten reads the channels-last convolution region: it is the reformat to row-major, not a view
    assert out("flatten") not in views


def test_mnist_memory_plan(plans):
    _check_plan(plans["mnist"])
