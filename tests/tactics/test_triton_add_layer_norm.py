"""The fused residual add + LayerNorm kernel (tactics/triton_add_layer_norm.py, tactic ``triton_add_layer_norm``) on
the CPU through Triton's interpreter, against float64 torch (the sum rounded to the data's type first, as the unfused
add stores it): broadcast residuals, optional scale / bias, normalized tails of one and two axes, the sum stored or
not, FP32 / FP16; and the tactic's support rules and warp pruning.

``TRITON_INTERPRET=1`` must be set before Triton is imported, so the kernels run in one subprocess (this file run as a
script), which prints each case's result as JSON.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from inferrt.enums import DataType
from inferrt.ir.graph import Node
from inferrt.ops import Spec, get_op
from inferrt.ops.base import Attrs
from tests.tactics.interpret import run_interpreted_module
from tests.helpers import tolerance

TOL = {"f32": tolerance(np.float32), "f16": tolerance(np.float16), "bf16": tolerance("bfloat16")}
TORCH_DT = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}


def ln_node(x, r, scale=None, bias=None, axes=None, dt=DataType.FLOAT, keep_sum=True, eps=1e-5):
    """(node, specs) of an add_layer_norm of specs shaped ``x`` + ``r`` (last axis unless ``axes``)."""
    specs = {"x": Spec(dt, tuple(x)), "r": Spec(dt, tuple(r))}
    ins = ["x", "r"]
    for name, shp in (("w", scale), ("b", bias)):
        ins.append(name if shp is not None else "")
        if shp is not None:
            specs[name] = Spec(dt, tuple(shp))
    while not ins[-1]:
        ins.pop()
    attrs = Attrs(axes=axes if axes is not None else 1 << (len(x) - 1), epsilon=eps)
    outs = ["y", "s"] if keep_sum else ["y"]
    node = Node("aln", "add_layer_norm", ins, outs, attrs)
    for o, spec in zip(outs, get_op("add_layer_norm").infer(attrs, [specs[i] if i else None for i in ins])):
        specs[o] = spec
    return node, specs


def _cases():
    """name -> (ln_node kwargs, dtype, num_warps)."""
    return {
        "pos_embedding_broadcast_f32": (dict(x=(3, 7, 48), r=(1, 7, 48), scale=(48,), bias=(1, 1, 48)), "f32", 4),
        "no_coefficients_f16_no_sum": (dict(x=(5, 100), r=(5, 100), keep_sum=False), "f16", 2),
        "two_axis_tail_rank5": (dict(x=(2, 2, 2, 3, 20), r=(2, 2, 2, 3, 20), scale=(1, 20), bias=(3, 1),
                                     axes=0b11000, eps=1e-3), "f32", 1),
        "scale_only_f16": (dict(x=(4, 33), r=(1, 33), scale=(1, 33)), "f16", 8),
    }


def run_case(case, device="cpu") -> dict:
    import torch

    from inferrt.dtypes import from_torch_dtype
    from inferrt.tactics.registry import get_tactic

    kw, dt, warps = case
    tdt = getattr(torch, TORCH_DT[dt])
    node, specs = ln_node(dt=from_torch_dtype(tdt), **kw)
    tactic = get_tactic("triton_add_layer_norm")
    assert tactic.supports(node, specs, "cuda")
    gen = torch.Generator().manual_seed(0)
    t = {k: (torch.randn(specs[k].shape, generator=gen) * (3 if k == "x" else 1)).to(tdt)
         for k in ("x", "r", "w", "b") if k in specs}
    outs = [torch.full(specs[o].shape, float("nan"), dtype=tdt, device=device) for o in node.outputs]
    run = tactic.prepare(node, torch.device(device), {"num_warps": warps})
    run([t[i].to(device) if i else None for i in node.inputs], outs)
    s = (t["x"] + t["r"]).double()   # the add rounds to the data's type
    axes = tuple(i for i in range(s.dim()) if node.attrs.axes >> i & 1)
    var, mean = torch.var_mean(s, dim=axes, keepdim=True, correction=0)
    ref = (s - mean) / torch.sqrt(var + node.attrs.epsilon)
    if "w" in t:
        ref = ref * t["w"].double()
    if "b" in t:
        ref = ref + t["b"].double()
    rtol, atol = TOL[dt]
    got = outs[0].cpu().double()
    res = {"excess": ((got - ref).abs() / (rtol * ref.abs() + atol * max(ref.abs().max().item(), 1.0))).max().item(),
           "sum_exact": len(outs) == 1 or bool(torch.equal(outs[1].cpu(), (t["x"] + t["r"]).expand(outs[1].shape))),
           "warps": run.launchers[0].num_warps == warps}
    return res


def _run_interpreted() -> dict:
    return {name: run_case(case) for name, case in _cases().items()}


@pytest.fixture(scope="module")
def interpreted():
    return run_interpreted_module("tests.tactics.test_triton_add_layer_norm")


@pytest.mark.parametrize("case", list(_cases()))
def test_interpreted_kernel_matches_float64(interpreted, case):
    r = interpreted[case]
    assert r["excess"] <= 1.0 and r["sum_exact"] and r["warps"], (case, r)


def test_supports_rules():
    pytest.importorskip("triton")
    from inferrt.tactics.registry import get_tactic

    t = get_tactic("triton_add_layer_norm")
    node, specs = ln_node((2, 8, 32), (2, 8, 32), (32,), (32,))
    assert t.supports(node, specs, "cuda") and not t.supports(node, specs, "cpu")
    node, specs = ln_node((2, 8, 32), (2, 8, 32), (1, 8, 32))     # the scale varies over the rows
    assert not t.supports(node, specs, "cuda")
    node, specs = ln_node((2, 32768), (2, 32768))                  # wider than a program's block
    assert not t.supports(node, specs, "cuda")
    node, specs = ln_node((2, 8, 32), (2, 8, 32), dt=DataType.FLOAT)
    specs["x"] = Spec(DataType.HALF, (2, 8, 32))                   # mixed types
    assert not t.supports(node, specs, "cuda")


def test_warps_follow_the_row_length():
    from inferrt.tactics.tactic_triton_add_layer_norm import ADD_LN_SPACE

    warps = lambda d: sorted(p["num_warps"] for p in ADD_LN_SPACE.points(*ln_node((4, d), (4, d))))  # noqa: E731
    assert warps(16) == [1]                  # 16 lanes of one warp already idle half of it
    assert warps(1000) == [1, 2, 4, 8, 16]   # a 1024 block: 2..32 elements per thread
    assert warps(16384) == [16]              # 32 per thread with 16 warps, more with fewer
    assert ADD_LN_SPACE.points(*ln_node((4, 1000), (4, 1000)))[0] == {"num_warps": 4}


if __name__ == "__main__":
    print(json.dumps(_run_interpreted()))
