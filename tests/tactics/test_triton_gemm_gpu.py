"""GPU: the Triton GEMM tactic at several tuning points (every case of test_triton_gemm.py, plus BF16 and TF32),
against float64 torch; its compiled kernels carry the point's warps and stages; and a GPU engine whose products all run
``triton_gemm`` matches the unoptimized CPU engine."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.gpu

from tests.tactics.gpu_points import assert_ran_at_point, gpu_points  # noqa: E402
import inferrt as trt  # noqa: E402
from inferrt.enums import MatrixOperation as MO  # noqa: E402
from tests.helpers import assert_close  # noqa: E402
from tests.passes.nets import build_engine, dyn_profile, rand, transformer_network  # noqa: E402
from inferrt.tactics.tactic_triton_gemm import hopper_or_later  # noqa: E402
from tests.tactics.test_triton_gemm import SMALL, TMA_CASES, _cases, run_case, scaling_case  # noqa: E402

POINTS = gpu_points(SMALL)
GPU_CASES = dict(_cases(), **{
    "bias_gelu_erf_bf16": (dict(kind="fused_matmul", epilogue=[["act", "GELU_ERF", 0.0, 0.0], ["add", 3]]),
                           {"x": (3, 70, 96), "w": (96, 130), "b": (1, 1, 130), "r": (3, 70, 130)}, "bf16", {}),
    "transposed_b_bf16": (dict(kind="matrix_multiply", op1=MO.TRANSPOSE), {"x": (257, 64), "w": (129, 64)}, "bf16",
                          {}),
    "large_f16": (dict(kind="fused_matmul", epilogue=[["act", "GELU_TANH", 0.0, 0.0]]),
                  {"x": (4, 128, 512), "w": (512, 768), "b": (1, 1, 768)}, "f16", {}),
})


@pytest.mark.parametrize("point", list(POINTS))
@pytest.mark.parametrize("case", list(GPU_CASES))
def test_every_case_at_every_point(case, point):
    assert_ran_at_point(run_case(GPU_CASES[case], POINTS[point], device="cuda"), POINTS[point], (case, point))


#: case -> whether its operands suit TMA (else the TMA tactic runs the plain template)
TMA_GPU_CASES = dict(TMA_CASES, bias_gelu_erf_bf16=False, transposed_b_bf16=True, large_f16=True)


@pytest.mark.parametrize("point", list(POINTS))
@pytest.mark.parametrize("case", list(TMA_GPU_CASES))
def test_tma_variant_at_every_point(case, point):
    if not hopper_or_later():
        pytest.skip("the TMA variant needs compute capability 9.0+")
    r = run_case(GPU_CASES[case], POINTS[point], device="cuda", tactic_name="triton_gemm_tma")
    assert r["excess"] <= 1.0 and r["ok"], (case, point, r)
    assert bool(r["launcher"].compiled_kernels()) == TMA_GPU_CASES[case]   # the TMA kernel ran


def test_fp32_follows_the_tf32_switch():
    case = GPU_CASES["bias_gelu_erf_residual_f32"]
    saved = torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = True
        r = run_case(case, POINTS["default"], device="cuda", tol="tf32")
        assert r["excess"] <= 1.0, r
        torch.backends.cuda.matmul.allow_tf32 = False
        r = run_case(case, POINTS["default"], device="cuda")   # IEEE FP32 dots: the FP32 tolerance holds
        assert r["excess"] <= 1.0, r
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved


def test_scaling_program():
    assert scaling_case("cuda")["excess"] <= 1.0


class _Only(trt.IAlgorithmSelector):
    def __init__(self, tactic):
        self.tactic = tactic

    def select_algorithms(self, name, choices):
        return [c for c in choices if c == self.tactic]

    def report_algorithms(self, names, choices):
        pass


@pytest.mark.parametrize("tactic", ["triton_gemm", "triton_gemm_tma"])
def test_engine_with_triton_gemm_matches_cpu(tactic):
    if tactic == "triton_gemm_tma" and not hopper_or_later():
        pytest.skip("the TMA variant needs compute capability 9.0+")
    builder, net = transformer_network()
    prof = dyn_profile("x", (1, 8, 32))
    gpu = build_engine(builder, net, "cuda", prof, _Only(tactic))
    products = [n for n in gpu.graph.nodes if n.kind in ("fused_matmul", "matrix_multiply")]
    assert products and all(n.info.tactic == tactic for n in products), [
        (n.name, n.info.tactic) for n in products]
    cpu = build_engine(builder, net, "cpu", prof, passes=[])
    for b in (1, 3):
        x = rand(b, 8, 32)
        got = gpu.create_execution_context().infer({"x": x})["y"]
        ref = cpu.create_execution_context().infer({"x": x})["y"]
        assert_close(np.asarray(got), ref, rtol=2e-3, atol=2e-3)
