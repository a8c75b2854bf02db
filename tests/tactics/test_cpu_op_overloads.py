"""The CPU tactics call oneDNN's convolution and MKL's packed GEMM through the ops' overloads, resolved once per
layer, not through the op packets (``torch.ops.mkldnn._convolution_pointwise(...)``), which resolve the overload on
every call (~6 to 8 us a call, as much as a small layer's kernel)."""
from __future__ import annotations

import numpy as np
import pytest
from torch._ops import OpOverloadPacket

import inferrt as trt
from inferrt.models.mnist import build_mnist_network
from inferrt.tactics.tactic_cpu_addmm import mkl_packed_available
from inferrt.tactics.tactic_cpu_onednn import onednn_available

pytestmark = pytest.mark.skipif(not (onednn_available() and mkl_packed_available()),
                                reason="needs PyTorch's oneDNN convolution and MKL packed GEMM ops")


def _mnist(batch):
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    net = build_mnist_network(builder.create_network(0))
    cfg = builder.create_builder_config()
    cfg.device = "cpu"
    prof = builder.create_optimization_profile()
    prof.set_shape("x", *((batch, 1, 28, 28),) * 3)
    cfg.add_optimization_profile(prof)
    return trt.Runtime(trt.Logger(trt.Logger.ERROR)).deserialize_cuda_engine(builder.build(net, cfg))


def test_convolution_and_packed_gemm_skip_the_op_packets(monkeypatch):
    batch = 8   # fc1 is 8 x 1568 @ 1568 x 128: the packed GEMM's range (cpu_addmm PACK_MIN_ROWS / PACK_MIN_COLS)
    eng = _mnist(batch)
    tactics = {n.name: n.info.tactic for n in eng.executor.graph.nodes}
    assert tactics["conv1"] == "onednn_conv" and tactics["fc1"] == "cpu_packed_gemm", tactics
    x = np.random.default_rng(0).random((batch, 1, 28, 28), dtype=np.float32)
    want = eng.create_execution_context().infer(x=x)["prob"]

    real_call = OpOverloadPacket.__call__
    called = []

    def watch(self, *args, **kwargs):
        called.append(self._qualified_op_name)
        return real_call(self, *args, **kwargs)

    monkeypatch.setattr(OpOverloadPacket, "__call__", watch)
    ctx = eng.create_execution_context()
    for _ in range(2):   # the first execution prepares the packed weights, the second is the steady state
        got = ctx.infer(x=x)["prob"]
    np.testing.assert_array_equal(got, want)
    assert not [n for n in called if "_convolution_pointwise" in n or "_mkl_linear" in n], called
