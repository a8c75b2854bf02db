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


def _conv_net(mark_unfused: bool):
    """conv -> relu -> (relu * 2) -> sum over channels (conv and relu fuse into one layer). 1-D, so the values stay
    row-major (2-D convolution regions are channels-last, and those values are not unfused debug tensors)."""
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (1, 2, 5))
    w = np.linspace(-1, 1, 3 * 2 * 3, dtype=np.float32).reshape(3, 2, 3)
    conv = net.add_convolution_nd(x, 3, (3,), w, np.array([0.1, -0.2, 0.3], np.float32))
    conv.padding_nd = (1,)
    relu = net.add_activation(conv.get_output(0), trt.ActivationType.RELU)
    two = net.add_constant((1, 1, 1), np.full((1, 1, 1), 2, np.float32)).get_output(0)
    scaled = net.add_elementwise(relu.get_output(0), two, trt.ElementWiseOperation.PROD)
    red = net.add_reduce(scaled.get_output(0), trt.ReduceOperation.SUM, 1 << 1, True)
    red.get_output(0).name = "out"
    net.mark_output(red.get_output(0))
    if mark_unfused:
        assert net.mark_unfused_tensors_as_debug_tensors()
    cfg = builder.create_builder_config()
    cfg.device = "cpu"
    return trt.Runtime(builder.logger).deserialize_cuda_engine(builder.build(net, cfg)), w


def _reference(x, w):
    import torch.nn.functional as F

    c = F.conv1d(torch.from_numpy(x).double(), torch.from_numpy(w).double(),
                 torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64), padding=1)
    return torch.relu(c).numpy(), (torch.relu(c) * 2).numpy()


def test_unfused_tensors_as_debug_tensors():
    plain, _ = _conv_net(False)
    engine, w = _conv_net(True)
    assert engine.num_layers == plain.num_layers   # no fusion was prevented
    unfused = engine.graph.unfused
    assert unfused and set(unfused) == set(engine.graph.debug)
    assert not any(engine.is_debug_tensor(n) for n in unfused)
    producers = {o: n for n in engine.graph.nodes for o in n.outputs}
    assert all(producers[n].kind != "constant" for n in unfused)
    ctx = engine.create_execution_context()
    listener = _Listener("cpu")
    ctx.set_debug_listener(listener)
    x = np.random.default_rng(1).standard_normal((1, 2, 5)).astype(np.float32)
    ctx.infer(x=x)
    assert listener.calls == [] and ctx.get_unfused_tensors_debug_state() is False
    assert ctx.set_unfused_tensors_debug_state(True) and ctx.get_unfused_tensors_debug_state()
    out = ctx.infer(x=x)["out"]
    assert [c["name"] for c in listener.calls] == unfused
    # the surviving intermediates: the fused conv+relu output and the product the reduction reads
    relu, scaled = _reference(x, w)
    expected = {"fused_conv": relu, "elementwise": scaled}
    assert sorted(producers[n].kind for n in unfused) == sorted(expected)
    for c in listener.calls:
        np.testing.assert_allclose(c["values"], expected[producers[c["name"]].kind], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out, scaled.sum(axis=1, keepdims=True), rtol=1e-4, atol=1e-5)
    assert ctx.set_tensor_debug_state(unfused[0], True) is False   # not a mark_debug tensor
    ctx.set_all_tensors_debug_state(False)
    ctx.infer(x=x)
    assert len(listener.calls) == len(unfused)
    ctx.set_all_tensors_debug_state(True)   # "all" includes them
    ctx.infer(x=x)
    assert len(listener.calls) == 2 * len(unfused)


def test_unmark_unfused():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2, 3))
    r = net.add_activation(x, trt.ActivationType.RELU).get_output(0)
    net.mark_output(net.add_elementwise(r, x, trt.ElementWiseOperation.SUM).get_output(0))
    assert net.mark_unfused_tensors_as_debug_tensors() and net.unmark_unfused_tensors_as_debug_tensors()
    cfg = builder.create_builder_config()
    cfg.device = "cpu"
    engine = trt.Runtime(builder.logger).deserialize_cuda_engine(builder.build(net, cfg))
    assert engine.graph.unfused == [] and "debug_unfused" not in engine._manifest.graph
