"""The Pythonic layer: inferrt.build_engine from every kind of source, save_plan / load_engine, and the
exceptions it raises instead of returning None."""
from __future__ import annotations

import io

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import inferrt
from tests.helpers import lowest_ir

W = np.random.default_rng(5).standard_normal((6, 3)).astype(np.float32)


def _onnx_model() -> onnx.ModelProto:
    """y = relu(x @ W), x[N, 6]."""
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(W, "w")])
    return lowest_ir(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))


PROFILE = {"x": [(1, 6), (2, 6), (4, 6)]}


def _check(engine, n=3):
    x = np.random.default_rng(n).standard_normal((n, 6)).astype(np.float32)
    out = engine.create_execution_context().infer(x=x)["y"]
    np.testing.assert_allclose(out, np.maximum(x.astype(np.float64) @ W, 0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["path", "bytes", "proto"])
def test_build_engine_from_onnx(tmp_path, kind):
    model = _onnx_model()
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    source = {"path": str(path), "bytes": model.SerializeToString(), "proto": model}[kind]
    engine = inferrt.build_engine(source, profiles=PROFILE, device="cpu")
    assert engine.input_names == ["x"] and engine.output_names == ["y"]
    _check(engine)


def test_build_engine_from_a_network_with_a_list_of_profiles():
    builder = inferrt.Builder(inferrt.Logger())
    net = builder.create_network(0)
    x = net.add_input("x", inferrt.float32, (-1, 6))
    w = net.add_constant(W.shape, W)
    mm = net.add_matrix_multiply(x, inferrt.MatrixOperation.NONE, w.get_output(0), inferrt.MatrixOperation.NONE)
    relu = net.add_activation(mm.get_output(0), inferrt.ActivationType.RELU)
    relu.get_output(0).name = "y"
    net.mark_output(relu.get_output(0))
    engine = inferrt.build_engine(net, profiles=[PROFILE, {"x": [(8, 6), (8, 6), (16, 6)]}], device="cpu")
    assert engine.num_optimization_profiles == 2
    _check(engine)


def test_save_plan_and_load_engine(tmp_path):
    engine = inferrt.build_engine(_onnx_model(), profiles=PROFILE, device="cpu")
    path = tmp_path / "m.plan"
    inferrt.save_plan(engine, path)
    assert path.read_bytes() == bytes(engine.serialize())
    _check(inferrt.load_engine(str(path)))
    _check(inferrt.load_engine(path))                          # os.PathLike
    _check(inferrt.load_engine(path.read_bytes()))             # bytes
    _check(inferrt.load_engine(engine.serialize()))            # IHostMemory
    _check(inferrt.load_engine(io.BytesIO(path.read_bytes())))  # a binary file object
    inferrt.save_plan(engine.serialize(), tmp_path / "again.plan")
    assert (tmp_path / "again.plan").read_bytes() == path.read_bytes()


def test_runtime_deserializes_from_a_file_object(tmp_path):
    engine = inferrt.build_engine(_onnx_model(), profiles=PROFILE, device="cpu")
    with open(tmp_path / "m.plan", "wb") as f:
        f.write(engine.serialize())
    with open(tmp_path / "m.plan", "rb") as f:
        _check(inferrt.Runtime(inferrt.Logger()).deserialize_cuda_engine(f.read()))


def test_errors_are_exceptions(tmp_path):
    with pytest.raises(inferrt.BuildError, match="'x'"):   # dynamic input without a profile
        inferrt.build_engine(_onnx_model(), device="cpu")
    with pytest.raises(inferrt.BuildError, match="min <= opt <= max"):
        inferrt.build_engine(_onnx_model(), profiles={"x": [(4, 6), (2, 6), (1, 6)]}, device="cpu")
    with pytest.raises(inferrt.ParseError) as info:
        inferrt.build_engine(b"definitely not onnx", device="cpu")
    assert info.value.errors
    with pytest.raises(inferrt.ParseError):
        inferrt.build_engine(str(tmp_path / "missing.onnx"), device="cpu")
    with pytest.raises(TypeError, match="INetworkDefinition"):
        inferrt.build_engine(12345)
    with pytest.raises(inferrt.PlanError, match="cannot read plan file"):
        inferrt.load_engine(str(tmp_path / "missing.plan"))
    with pytest.raises(inferrt.PlanError):
        inferrt.load_engine(b"\x00" * 1000)


def test_build_engine_from_torch_module_with_dynamic_batch():
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 5))
    model.eval()
    engine = inferrt.build_engine(model, example_inputs=torch.randn(2, 3, 16, 16), input_names=["image"],
                                  device="cpu", profiles={"image": [(1, 3, 16, 16), (2, 3, 16, 16), (4, 3, 16, 16)]})
    assert engine.input_names == ["image"]
    ctx = engine.create_execution_context()
    for batch in (1, 4):
        x = torch.randn(batch, 3, 16, 16)
        got = list(ctx.infer({"image": x.numpy()}).values())[0]
        with torch.no_grad():
            ref = model.double()(x.double()).numpy()
        model.float()
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


def test_build_engine_from_torch_module_with_multihead_attention():
    """In eval mode without grad, nn.MultiheadAttention takes PyTorch's fused fast path, which traces to
    aten::_native_multi_head_attention (no ONNX mapping): the export turns the fast path off, and restores it."""
    import torch

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = torch.nn.MultiheadAttention(16, 4, batch_first=True)

        def forward(self, x):
            return self.attn(x, x, x, need_weights=False)[0]

    torch.manual_seed(0)
    model = Block().eval()
    x = torch.randn(2, 5, 16)
    assert torch.backends.mha.get_fastpath_enabled()
    engine = inferrt.build_engine(model, example_inputs=(x,), device="cpu")
    assert torch.backends.mha.get_fastpath_enabled()
    got = list(engine.create_execution_context().infer({"input_0": x.numpy()}).values())[0]
    with torch.no_grad():
        ref = model.double()(x.double()).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


def test_build_engine_from_torch_module_needs_example_inputs():
    import torch

    with pytest.raises(TypeError, match="example_inputs"):
        inferrt.build_engine(torch.nn.Linear(3, 2), device="cpu")
