"""GPU: layers whose weights or bias are network inputs (not constants) never get a tactic that keeps them prepared
across executions (cast, packed or re-laid-out and cached by address, ``Tactic.constant_inputs``): new values
written at the same addresses give the new result, in FP32 and FP16."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.gpu

import torch.nn.functional as F  # noqa: E402
from helpers import FP16_ENGINE_REL_L2, assert_close, default_config_tolerance, rel_l2  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

import inferrt as trt  # noqa: E402
from inferrt.tactics.registry import get_tactic  # noqa: E402


def _model():
    """y = relu(conv(x, w, b)) flattened, then gelu(y @ m + c): every weight and bias a network input."""
    f = TensorProto.FLOAT
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["cv"], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["cv"], ["r"]),
         helper.make_node("Flatten", ["r"], ["fl"]),
         helper.make_node("MatMul", ["fl", "m"], ["mm"]),
         helper.make_node("Add", ["mm", "c"], ["ad"]),
         helper.make_node("Gelu", ["ad"], ["y"], domain="")],
        "runtime_weights",
        [helper.make_tensor_value_info("x", f, [2, 8, 8, 8]), helper.make_tensor_value_info("w", f, [16, 8, 3, 3]),
         helper.make_tensor_value_info("b", f, [16]), helper.make_tensor_value_info("m", f, [1024, 64]),
         helper.make_tensor_value_info("c", f, [64])],
        [helper.make_tensor_value_info("y", f, [2, 64])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 20)], ir_version=9)


def _reference(t):
    d = {k: v.double() for k, v in t.items()}
    r = torch.relu(F.conv2d(d["x"], d["w"], d["b"], padding=1)).flatten(1)
    return F.gelu(r @ d["m"] + d["c"])


@pytest.mark.parametrize("fp16", [False, True], ids=["fp32", "fp16"])
def test_new_weight_values_at_the_same_address_are_read(fp16):
    engine = trt.build_engine(_model().SerializeToString(), device="cuda", fp16=fp16)
    for n in engine.graph.nodes:
        if n.info.tactic:
            assert not get_tactic(n.info.tactic).constant_inputs, (n.name, n.kind, n.info.tactic)
    ctx = engine.create_execution_context()
    gen = torch.Generator().manual_seed(0)
    shapes = {"x": (2, 8, 8, 8), "w": (16, 8, 3, 3), "b": (16,), "m": (1024, 64), "c": (64,)}
    t = {k: (torch.randn(s, generator=gen) * (0.05 if k == "m" else 1.0)).cuda() for k, s in shapes.items()}
    y = torch.empty(2, 64, device="cuda")
    for name, v in t.items():
        ctx.set_input_shape(name, tuple(v.shape))
        ctx.set_tensor_address(name, v.data_ptr())
    ctx.set_tensor_address("y", y.data_ptr())
    for _ in range(3):
        assert ctx.execute_async_v3(torch.cuda.current_stream().cuda_stream)
        torch.cuda.synchronize()
        ref = _reference({k: v.cpu() for k, v in t.items()})
        if fp16:   # the FP16 engine's whole-output error bound (helpers.FP16_ENGINE_REL_L2)
            err = rel_l2(y.cpu().numpy(), ref.numpy())
            assert err < FP16_ENGINE_REL_L2, f"layers with runtime weights: relative L2 {err:.3g}"
        else:      # the default config computes FP32 products with TF32
            rtol, atol = default_config_tolerance("cuda")
            assert_close(y.cpu().numpy(), ref.numpy(), rtol=rtol, atol=atol, what="layers with runtime weights")
        for name, v in t.items():
            if name != "x":   # new weights and biases, same addresses
                v.copy_(torch.randn(v.shape, generator=gen).to(v.device) * (0.05 if name == "m" else 1.0))
