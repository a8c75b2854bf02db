"""GPU: the implicit-GEMM NHWC convolution at several tuning points (every case of test_triton_conv.py, plus BF16, a
ResNet-sized layer and TF32), against float64 torch; its compiled kernels carry the point's warps and stages; and a GPU
engine whose convolutions all run ``triton_conv_nhwc`` matches the unoptimized CPU engine."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.gpu

from tests.tactics.gpu_points import assert_ran_at_point, gpu_points  # noqa: E402
import inferrt as trt  # noqa: E402
from tests.helpers import assert_close  # noqa: E402
from tests.passes.nets import build_engine, dyn_profile, rand, resnet_block_network  # noqa: E402
from tests.tactics.test_triton_conv import SMALL, _cases, run_case  # noqa: E402

POINTS = gpu_points(SMALL)
GPU_CASES = dict(_cases(), **{
    "resnet_3x3_f16": (dict(x_shape=(4, 64, 28, 28), oc=64, k=(3, 3), pre=(1, 1), post=(1, 1), residual=(4, 64, 28, 28),
                            epilogue=[["add", 3], ["act", "RELU", 0.0, 0.0]]), "f16", True, {}),
    "stride2_bf16": (dict(x_shape=(2, 32, 15, 15), oc=48, k=(3, 3), stride=(2, 2), pre=(1, 1), post=(1, 1),
                          epilogue=[["act", "GELU_ERF", 0.0, 0.0]]), "bf16", True, {}),
})


@pytest.mark.parametrize("point", list(POINTS))
@pytest.mark.parametrize("case", list(GPU_CASES))
def test_every_case_at_every_point(case, point):
    assert_ran_at_point(run_case(GPU_CASES[case], POINTS[point], device="cuda"), POINTS[point], (case, point))


def test_fp32_follows_the_tf32_switch():
    case = GPU_CASES["3x3_pad1_bias_relu"]
    saved = torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = True
        assert run_case(case, POINTS["default"], device="cuda", tol="tf32")["excess"] <= 1.0
        torch.backends.cuda.matmul.allow_tf32 = False
        assert run_case(case, POINTS["default"], device="cuda")["excess"] <= 1.0
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved


class _OnlyTritonConv(trt.IAlgorithmSelector):
    def select_algorithms(self, name, choices):
        return [c for c in choices if c == "triton_conv_nhwc"]

    def report_algorithms(self, names, choices):
        pass


def test_engine_with_triton_conv_matches_cpu():
    builder, net = resnet_block_network()
    prof = dyn_profile("x", (1, 8, 8, 8))
    gpu = build_engine(builder, net, "cuda", prof, _OnlyTritonConv())
    convs = [n for n in gpu.graph.nodes if n.kind in ("fused_conv", "convolution")]
    assert convs and all(n.info.tactic == "triton_conv_nhwc" for n in convs), [(n.name, n.info.tactic) for n in convs]
    cpu = build_engine(builder, net, "cpu", prof, passes=[])
    for b in (1, 3):
        x = rand(b, 8, 8, 8)
        got = gpu.create_execution_context().infer({"x": x})["y"]
        ref = cpu.create_execution_context().infer({"x": x})["y"]
        assert_close(np.asarray(got), ref, rtol=2e-3, atol=2e-3)
