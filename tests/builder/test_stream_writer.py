"""IStreamWriter and Builder.build_serialized_network_to_stream (TensorRT 10)."""
from __future__ import annotations

import numpy as np

import inferrt as trt
from tests.helpers import new_network


class _Chunks(trt.IStreamWriter):
    """Takes at most ``chunk`` bytes per call, as a pipe or socket may."""

    def __init__(self, chunk=None, fail_after=None):
        super().__init__()
        self.data = bytearray()
        self.calls = 0
        self.chunk = chunk
        self.fail_after = fail_after

    def write(self, data):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            return 0
        take = bytes(data[: self.chunk] if self.chunk else data)
        self.data += take
        return len(take)


def _net():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2, 3))
    net.mark_output(net.add_activation(x, trt.ActivationType.RELU).get_output(0))
    cfg = builder.create_builder_config()
    cfg.device = "cpu"
    return builder, net, cfg


def test_stream_receives_the_same_plan_as_build_serialized_network():
    builder, net, cfg = _net()
    w = _Chunks()
    assert builder.build_serialized_network_to_stream(net, cfg, w) is True
    assert w.calls == 1
    plan = builder.build_serialized_network(net, cfg)
    engine = trt.Runtime(builder.logger).deserialize_cuda_engine(bytes(w.data))
    assert engine is not None and len(w.data) == len(plan)
    x = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)
    np.testing.assert_array_equal(engine.create_execution_context().infer(x=x)[engine.output_names[0]],
                                  np.maximum(x, 0))


def test_short_writes_are_continued():
    builder, net, cfg = _net()
    w = _Chunks(chunk=100)
    assert builder.build_serialized_network_to_stream(net, cfg, w)
    assert w.calls == -(-len(w.data) // 100) > 1
    assert trt.Runtime(builder.logger).deserialize_cuda_engine(bytes(w.data)) is not None


def test_a_writer_that_stops_taking_bytes_fails_the_call():
    builder, net, cfg = _net()
    builder.error_recorder = rec = trt.IErrorRecorder()
    assert builder.build_serialized_network_to_stream(net, cfg, _Chunks(chunk=100, fail_after=2)) is False
    assert rec.num_errors() == 1 and "returned 0 after 200 of" in rec.get_error_desc(0)


def test_bad_writer_and_failed_build_return_false():
    builder, net, cfg = _net()
    builder.error_recorder = rec = trt.IErrorRecorder()
    assert builder.build_serialized_network_to_stream(net, cfg, object()) is False
    assert "writer must be an IStreamWriter" in rec.get_error_desc(0)
    empty = builder.create_network()
    assert builder.build_serialized_network_to_stream(empty, cfg, _Chunks()) is False
    assert rec.num_errors() == 2
