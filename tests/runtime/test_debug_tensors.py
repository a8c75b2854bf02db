"""Debug tensors at run time: IDebugListener receives a marked tensor's values after each execution, through
infer(), the TensorRT address path (execute_async_v3) and across input shapes; its layer is not fused away."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import inferrt as trt
from inferrt.runtime.buffers import AddressCache
from tests.helpers import new_network


class _Listener(trt.IDebugListener):
    def __init__(self, device):
        super().__init__()
        self.calls = []
        self.cache = AddressCache(torch.device(device))

    def process_debug_tensor(self, addr, location, type, shape, name, stream):  # noqa: A002
        if location == trt.TensorLocation.DEVICE:
            torch.cuda.synchronize()
        values = self.cache.view(addr, tuple(shape), type, name).cpu().numpy().copy()
        self.calls.append({"name": name, "location": location, "type": type, "shape": tuple(shape),
                           "stream": stream, "values": values})


def _engine(device="cpu", dynamic=False, mark=True):
    """y = relu(x) * x + 1; debug tensor: relu(x) (fused with the product and sum unless kept)."""
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 3) if dynamic else (2, 3))
    r = net.add_activation(x, trt.ActivationType.RELU)
    r.get_output(0).name = "relu_out"
    m = net.add_elementwise(r.get_output(0), x, trt.ElementWiseOperation.PROD)
    one = net.add_constant((1, 1), np.ones((1, 1), np.float32)).get_output(0)
    y = net.add_elementwise(m.get_output(0), one, trt.ElementWiseOperation.SUM).get_output(0)
    y.name = "y"
    net.mark_output(y)
    if mark:
        assert net.mark_debug(r.get_output(0))
    cfg = builder.create_builder_config()
    cfg.device = device
    cfg.clear_flag(trt.BuilderFlag.TF32)
    if dynamic:
        p = builder.create_optimization_profile()
        p.set_shape("x", (1, 3), (2, 3), (8, 3))
        cfg.add_optimization_profile(p)
    return trt.Runtime(builder.logger).deserialize_cuda_engine(builder.build(net, cfg))


X = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)


def test_listener_gets_the_values_through_infer(device):
    engine = _engine(device)
    assert engine.is_debug_tensor("relu_out") and not engine.is_debug_tensor("y")
    assert [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)] == ["x", "y"]
    ctx = engine.create_execution_context()
    listener = _Listener(device)
    assert ctx.set_debug_listener(listener) and ctx.get_debug_listener() is listener
    assert ctx.get_debug_state("relu_out") is False
    ctx.infer(x=X)
    assert listener.calls == []   # debug state starts off
    assert ctx.set_tensor_debug_state("relu_out", True) and ctx.get_debug_state("relu_out")
    out = ctx.infer(x=X)
    np.testing.assert_array_equal(out["y"], np.maximum(X, 0) * X + 1)
    assert list(out) == ["y"]
    (call,) = listener.calls
    assert call["name"] == "relu_out" and call["shape"] == (2, 3) and call["type"] == trt.float32
    assert call["location"] == (trt.TensorLocation.DEVICE if device == "cuda" else trt.TensorLocation.HOST)
    if device == "cpu":
        assert call["stream"] == 0
    np.testing.assert_array_equal(call["values"], np.maximum(X, 0))
    assert ctx.set_all_tensors_debug_state(False) and not ctx.get_debug_state("relu_out")
    ctx.infer(x=X)
    assert len(listener.calls) == 1


def test_the_debug_layer_is_kept_apart_from_the_fusion():
    fused = _engine(mark=False)
    kept = _engine()
    producers = {o: n for n in kept.graph.nodes for o in n.outputs}
    assert "relu_out" in producers and "relu_out" not in {o for n in fused.graph.nodes for o in n.outputs}
    assert kept.graph.debug == ["relu_out"] and fused.graph.debug == []
    assert "debug" not in fused._manifest.graph   # plans without debug tensors are unchanged
    assert json.loads(json.dumps(kept._manifest.graph))["debug"] == ["relu_out"]


def test_address_path_and_changing_shapes():
    engine = _engine(dynamic=True)
    ctx = engine.create_execution_context()
    listener = _Listener("cpu")
    ctx.set_debug_listener(listener)
    ctx.set_all_tensors_debug_state(True)
    for rows in (2, 5, 2):
        x = np.linspace(-3, 3, rows * 3, dtype=np.float32).reshape(rows, 3)
        y = np.empty_like(x)
        assert ctx.set_input_shape("x", x.shape)
        assert ctx.set_tensor_address("x", x.ctypes.data) and ctx.set_tensor_address("y", y.ctypes.data)
        assert ctx.execute_async_v3(0)
        np.testing.assert_array_equal(y, np.maximum(x, 0) * x + 1)
        np.testing.assert_array_equal(listener.calls[-1]["values"], np.maximum(x, 0))
        assert listener.calls[-1]["shape"] == (rows, 3)
    assert len(listener.calls) == 3
    assert listener.calls[0]["values"].ctypes.data != 0


def test_errors():
    engine = _engine()
    ctx = engine.create_execution_context()
    ctx.error_recorder = rec = trt.IErrorRecorder()
    assert ctx.set_tensor_debug_state("y", True) is False
    assert ctx.set_debug_listener(object()) is False
    descs = [rec.get_error_desc(i) for i in range(rec.num_errors())]
    assert "'y' is not a debug tensor of this engine" in descs[0] and "['relu_out']" in descs[0]
    assert "must be an IDebugListener" in descs[1]
    with pytest.raises(NotImplementedError):
        trt.IDebugListener().process_debug_tensor(0, trt.TensorLocation.HOST, trt.float32, (1,), "t", 0)


def test_debug_tensors_survive_save_and_load(tmp_path):
    engine = _engine()
    trt.save_plan(engine, tmp_path / "d.plan")
    loaded = trt.load_engine(str(tmp_path / "d.plan"))
    assert loaded.is_debug_tensor("relu_out") and loaded.num_io_tensors == 2
