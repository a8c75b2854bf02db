"""The implicit-GEMM NHWC convolution (tactics/triton_conv.py, tactic ``triton_conv_nhwc``) on the CPU through Triton's
interpreter, against float64 torch: stride, asymmetric and SAME padding, dilation, bias + residual + activation
epilogues, channels-last and NCHW tensors, FP16 / FP32; and the tactic's support rules and tuning-space pruning.

``TRITON_INTERPRET=1`` must be set before Triton is imported, so the kernels run in one subprocess (this file run as a
script), which prints each case's error and tolerance as JSON.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from inferrt.enums import DataType, PaddingMode as PM
from inferrt.ir.graph import Node
from inferrt.ops import Spec, get_op
from inferrt.ops.base import Attrs
from tests.tactics.interpret import run_interpreted_module
from tests.helpers import tolerance
from tests.tactics.test_triton_gemm import excess

SMALL = {"BLOCK_M": 32, "BLOCK_N": 32, "BLOCK_K": 16, "num_warps": 4, "num_stages": 2, "GROUP_M": 8}
TORCH_DT = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}
#: (rtol, atol) per dtype (tests/helpers.py); atol is relative to the reference's largest magnitude
TOL = {"f32": tolerance(np.float32), "f16": tolerance(np.float16), "bf16": tolerance("bfloat16"),
       "tf32": tolerance("tf32")}


def conv_node(x_shape, oc, k, dt=DataType.FLOAT, stride=(1, 1), pre=(0, 0), post=(0, 0), dil=(1, 1), groups=1,
              mode=PM.EXPLICIT_ROUND_DOWN, bias=True, residual=None, epilogue=(), kind="fused_conv"):
    """(node, specs) of a 2-D convolution of an ``x_shape`` input into ``oc`` maps with a ``k`` kernel."""
    attrs = Attrs(num_output_maps=oc, kernel_size_nd=tuple(k), stride_nd=tuple(stride), pre_padding=tuple(pre),
                  post_padding=tuple(post), dilation_nd=tuple(dil), num_groups=groups, padding_mode=mode,
                  kernel=None, bias=None)
    if kind == "fused_conv":
        attrs.update(output_padding=(), transposed=False, epilogue=[list(s) for s in epilogue])
    specs = {"x": Spec(dt, tuple(x_shape)), "w": Spec(dt, (oc, x_shape[1] // groups, *k))}
    ins = ["x", "w"]
    if bias:
        ins.append("b")
        specs["b"] = Spec(dt, (oc,))
    if residual is not None:
        ins += [""] * (3 - len(ins)) + ["r"]
        specs["r"] = Spec(dt, tuple(residual))
    full = Attrs(get_op(kind).default_attrs())
    full.update(attrs)
    node = Node("conv", kind, ins, ["y"], full)
    (specs["y"],) = get_op(kind).infer(full, [specs[i] if i else None for i in ins])
    return node, specs


def _cases():
    """name -> (conv_node kwargs, dtype, channels-last, point overrides)."""
    return {
        "3x3_pad1_bias_relu": (dict(x_shape=(2, 20, 7, 9), oc=24, k=(3, 3), pre=(1, 1), post=(1, 1),
                                    epilogue=[["act", "RELU", 0.0, 0.0]]), "f32", True, {}),
        "stride2_asym_pad_residual": (dict(x_shape=(1, 8, 9, 8), oc=12, k=(3, 3), stride=(2, 2), pre=(0, 1),
                                           post=(1, 0), residual=(1, 12, 4, 4),
                                           epilogue=[["add", 3], ["act", "GELU_ERF", 0.0, 0.0]]), "f32", True, {}),
        "dilated_same_upper_f16": (dict(x_shape=(2, 16, 6, 7), oc=8, k=(3, 3), dil=(2, 2), mode=PM.SAME_UPPER,
                                        epilogue=[["act", "GELU_TANH", 0.0, 0.0]]), "f16", True, {"BLOCK_N": 32}),
        "1x1_nchw_no_bias": (dict(x_shape=(2, 24, 5, 5), oc=40, k=(1, 1), bias=False, kind="convolution"),
                             "f32", False, {"BLOCK_K": 32}),
        "residual_broadcast_channel": (dict(x_shape=(1, 3, 8, 8), oc=5, k=(5, 5), pre=(2, 2), post=(2, 2),
                                            residual=(1, 5, 1, 1), epilogue=[["add", 3], ["act", "CLIP", 0.0, 6.0]]),
                                       "f16", True, {}),
        "round_up_window": (dict(x_shape=(1, 4, 6, 6), oc=4, k=(3, 3), stride=(2, 2), mode=PM.EXPLICIT_ROUND_UP),
                            "f32", True, {}),
    }


def _reference(torch, node, t):
    import torch.nn.functional as F

    from inferrt.ops.conv import resolve_padding, spatial_params

    a = node.attrs
    x = t["x"].double()
    k, s, d, pre, post = spatial_params(a, 2)
    pre, post = resolve_padding(a.padding_mode, x.shape[2:], k, s, d, pre, post)
    if a.padding_mode == PM.EXPLICIT_ROUND_UP:   # windows past the end read zeros: pad enough on the far side
        post = tuple(p + s[i] - 1 for i, p in enumerate(post))
    x = F.pad(x, (pre[1], post[1], pre[0], post[0]))
    y = F.conv2d(x, t["w"].double(), t["b"].double() if "b" in t else None, s, 0, d)
    acts = {"RELU": torch.relu, "GELU_ERF": F.gelu, "GELU_TANH": lambda v: F.gelu(v, approximate="tanh"),
            "CLIP": lambda v: v.clamp(0.0, 6.0)}
    for st in a.get("epilogue", []):
        y = y + t["r"].double() if st[0] == "add" else acts[st[1]](y)
    return y


def run_case(case, point, device="cpu", tol=None) -> dict:
    """One case of ``_cases()`` through the tactic at ``point`` on ``device``: how far it is from float64 torch, in
    units of the dtype's tolerance (or of ``tol``'s row of TOL)."""
    import torch

    from inferrt.dtypes import from_torch_dtype
    from inferrt.tactics.registry import get_tactic

    kw, dt, nhwc, over = case
    tdt = getattr(torch, TORCH_DT[dt])
    node, specs = conv_node(dt=from_torch_dtype(tdt), **kw)
    tactic = get_tactic("triton_conv_nhwc")
    assert tactic.supports(node, specs, "cuda")
    gen = torch.Generator().manual_seed(0)
    t = {k: torch.randn(specs[k].shape, generator=gen).to(tdt) for k in ("x", "w", "b", "r") if k in specs}
    ref = _reference(torch, node, t)
    dev = {k: v.to(device) for k, v in t.items()}
    out = torch.full(specs["y"].shape, float("nan"), dtype=tdt, device=device)
    if nhwc:
        dev = {k: v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v for k, v in dev.items()}
        out = out.contiguous(memory_format=torch.channels_last)
    point = dict(point, **over)
    run = tactic.prepare(node, torch.device(device), point)
    run([dev.get(i) for i in ("x", "w", "b", "r")[:len(node.inputs)]], [out])
    assert tuple(out.shape) == tuple(ref.shape), (tuple(out.shape), tuple(ref.shape))
    kept = out.is_contiguous(memory_format=torch.channels_last) if nhwc else out.is_contiguous()
    return {"excess": excess(out.cpu().double(), ref, TOL[tol or dt]), "ok": run.launchers[0].point == point and kept,
            "launcher": run.launchers[0]}


def _run_interpreted() -> dict:
    results = {name: run_case(case, SMALL) for name, case in _cases().items()}
    for r in results.values():
        r.pop("launcher", None)
    return results


@pytest.fixture(scope="module")
def interpreted():
    return run_interpreted_module("tests.tactics.test_triton_conv")


@pytest.mark.parametrize("case", list(_cases()))
def test_interpreted_kernel_matches_float64(interpreted, case):
    r = interpreted[case]
    assert r["excess"] <= 1.0, (case, r)
    assert r["ok"], (case, r)   # the launcher runs its point; the output keeps its layout


def test_supports_rules():
    pytest.importorskip("triton")
    from inferrt.tactics.registry import get_tactic

    t = get_tactic("triton_conv_nhwc")
    node, specs = conv_node((1, 8, 6, 6), 8, (3, 3))
    assert t.supports(node, specs, "cuda") and not t.supports(node, specs, "cpu")
    node, specs = conv_node((1, 8, 6, 6), 8, (3, 3), groups=8)   # depthwise: cuDNN's
    assert not t.supports(node, specs, "cuda")
    node, specs = conv_node((1, 8, 6), 8, (3,), stride=(1,), pre=(0,), post=(0,), dil=(1,))   # 1-D
    assert not t.supports(node, specs, "cuda")
    node, specs = conv_node((1, 8, 6, 6), 8, (3, 3), kind="convolution", bias=False)
    assert t.supports(node, specs, "cuda")
    node, specs = conv_node((1, 4, 5, 5), 6, (3, 3), pre=(1, 1), post=(1, 1), residual=(3, 6, 5, 5),
                            epilogue=[["add", 3]])
    assert specs["y"].shape == (3, 6, 5, 5) and not t.supports(node, specs, "cuda")   # the residual widens the batch


def test_space_reads_the_implicit_product():
    from inferrt.tactics.tactic_triton_conv import CONV_SPACE

    # 1 x 4 x 4 output pixels = 16 rows, 24 output channels, 8 input channels per tap
    node, specs = conv_node((1, 8, 4, 4), 24, (3, 3), pre=(1, 1), post=(1, 1))
    pts = CONV_SPACE.points(node, specs)
    assert {p["BLOCK_M"] for p in pts} == {16} and {p["BLOCK_N"] for p in pts} == {32}
    assert {p["BLOCK_K"] for p in pts} == {16}
    node, specs = conv_node((8, 64, 56, 56), 64, (3, 3), pre=(1, 1), post=(1, 1))
    pts = CONV_SPACE.points(node, specs, cap=None)
    assert pts[0] == CONV_SPACE.default and {p["BLOCK_M"] for p in pts} == {16, 32, 64, 128}


if __name__ == "__main__":
    print(json.dumps(_run_interpreted()))
