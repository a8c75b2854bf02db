"""The torch paths build the engine the ONNX path builds (issue 16): for a ResNet-style CNN, the optimized layers of
``inferrt.torch.compile``'s and ``torch.compile(backend="inferrt")``'s engine - kinds, fused epilogues (bias,
residual add, ReLU), formats and precisions - are those of the engine built from the module's ONNX export;
BatchNorm is folded (no scale layer is left) and the weights are constants (the only engine inputs are the data)."""
import io

import pytest
import torch

import inferrt
import inferrt.torch as itorch
from inferrt.ir.kinds import Kind
from inferrt.torch import backend as B
from tests.helpers import assert_close
from tests.torch.models import as_numpy, cnn, reference


def _layers(engine) -> list:
    return [(n.kind, n.attrs.get("epilogue"), n.info.format, n.info.precision)
            for n in engine.graph.nodes if n.kind != Kind.CONSTANT]


def _engine(compiled):
    (name,) = [n for n, _ in compiled.graph_module.named_children() if n.startswith("inferrt_engine")]
    return getattr(compiled.graph_module, name).engine


@pytest.fixture(scope="module")
def onnx_engine():
    m, x = cnn(), torch.randn(2, 3, 32, 32)
    buf = io.BytesIO()
    torch.onnx.export(m, (x,), buf, input_names=["x"], output_names=["y"], opset_version=17, dynamo=False)
    return inferrt.build_engine(buf.getvalue(), device="cpu")


def _check_like_onnx(engine, onnx_engine):
    layers = _layers(engine)
    assert layers == _layers(onnx_engine)
    kinds = [k for k, *_ in layers]
    assert Kind.SCALE not in kinds and kinds.count(Kind.FUSED_CONV) == 5   # every BatchNorm and ReLU folded in
    assert sum(1 for _, epi, *_ in layers if epi and ["add", 3] in epi) == 2   # both residual adds fused
    inputs = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)
              if engine.get_tensor_mode(engine.get_tensor_name(i)) == inferrt.TensorIOMode.INPUT]
    assert len(inputs) == 1   # the data only: no weight became a runtime input


def test_aot_engine_matches_the_onnx_path(onnx_engine):
    m, x = cnn(), torch.randn(2, 3, 32, 32)
    c = itorch.compile(m, (x,))
    assert c.num_engines == 1
    _check_like_onnx(_engine(c), onnx_engine)
    assert_close(as_numpy(c(x)), reference(m, x))


def test_backend_engine_matches_the_onnx_path(onnx_engine, monkeypatch):
    made = []
    real = B.DynamoGraph.__init__
    monkeypatch.setattr(B.DynamoGraph, "__init__", lambda self, *a, **k: real(self, *a, **k) or made.append(self))
    torch._dynamo.reset()
    m, x = cnn(), torch.randn(2, 3, 32, 32)
    c = torch.compile(m, backend="inferrt", dynamic=False)
    assert_close(as_numpy(c(x)), reference(m, x))
    (graph,) = made   # one dynamo graph: no graph break
    ((compiled, _, _),) = graph.builds.values()
    assert compiled.num_engines == 1
    _check_like_onnx(_engine(compiled), onnx_engine)
    torch._dynamo.reset()
