"""The fused layers' generic implementations on the GPU: optimized CUDA engines against unoptimized CPU ones."""
import numpy as np
import pytest

import inferrt as trt
from tests.helpers import assert_close
from tests.passes.nets import build_engine, dyn_profile, rand, resnet_block_network, transformer_network

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("make,shape", [
    (resnet_block_network, (1, 8, 8, 8)),  # NHWC formats (broadcast operands of channels-last outputs)
    (lambda: transformer_network(), (1, 8, 32)),
    (lambda: transformer_network(kv_heads=2, mask="causal", primitive_softmax=True), (1, 8, 32)),
    (lambda: transformer_network(key_layout="shuffle"), (1, 8, 32)),
])
def test_optimized_cuda_engine_matches_unoptimized_cpu(make, shape):
    builder, net = make()
    prof = dyn_profile("x", shape)
    gpu = build_engine(builder, net, "cuda", prof)
    kinds = {n.kind for n in gpu.graph.nodes}
    assert kinds & {"fused_conv", "attention"}
    cpu = build_engine(builder, net, "cpu", prof, passes=[])
    for b in (2, 3):
        x = rand(b, *shape[1:])
        got = gpu.create_execution_context().infer({"x": x})["y"]
        ref = cpu.create_execution_context().infer({"x": x})["y"]
        assert_close(np.asarray(got), ref, rtol=2e-3, atol=2e-3)   # cuDNN may still use TF32
