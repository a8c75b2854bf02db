"""The chosen tuning point travels in the plan (``info.tactic_point``): the loaded engine prepares its tactic at that
point, the inspector shows it, and a point that does not fit the tactic's space is refused naming the layer.

The build runs on the CPU with the selection's GPU path driven by a fake timer (tuning_tools)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from tuning_tools import FakeTimer, fake  # noqa: F401

import inferrt as trt
from inferrt.tactics import select
from tests.helpers import new_network, tolerance
from tests.plan.plan_tools import with_manifest

BEST = {"tile": 64, "warps": 4}


@pytest.fixture
def plan(fake, monkeypatch):
    timer = FakeTimer(("fake_tiled", BEST))
    real = select.select_tactics

    def tuned(graph, specs, device, config, log, **kw):  # the GPU path of the selection, timed by the fake timer
        real(graph, specs, "cuda", config, log, timer=timer, device_name="fake-gpu", **kw)

    monkeypatch.setattr(select, "select_tactics", tuned)
    builder, net = new_network()
    relu = net.add_activation(net.add_input("x", trt.float32, (4, 8)), trt.ActivationType.RELU)
    relu.name, relu.get_output(0).name = "relu", "y"
    net.mark_output(relu.get_output(0))
    config = builder.create_builder_config()
    config.device = "cpu"
    data = bytes(builder.build(net, config))
    assert timer.calls, "the fake timer never ran: the build did not reach the tuned selection"
    return data


def _layer(engine):
    (node,) = [n for n in engine.graph.nodes if n.kind == "activation"]
    return node


def test_loaded_engine_runs_the_tactic_at_the_recorded_point(plan, fake):
    fake.prepared.clear()
    engine = trt.load_engine(plan)
    node = _layer(engine)
    assert (node.info.tactic, node.info.tactic_point) == ("fake_tiled", BEST)
    assert fake.prepared == [BEST]
    x = np.linspace(-2, 2, 32, dtype=np.float32).reshape(4, 8)
    out = engine.create_execution_context().infer(x=x)["y"]
    np.testing.assert_allclose(out, np.maximum(x, 0), *tolerance(np.float32))


def test_inspector_shows_the_point(plan):
    engine = trt.load_engine(plan)
    insp = engine.create_engine_inspector()
    layers = json.loads(insp.get_engine_information(trt.LayerInformationFormat.JSON))["Layers"]
    (layer,) = [d for d in layers if d["TacticName"] == "fake_tiled"]
    assert layer["TacticPoint"] == BEST
    line = [s for s in insp.get_engine_information(trt.LayerInformationFormat.ONELINE).splitlines()
            if s.startswith(layer["Name"] + ":")][0]
    assert "tactic=fake_tiled(tile=64, warps=4) " in line


def _set_point(point):
    def edit(m):
        for n in m["graph"]["nodes"]:
            if n.get("info", {}).get("tactic") == "fake_tiled":
                if point is None:
                    del n["info"]["tactic_point"]
                else:
                    n["info"]["tactic_point"] = point
    return edit


@pytest.mark.parametrize("point,why", [({"tile": 48, "warps": 4}, "tile=48 is not one of the candidates"),
                                       ({"tile": 64}, "its parameters"), ("64x4", "object, got str")])
def test_a_point_outside_the_space_is_refused_naming_the_layer(plan, point, why):
    with pytest.raises(trt.PlanError, match=r"layer 'relu' \(tactic fake_tiled\): tuning point .*" + why):
        trt.load_engine(with_manifest(plan, _set_point(point)))


def test_a_plan_without_a_point_runs_the_default(plan, fake):
    """Plans written before tuning spaces carry no point: the tactic runs at its default."""
    fake.prepared.clear()
    trt.load_engine(with_manifest(plan, _set_point(None)))
    assert fake.prepared == [{"tile": 32, "warps": 1}]
