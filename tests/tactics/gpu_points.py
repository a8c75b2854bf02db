"""The tuning points the GPU tactic tests sweep: each test module's own small point, plus a default and a large
point shared by the Triton GEMM, convolution and quantized kernels, and the check that a run kept to its point."""
from __future__ import annotations


def gpu_points(small: dict, large_block_k: int = 32) -> dict:
    """``{"small", "default", "large"}`` tuning points; ``small`` is the module's CPU-interpreter point and
    ``large_block_k`` the large point's BLOCK_K (the quantized kernels take 64)."""
    return {
        "small": small,
        "default": {"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 32, "num_warps": 4, "num_stages": 3, "GROUP_M": 8},
        "large": {"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": large_block_k, "num_warps": 8, "num_stages": 3,
                  "GROUP_M": 8},
    }


def assert_ran_at_point(r: dict, point: dict, what) -> None:
    """``r`` (a GEMM / convolution ``run_case`` result on the GPU) is within tolerance, kept its layout, and its
    launcher compiled kernels with ``point``'s warps and stages; ``what`` names the case in the failure."""
    assert r["excess"] <= 1.0 and r["ok"], (what, r)
    compiled = r["launcher"].compiled_kernels()
    assert compiled and all(c.metadata.num_warps == point["num_warps"] for c in compiled)
    assert all(c.metadata.num_stages == point["num_stages"] for c in compiled)
