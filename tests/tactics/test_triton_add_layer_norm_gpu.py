"""GPU: the fused residual add + LayerNorm kernel at every warp count (every case of test_triton_add_layer_norm.py,
plus BF16 and a 4096-wide row), against float64 torch; and a GPU engine running ``triton_add_layer_norm`` matches the
unoptimized CPU engine on both outputs (the normalized value and the sum read by another layer)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.gpu

import inferrt as trt  # noqa: E402
from tests.helpers import assert_close  # noqa: E402
from tests.passes.test_fuse_norms_add_layer_norm import PROFILE, _feeds, _net  # noqa: E402
from tests.tactics.test_triton_add_layer_norm import _cases, run_case  # noqa: E402
from tests.passes.nets import build_engine  # noqa: E402

GPU_CASES = dict(_cases(), **{
    "bf16_rows": (dict(x=(8, 17, 768), r=(8, 17, 768), scale=(768,), bias=(768,)), "bf16", 4),
    "wide_row_f16": (dict(x=(6, 4096), r=(1, 4096), scale=(4096,), bias=(4096,)), "f16", 8),
})


@pytest.mark.parametrize("warps", [1, 2, 4, 8, 16])
@pytest.mark.parametrize("case", list(GPU_CASES))
def test_every_case_at_every_warp_count(case, warps):
    kw, dt, _ = GPU_CASES[case]
    r = run_case((kw, dt, warps), device="cuda")
    assert r["excess"] <= 1.0 and r["sum_exact"] and r["warps"], (case, warps, r)


class _OnlyTritonAddLN(trt.IAlgorithmSelector):
    def select_algorithms(self, name, choices):
        return [c for c in choices if c == "triton_add_layer_norm"]

    def report_algorithms(self, names, choices):
        pass


def test_engine_with_triton_add_layer_norm_matches_cpu():
    builder, net = _net()
    prof = PROFILE[0]
    gpu = build_engine(builder, net, "cuda", prof, _OnlyTritonAddLN())
    fused = [n for n in gpu.graph.nodes if n.kind == "add_layer_norm"]
    assert len(fused) == 1 and fused[0].info.tactic == "triton_add_layer_norm"
    cpu = build_engine(builder, net, "cpu", prof, passes=[])
    for feeds in _feeds():
        got = gpu.create_execution_context().infer(feeds)
        ref = cpu.create_execution_context().infer(feeds)
        for k in ("y", "z"):
            assert_close(np.asarray(got[k]), ref[k], rtol=1e-4, atol=1e-4, what=k)
