"""A fake tactic with a 2x3 tuning space and a fake timer, so the autotuner's enumeration, caching and recording run
on the CPU (tests of tactics/select.py and of the plan's tuning points)."""
from __future__ import annotations

import pytest

import inferrt as trt
from inferrt.enums import DataType
from inferrt.ir.graph import Graph, Node
from inferrt.ir.kinds import Kind
from inferrt.ops import Spec
from inferrt.ops.base import Attrs
from inferrt.tactics import registry
from inferrt.tactics.registry import Tactic
from inferrt.tactics.tuning import TuningSpace

SPACE = {"tile": (32, 64), "warps": (1, 2, 4)}


class FakeTiled(Tactic):
    """Runs the op's generic implementation; remembers every point it was prepared at."""

    name = "fake_tiled"
    kinds = (Kind.ACTIVATION,)
    devices = ("cpu", "cuda")

    def __init__(self, constraint=None):
        self.space = TuningSpace(SPACE, constraint)
        self.prepared = []

    def runner(self, node, device, point):
        self.prepared.append(dict(point))
        op, attrs = node.op, node.attrs
        return lambda ins, outs: op.run(attrs, ins, outs)


class FakeTimer:
    """Times (tactic, point) choices without a GPU: ``fastest`` gets 0.5 ms, the others 1 ms and more."""

    def __init__(self, fastest):
        self.fastest = fastest
        self.calls = []

    def __call__(self, node, specs, choices, config, log, nhwc):
        offered = [(t.name, dict(p)) for t, p in choices]
        self.calls.append(offered)
        return [(name, p, 0.5 if (name, p) == self.fastest else 1.0 + i) for i, (name, p) in enumerate(offered)]


@pytest.fixture
def fake(monkeypatch):
    """Registers a FakeTiled for the test (the registry is restored afterwards)."""
    registry._load()
    t = FakeTiled()
    monkeypatch.setitem(registry.TACTICS, t.name, t)
    return t


def relu_graph(shape=(2, 48)):
    g = Graph()
    g.inputs, g.outputs = ["x"], ["y"]
    g.nodes = [Node("relu", Kind.ACTIVATION, ["x"], ["y"], Attrs(type=trt.ActivationType.RELU))]
    specs = {"x": Spec(DataType.FLOAT, shape), "y": Spec(DataType.FLOAT, shape)}
    return g, specs


def config_with_cache(level=3, cache_bytes=b""):
    config = trt.Builder(trt.Logger(trt.Logger.ERROR)).create_builder_config()
    config.builder_optimization_level = level
    config.set_timing_cache(config.create_timing_cache(cache_bytes), False)
    return config


class Log:
    def __init__(self):
        self.lines = []

    def __call__(self, severity, msg):
        self.lines.append(msg)
