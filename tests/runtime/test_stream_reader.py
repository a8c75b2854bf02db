"""Runtime.deserialize_cuda_engine(reader): IStreamReader / IStreamReaderV2 supply the plan (TensorRT 10), as
Polygraphy's EngineFromPath does with its FileReader."""
from __future__ import annotations

import io

import numpy as np
import pytest

import inferrt as trt
from tests.helpers import new_network


def _plan():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2, 3))
    net.mark_output(net.add_activation(x, trt.ActivationType.RELU).get_output(0))
    cfg = builder.create_builder_config()
    cfg.device = "cpu"
    return bytes(builder.build_serialized_network(net, cfg))


class _V1(trt.IStreamReader):
    def __init__(self, data, chunk=None):
        self.f, self.chunk, self.asked = io.BytesIO(data), chunk, []

    def read(self, size):
        self.asked.append(size)
        return self.f.read(min(size, self.chunk) if self.chunk else size)


class _V2(trt.IStreamReaderV2):
    def __init__(self, data):
        self.f, self.streams = io.BytesIO(data), []

    def read(self, size, stream):
        self.streams.append(stream)
        return self.f.read(size)

    def seek(self, offset, where):
        self.f.seek(offset, int(where))
        return True


def _check(engine):
    x = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)
    np.testing.assert_array_equal(engine.create_execution_context().infer(x=x)[engine.output_names[0]],
                                  np.maximum(x, 0))


@pytest.mark.parametrize("reader", [lambda p: _V1(p), lambda p: _V1(p, chunk=7), lambda p: _V2(p)])
def test_engine_from_a_stream(reader):
    plan = _plan()
    r = reader(plan)
    _check(trt.Runtime(trt.Logger()).deserialize_cuda_engine(r))
    if isinstance(r, _V1):
        assert sum(min(a, r.chunk or a) for a in r.asked) == len(plan)   # exactly the plan's bytes were asked for
    else:
        assert set(r.streams) == {0}


def test_truncated_stream_and_non_plan_are_errors():
    plan = _plan()
    rt = trt.Runtime(trt.Logger())
    rt.error_recorder = rec = trt.IErrorRecorder()
    assert rt.deserialize_cuda_engine(_V1(plan[:-10])) is None
    assert f"ended after {len(plan) - 10} of the {len(plan)} bytes" in rec.get_error_desc(0)
    assert rt.deserialize_cuda_engine(_V1(b"not a plan at all")) is None
    assert rec.num_errors() == 2


def test_polygraphys_engine_from_path(tmp_path, monkeypatch):
    pytest.importorskip("polygraphy")
    import sys

    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    from polygraphy.backend.trt import EngineFromPath

    path = tmp_path / "m.plan"
    path.write_bytes(_plan())
    _check(EngineFromPath(str(path))())
