"""The Triton GEMM template (tactics/triton_gemm.py, tactic ``triton_gemm``) on the CPU through Triton's interpreter,
against float64 torch: plain and fused products (bias, GELU erf / tanh, residual adds, scaling), transposed operands,
runtime batched B with broadcast batch dims, FP16 / FP32 operands, a channels-last output; and the tactic's support
rules and tuning-space pruning (no Triton needed). BF16 runs only in the GPU tests (test_triton_gemm_gpu.py): Triton
3.8's interpreter multiplies BF16 ``tl.dot`` operands as their raw 16-bit patterns.

``TRITON_INTERPRET=1`` must be set before Triton is imported, so the kernels run in one subprocess (this file run as a
script), which prints each case's error and tolerance as JSON.
"""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from inferrt.enums import DataType, MatrixOperation as MO
from inferrt.ir.graph import Node
from inferrt.ops import Spec, get_op
from inferrt.ops.base import Attrs
from tests.tactics.interpret import run_interpreted_module
from tests.helpers import tolerance

SMALL = {"BLOCK_M": 16, "BLOCK_N": 32, "BLOCK_K": 16, "num_warps": 4, "num_stages": 2, "GROUP_M": 8}
TORCH_DT = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}
#: (rtol, atol) per dtype (tests/helpers.py); atol is relative to the reference's largest magnitude
TOL = {"f32": tolerance(np.float32), "f16": tolerance(np.float16), "bf16": tolerance("bfloat16"),
       "tf32": tolerance("tf32")}


def _node(kind, x, w, out_dt, op0=MO.NONE, op1=MO.NONE, bias=None, residual=None, epilogue=()):
    """(node, specs) of a product of specs ``x`` and ``w``."""
    ins, specs = ["x", "w"], {"x": x, "w": w}
    if bias is not None:
        ins.append("b")
        specs["b"] = bias
    if residual is not None:
        ins += [""] * (3 - len(ins)) + ["r"]
        specs["r"] = residual
    attrs = Attrs(op0=op0, op1=op1) if kind == "matrix_multiply" else Attrs(op0=op0, op1=op1,
                                                                            epilogue=[list(s) for s in epilogue])
    node = Node("mm", kind, ins, ["y"], attrs)
    (specs["y"],) = get_op(kind).infer(attrs, [specs[i] if i else None for i in ins])
    assert specs["y"].dtype == out_dt
    return node, specs


# ------------------------------------------------------------------------------------------ interpreter cases
def _cases():
    """name -> (node kwargs, input shapes, dtype, point overrides)."""
    return {
        "plain_f32_odd": (dict(kind="matrix_multiply"), {"x": (37, 40), "w": (40, 45)}, "f32", {}),
        "plain_transposed_both": (dict(kind="matrix_multiply", op0=MO.TRANSPOSE, op1=MO.TRANSPOSE),
                                  {"x": (40, 21), "w": (19, 40)}, "f32", {"GROUP_M": 1}),
        "bias_gelu_erf_residual_f32": (dict(kind="fused_matmul", op1=MO.TRANSPOSE,
                                            epilogue=[["act", "GELU_ERF", 0.0, 0.0], ["add", 3]]),
                                       {"x": (2, 19, 24), "w": (1, 33, 24), "b": (1, 1, 33), "r": (2, 19, 33)},
                                       "f32", {}),
        "bias_gelu_tanh_f16": (dict(kind="fused_matmul", epilogue=[["act", "GELU_TANH", 0.0, 0.0]]),
                               {"x": (3, 11, 40), "w": (40, 50), "b": (1, 1, 50)}, "f16", {"BLOCK_K": 32}),
        "residual_broadcast_relu_f16": (dict(kind="fused_matmul", epilogue=[["add", 3], ["act", "RELU", 0.0, 0.0]]),
                                        {"x": (2, 9, 32), "w": (32, 24), "b": (1, 1, 24), "r": (1, 1, 24)}, "f16", {}),
        "batched_runtime_b_transposed_a": (dict(kind="matrix_multiply", op0=MO.TRANSPOSE),
                                           {"x": (2, 3, 24, 17), "w": (2, 3, 24, 20)}, "f32", {}),
        "batched_broadcast_b": (dict(kind="fused_matmul", epilogue=[["act", "CLIP", -0.5, 0.5]]),
                                {"x": (2, 3, 16, 24), "w": (1, 3, 24, 20)}, "f16", {"BLOCK_K": 32}),
        "residual_widens_batch": (dict(kind="fused_matmul", epilogue=[["add", 3]]),
                                  {"x": (1, 5, 24), "w": (24, 18), "r": (3, 5, 18)}, "f32", {}),
        "channels_last_output": (dict(kind="fused_matmul", epilogue=[["act", "SIGMOID", 0.0, 0.0]]),
                                 {"x": (2, 4, 5, 8), "w": (8, 6)}, "f32", {"channels_last": True}),
        "tma_f16_aligned": (dict(kind="fused_matmul", epilogue=[["add", 3]]),
                            {"x": (2, 24, 64), "w": (64, 48), "b": (1, 1, 48), "r": (2, 24, 48)}, "f16", {}),
        "empty_k": (dict(kind="fused_matmul", epilogue=[["act", "HARD_SIGMOID", 0.2, 0.5]]),
                    {"x": (4, 0), "w": (0, 5), "b": (1, 5)}, "f32", {}),
    }


def _reference(torch, node, t):
    """float64 torch: the product, + bias, then the epilogue steps."""
    import torch.nn.functional as F

    x, w = t["x"].double(), t["w"].double()
    a = node.attrs
    if a.op0 == MO.TRANSPOSE:
        x = x.transpose(-1, -2)
    if a.op1 == MO.TRANSPOSE:
        w = w.transpose(-1, -2)
    y = torch.matmul(x, w)
    if "b" in t:
        y = y + t["b"].double()
    acts = {"GELU_ERF": lambda v, al, be: F.gelu(v), "GELU_TANH": lambda v, al, be: F.gelu(v, approximate="tanh"),
            "RELU": lambda v, al, be: torch.relu(v), "SIGMOID": lambda v, al, be: torch.sigmoid(v),
            "CLIP": lambda v, al, be: v.clamp(al, be), "HARD_SIGMOID": lambda v, al, be: (v * al + be).clamp(0, 1)}
    for s in a.get("epilogue", []):
        y = y + t["r"].double() if s[0] == "add" else acts[s[1]](y, s[2], s[3])
    return y


def excess(got, ref, rtol_atol) -> float:
    """The largest |got - ref| / (rtol·|ref| + atol·max|ref|) (float64 tensors; <= 1 passes; 0 when empty)."""
    if ref.numel() == 0:
        return 0.0
    rtol, atol = rtol_atol
    scale = max(ref.abs().max().item(), 1.0)
    return ((got - ref).abs() / (rtol * ref.abs() + atol * scale)).max().item()


def run_case(case, point, device="cpu", tol=None, tactic_name="triton_gemm") -> dict:
    """Run one case of ``_cases()`` through the tactic at ``point`` on ``device``: how far it is from float64 torch,
    in units of the dtype's tolerance (or of ``tol``'s row of TOL)."""
    import torch

    from inferrt.dtypes import from_torch_dtype
    from inferrt.tactics.registry import get_tactic

    kw, shapes, dt, over = case
    tactic = get_tactic(tactic_name)
    tdt = getattr(torch, TORCH_DT[dt])
    gen = torch.Generator().manual_seed(0)
    t = {k: torch.randn(s, generator=gen).to(tdt).to(device) for k, s in shapes.items()}
    sdt = from_torch_dtype(tdt)
    kw = dict(kw)
    kind = kw.pop("kind")
    node, specs = _node(kind, Spec(sdt, shapes["x"]), Spec(sdt, shapes["w"]), sdt,
                        bias=Spec(sdt, shapes["b"]) if "b" in shapes else None,
                        residual=Spec(sdt, shapes["r"]) if "r" in shapes else None, **kw)
    over = dict(over)
    channels_last = over.pop("channels_last", False)
    point = dict(point, **over)
    assert get_tactic("triton_gemm").supports(node, specs, "cuda")
    run = tactic.prepare(node, torch.device(device), point)
    out = torch.full(specs["y"].shape, float("nan"), dtype=tdt, device=device)
    if channels_last:
        out = out.contiguous(memory_format=torch.channels_last)
    run([t.get(i) for i in ("x", "w", "b", "r")[:len(node.inputs)]], [out])
    ref = _reference(torch, node, {k: v.cpu() for k, v in t.items()})
    got = out.cpu().double()
    layout_kept = out.is_contiguous(memory_format=torch.channels_last) if channels_last else True
    return {"excess": excess(got, ref, TOL[tol or dt]), "ok": run.launchers[0].point == point and layout_kept,
            "launcher": run.launchers[0]}


def scaling_case(device="cpu") -> dict:
    """A scaling program (C = 0.125 * (A @ B) + bias): the template runs any program of the epilogue vocabulary."""
    import torch

    from inferrt.tactics.triton_gemm import GEMM_SPACE, GemmLauncher

    gen = torch.Generator().manual_seed(1)
    a, b, bias = (torch.randn(s, generator=gen).to(device) for s in ((1, 20, 24), (1, 24, 12), (12,)))
    prog = [["input", 0], ["scalar", 0.125, "FLOAT"], ["binary", "PROD", 0, 1], ["input", 1], ["binary", "SUM", 2, 3]]
    out = torch.empty(1, 20, 12, device=device)
    GemmLauncher(prog, dict(GEMM_SPACE.default, BLOCK_M=16, BLOCK_N=16, BLOCK_K=16))(
        out, a, b, [bias.view(1, 1, 12).expand(1, 20, 12)])
    ref = 0.125 * (a.double() @ b.double()) + bias.double()
    return {"excess": excess(out.cpu().double(), ref.cpu(), TOL["f32"]), "ok": True}


#: cases the TMA variant takes (B without batch, A not transposed): name -> whether the operands suit TMA (else the
#: plain template runs, at the same point)
TMA_CASES = {"plain_f32_odd": False, "bias_gelu_erf_residual_f32": True, "bias_gelu_tanh_f16": False,
             "tma_f16_aligned": True, "channels_last_output": False}


def _run_interpreted() -> dict:
    from inferrt.tactics import triton_gemm_tma

    results = {name: run_case(case, SMALL) for name, case in _cases().items()}
    results["scaling_program"] = scaling_case()
    calls = []
    real = triton_gemm_tma.GemmTmaLauncher.__call__

    def counted(self, *args):
        calls.append(1)
        return real(self, *args)

    triton_gemm_tma.GemmTmaLauncher.__call__ = counted
    for name in TMA_CASES:
        calls.clear()
        r = run_case(_cases()[name], SMALL, tactic_name="triton_gemm_tma")
        results["tma:" + name] = dict(r, ok=r["ok"] and bool(calls) == TMA_CASES[name])
    for r in results.values():
        r.pop("launcher", None)
    return results


def _run_engines() -> dict:
    """Engines whose products, convolutions and add + LayerNorms all run the Triton tactics (allowed on the CPU for
    this process only, and chosen by an algorithm selector) against unoptimized engines: network name -> tactics
    used, excess."""
    import inferrt as trt
    from inferrt.tactics import registry
    from tests.passes.nets import build_engine, dyn_profile, rand, resnet_block_network, transformer_network

    from tests.passes.test_fuse_norms_add_layer_norm import _net as add_ln_network

    mine = ("triton_gemm", "triton_conv_nhwc", "triton_add_layer_norm")
    registry._load()
    for name in mine:
        registry.TACTICS[name].devices = ("cpu", "cuda")

    class Only(trt.IAlgorithmSelector):
        def select_algorithms(self, name, choices):
            return [c for c in choices if c in mine]

        def report_algorithms(self, names, choices):
            pass

    out = {}
    nets = {"transformer": (transformer_network, {"x": (1, 8, 32)}),
            "resnet_block": (resnet_block_network, {"x": (1, 8, 8, 8)}),
            "add_layer_norm": (add_ln_network, {"a": (1, 5, 16), "r": (1, 5, 16)})}
    for name, (make, shapes) in nets.items():
        builder, net = make()
        prof = {k: v for s in shapes for k, v in dyn_profile(s, shapes[s]).items()}
        fast = build_engine(builder, net, "cpu", prof, Only())
        ref = build_engine(builder, net, "cpu", prof, passes=[])
        used = sorted({n.info.tactic for n in fast.graph.nodes if n.kind in (
            "fused_matmul", "matrix_multiply", "fused_conv", "convolution", "add_layer_norm")})
        worst = 0.0
        for b in (1, 3):
            feeds = {k: rand(b, *v[1:]) for k, v in shapes.items()}
            got = fast.create_execution_context().infer(feeds)
            want = ref.create_execution_context().infer(feeds)
            rtol, atol = TOL["f32"]
            for k in want:
                g, w = (np.asarray(v[k], dtype=np.float64) for v in (got, want))
                worst = max(worst, float(np.max(np.abs(g - w) / (rtol * np.abs(w) + atol * max(np.abs(w).max(),
                                                                                               1.0)))))
        out[name] = {"tactics": used, "excess": worst}
    return out


def _interpret(mode):
    return run_interpreted_module("tests.tactics.test_triton_gemm", mode)


@pytest.fixture(scope="module")
def interpreted():
    return _interpret("kernels")


def test_interpreted_engines_match_unoptimized():
    expect = {"transformer": ["triton_gemm"], "resnet_block": ["triton_conv_nhwc"],
              "add_layer_norm": ["triton_add_layer_norm"]}
    got = _interpret("engines")
    assert sorted(got) == sorted(expect)
    for net, r in got.items():
        assert r["tactics"] == expect[net] and r["excess"] <= 1.0, (net, r)


@pytest.mark.parametrize("case", list(_cases()) + ["scaling_program"] + ["tma:" + n for n in TMA_CASES])
def test_interpreted_kernel_matches_float64(interpreted, case):
    r = interpreted[case]
    assert r["excess"] <= 1.0, (case, r)
    assert r["ok"], (case, r)  # the launcher runs the point it was prepared at; a channels-last output stays so


# ------------------------------------------------------------------------------------------ rules, no Triton
F32 = DataType.FLOAT


def test_supports_rules():
    pytest.importorskip("triton")
    from inferrt.tactics.registry import get_tactic

    t = get_tactic("triton_gemm")
    node, specs = _node("matrix_multiply", Spec(F32, (8, 16)), Spec(F32, (16, 4)), F32)
    assert t.supports(node, specs, "cuda") and not t.supports(node, specs, "cpu")
    node, specs = _node("matrix_multiply", Spec(F32, (8, 16)), Spec(F32, (16,)), F32, op1=MO.VECTOR)
    assert not t.supports(node, specs, "cuda")
    i32 = DataType.INT32
    node, specs = _node("matrix_multiply", Spec(i32, (8, 16)), Spec(i32, (16, 4)), i32)
    assert not t.supports(node, specs, "cuda")
    node, specs = _node("fused_matmul", Spec(F32, (8, 16)), Spec(F32, (16, 4)), F32,
                        epilogue=[["act", "GELU_ERF", 0.0, 0.0]])
    assert t.supports(node, specs, "cuda")
    node, specs = _node("fused_matmul", Spec(F32, (1, 16)), Spec(F32, (16, 4)), F32, residual=Spec(F32, (6, 4)),
                        epilogue=[["add", 3]])
    assert specs["y"].shape == (6, 4) and not t.supports(node, specs, "cuda")   # the residual widens the rows


def test_tma_variant_supports_unbatched_b_and_plain_a(monkeypatch):
    pytest.importorskip("triton")
    from inferrt.tactics import tactic_triton_gemm
    from inferrt.tactics.registry import get_tactic

    t = get_tactic("triton_gemm_tma")
    node, specs = _node("fused_matmul", Spec(F32, (4, 8, 16)), Spec(F32, (1, 16, 24)), F32)
    monkeypatch.setattr(tactic_triton_gemm, "hopper_or_later", lambda device=None: False)
    assert not t.supports(node, specs, "cuda")   # before Hopper: the plain template only
    monkeypatch.setattr(tactic_triton_gemm, "hopper_or_later", lambda device=None: True)
    assert t.supports(node, specs, "cuda")
    node, specs = _node("fused_matmul", Spec(F32, (4, 8, 16)), Spec(F32, (4, 16, 24)), F32)
    assert not t.supports(node, specs, "cuda")   # B with a batch
    node, specs = _node("fused_matmul", Spec(F32, (16, 8)), Spec(F32, (16, 24)), F32, op0=MO.TRANSPOSE)
    assert not t.supports(node, specs, "cuda")   # A read through its transpose


def test_space_prunes_tiles_larger_than_the_problem():
    from inferrt.tactics.triton_gemm import GEMM_SPACE, gemm_fits

    # a decode-sized product: M = 2 rows keeps BLOCK_M = 16 only, N = 24 keeps BLOCK_N = 32 only
    node, specs = _node("fused_matmul", Spec(F32, (2, 64)), Spec(F32, (64, 24)), F32)
    pts = GEMM_SPACE.points(node, specs)
    assert pts and {p["BLOCK_M"] for p in pts} == {16} and {p["BLOCK_N"] for p in pts} == {32}
    assert {p["GROUP_M"] for p in pts} == {8}  # one row of tiles: grouping changes nothing
    # rows of every batch fold into M when B has no batch: 4 x 64 rows keep the large tiles
    node, specs = _node("fused_matmul", Spec(F32, (4, 64, 256)), Spec(F32, (256, 256)), F32)
    pts = GEMM_SPACE.points(node, specs)
    assert pts[0] == GEMM_SPACE.default and any(p["BLOCK_M"] == 128 for p in pts)
    # the shared-memory ring: 4 stages of 128x64 + 64x128 FP32 tiles (256 KiB) does not fit, FP16 (128 KiB) does
    big = {"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 64, "num_warps": 8, "num_stages": 4, "GROUP_M": 8}
    assert not gemm_fits(big, (-1, -1, -1), 4) and gemm_fits(big, (-1, -1, -1), 2)
    assert all(GEMM_SPACE.check(p) is None for p in pts)


def test_dynamic_rows_keep_every_tile():
    from inferrt.tactics.triton_gemm import GEMM_SPACE

    node, specs = _node("matrix_multiply", Spec(F32, (-1, 64, 256)), Spec(F32, (256, 512)), F32)
    pts = GEMM_SPACE.points(node, specs)
    assert {p["BLOCK_M"] for p in pts} == {16, 32, 64, 128}


if __name__ == "__main__":
    print(json.dumps(_run_engines() if sys.argv[1:] == ["engines"] else _run_interpreted()))
