"""What an engine reports: IProfiler per-layer times, IErrorRecorder on Runtime / engine / context, and the engine
inspector (ONELINE and JSON)."""
from __future__ import annotations

import json

import numpy as np
from rt_tools import LAYERS, Buffer, bad_plan, build_engine, build_plan, inputs

import inferrt as trt


class RecordingProfiler(trt.IProfiler):
    def __init__(self):
        super().__init__()
        self.calls: list[tuple[str, float]] = []

    def report_layer_time(self, layer_name, ms):
        self.calls.append((layer_name, ms))


def _engine_layers(engine):
    info = json.loads(engine.create_engine_inspector().get_engine_information(trt.LayerInformationFormat.JSON))
    return [layer["Name"] for layer in info["Layers"]]


def test_profiler_receives_every_layer(device):
    engine = build_engine(device)
    layers = _engine_layers(engine)
    assert len(layers) == engine.num_layers
    ctx = engine.create_execution_context()
    prof = RecordingProfiler()
    ctx.profiler = prof
    x, s = inputs(4)
    bufs = {"x": Buffer(device, x), "s": Buffer(device, s), "y": Buffer(device, shape=(4, 4))}
    ctx.set_input_shape("x", x.shape)
    ctx.set_input_shape("s", s.shape)
    for k, b in bufs.items():
        ctx.set_tensor_address(k, b.ptr)
    for run in range(1, 3):
        assert ctx.execute_async_v3(0)
        assert [n for n, _ in prof.calls] == layers * run
    assert all(isinstance(ms, float) and ms >= 0 for _, ms in prof.calls)
    prof.calls.clear()
    ctx.infer(x=x, s=s)
    assert [n for n, _ in prof.calls] == layers


def test_error_recorder_on_runtime_engine_and_context():
    rec = trt.IErrorRecorder()
    runtime = trt.Runtime(trt.Logger(trt.Logger.INTERNAL_ERROR))
    runtime.error_recorder = rec
    assert runtime.deserialize_cuda_engine(bad_plan()) is None
    assert rec.num_errors() == 1 and "checksum" in rec.get_error_desc(0)
    assert rec.get_error_code(0) == trt.ErrorCode.INVALID_ARGUMENT

    engine = runtime.deserialize_cuda_engine(build_plan("cpu"))
    assert engine.error_recorder is rec
    ctx = engine.create_execution_context()
    assert ctx.error_recorder is rec
    assert ctx.set_input_shape("x", (99, 8)) is False
    assert rec.num_errors() == 2 and "'x'" in rec.get_error_desc(1)
    assert ctx.execute_async_v3(0) is False
    assert rec.num_errors() == 3 and rec.get_error_code(2) == trt.ErrorCode.FAILED_EXECUTION

    own = trt.IErrorRecorder()
    ctx.error_recorder = own
    assert ctx.set_tensor_address("nope", 1) is False
    assert own.num_errors() == 1 and rec.num_errors() == 3 and "'nope'" in own.get_error_desc(0)
    rec.clear()
    assert rec.num_errors() == 0 and not rec.has_overflowed()


def test_error_recorder_overflow():
    rec = trt.IErrorRecorder(capacity=2)
    ctx = build_engine("cpu").create_execution_context()
    ctx.error_recorder = rec
    for _ in range(3):
        ctx.set_input_shape("x", (0, 8))
    assert rec.num_errors() == 2 and rec.has_overflowed()


def test_inspector_oneline_and_json(device):
    engine = build_engine(device)
    insp = engine.create_engine_inspector()
    n = engine.num_layers
    lines = insp.get_engine_information(trt.LayerInformationFormat.ONELINE).splitlines()
    assert len(lines) == n
    info = json.loads(insp.get_engine_information(trt.LayerInformationFormat.JSON))
    layers = info["Layers"]
    assert len(layers) == n
    origins = [o for layer in layers for o in layer["Origin"]]
    for name in LAYERS:   # every network layer is accounted for by some engine layer
        assert name in origins, (name, origins)
    for layer, line in zip(layers, lines):
        assert line.startswith(layer["Name"] + ":")
        assert layer["TacticName"] and f"tactic={layer['TacticName']}" in line
        assert layer["Inputs"] and layer["Outputs"]
        for t in layer["Inputs"] + layer["Outputs"]:
            assert t["Name"] and isinstance(t["Dimensions"], list)
    assert info["Bindings"] == ["x", "s", "y"]
    assert info["Device"]["kind"] == device
    # a single layer, and an index out of range
    assert json.loads(insp.get_layer_information(0, trt.LayerInformationFormat.JSON)) == layers[0]
    assert insp.get_layer_information(0, trt.LayerInformationFormat.ONELINE) == lines[0]
    assert insp.get_layer_information(n, trt.LayerInformationFormat.JSON) == ""


def test_inspector_with_a_context_shows_concrete_shapes():
    engine = build_engine("cpu")
    insp = engine.create_engine_inspector()
    symbolic = json.loads(insp.get_engine_information(trt.LayerInformationFormat.JSON))["Layers"]
    assert -1 in symbolic[0]["Inputs"][0]["Dimensions"]
    ctx = engine.create_execution_context()
    ctx.set_input_shape("x", (3, 8))
    ctx.set_input_shape("s", (3, 4))
    insp.execution_context = ctx
    concrete = json.loads(insp.get_engine_information(trt.LayerInformationFormat.JSON))["Layers"]
    assert concrete[0]["Inputs"][0]["Dimensions"][0] == 3
    assert concrete[-1]["Outputs"][0]["Dimensions"] == [3, 4]
    assert np.all([d >= 0 for layer in concrete for t in layer["Outputs"] for d in t["Dimensions"]])
