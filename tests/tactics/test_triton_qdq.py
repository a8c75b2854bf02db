"""``triton_qdq`` (tactics/tactic_triton_qdq.py): standalone quantize / dequantize layers by one Triton pass each,
on the CPU through Triton's interpreter, against the generic implementation bit for bit (ties, saturation, every
E4M3 midpoint), keeping a channels-last layout; plus the support rules. ``TRITON_INTERPRET=1`` must be set before
Triton is imported, so the kernels run in one subprocess (this file run as a script)."""
from __future__ import annotations

import json

import pytest
import torch

from inferrt.enums import DataType
from inferrt.ir.graph import Node
from inferrt.ops import Spec, get_op
from tests.tactics.interpret import numpy_index_shim, run_interpreted_module
from tests.tactics.test_triton_quantized import e4m3_rounding_values


def qdq_node(kind, x_shape, x_type, to_type, zero_point=False, block_shape=(), scale_shape=()):
    ins = ["x", "s"] + (["zp"] if zero_point else [])
    specs = {"x": Spec(x_type, tuple(x_shape)), "s": Spec(DataType.FLOAT, tuple(scale_shape))}
    if zero_point:
        specs["zp"] = Spec(x_type if kind == "dequantize" else to_type, ())
    a = get_op(kind).default_attrs()
    a.update(to_type=to_type, block_shape=block_shape)
    node = Node("q", kind, ins, ["y"], a)
    (specs["y"],) = get_op(kind).infer(a, [specs[i] for i in ins])
    return node, specs


def _cases():
    g = torch.Generator().manual_seed(3)
    sx = 0.25
    x = ((torch.randint(-200, 200, (2, 16, 5, 7), generator=g) + 0.5) * sx).half()    # ties and saturation
    x = x.contiguous(memory_format=torch.channels_last)
    cases = {"quantize_int8_fp16_channels_last": ("quantize", x, DataType.HALF, DataType.INT8, sx)}
    y = e4m3_rounding_values().float() * 0.5                                             # x / 0.5: every E4M3 tie
    cases["quantize_fp8_fp32"] = ("quantize", y.reshape(1, -1), DataType.FLOAT, DataType.FP8, 0.5)
    q = torch.randint(-128, 128, (3, 8, 4, 4), generator=g, dtype=torch.int8).contiguous(
        memory_format=torch.channels_last)
    cases["dequantize_int8_to_fp16_channels_last"] = ("dequantize", q, DataType.INT8, DataType.HALF, 0.0173)
    f = torch.arange(0, 256, dtype=torch.int16).to(torch.uint8).view(torch.float8_e4m3fn).reshape(16, 16)
    cases["dequantize_fp8_to_fp32"] = ("dequantize", f, DataType.FP8, DataType.FLOAT, 0.37)
    return cases


def _run_kernels():
    from inferrt.tactics.registry import get_tactic

    numpy_index_shim()
    tactic = get_tactic("triton_qdq")
    out = {}
    for name, (kind, x, x_type, to_type, scale) in _cases().items():
        node, specs = qdq_node(kind, x.shape, x_type, to_type)
        ins = [x, torch.tensor(scale)]
        slot = torch.empty(tuple(specs["y"].shape), dtype=torch.float16 if to_type == DataType.HALF else
                           torch.float32 if to_type == DataType.FLOAT else torch.int8)
        run = tactic.runner(node, "cpu", {})
        (y,) = run(ins, [slot])
        (want,) = node.op.run(node.attrs, ins, [slot])
        yv, wv = y, want
        if y.dtype == torch.float8_e4m3fn:
            yv, wv = y.view(torch.uint8), want.view(torch.uint8)
        nan = torch.isnan(want.float()) if want.is_floating_point() or want.dtype == torch.float8_e4m3fn else None
        same = bool((yv == wv).all()) if nan is None else bool(((yv == wv) | nan).all())
        out[name] = {"same": same, "dtype": str(y.dtype), "want_dtype": str(want.dtype),
                     "strides_kept": y.stride() == x.stride(), "launched": len(run.launchers[0].cache)}
    return out


@pytest.fixture(scope="module")
def interpreted():
    return run_interpreted_module("tests.tactics.test_triton_qdq")


@pytest.mark.parametrize("case", list(_cases()))
def test_interpreted_qdq_matches_the_generic_layer_bit_for_bit(interpreted, case):
    r = interpreted[case]
    assert r["same"] and r["dtype"] == r["want_dtype"] and r["strides_kept"] and r["launched"] == 1, (case, r)


@pytest.mark.gpu
@pytest.mark.parametrize("case", list(_cases()))
def test_gpu_qdq_matches_the_generic_layer_bit_for_bit(case):
    """The compiled kernels (the GPU's own FP8 conversion included) against the generic layer on the GPU, and the
    layer captured in a CUDA graph."""
    from inferrt.runtime.cuda_graphs import capture_graph
    from inferrt.tactics.registry import get_tactic

    kind, x, x_type, to_type, scale = _cases()[case]
    if torch.float8_e4m3fn in (x.dtype,) or to_type == DataType.FP8:
        if torch.cuda.get_device_capability() < (8, 9):
            pytest.skip("FP8 needs compute capability 8.9+")
    node, specs = qdq_node(kind, x.shape, x_type, to_type)
    tactic = get_tactic("triton_qdq")
    assert tactic.supports(node, specs, "cuda")
    ins = [x.cuda(), torch.tensor(scale, device="cuda")]
    slot = torch.empty(tuple(specs["y"].shape), device="cuda",
                       dtype={DataType.HALF: torch.float16, DataType.FLOAT: torch.float32}.get(to_type, torch.int8))
    run = tactic.runner(node, "cuda", {})
    run(ins, [slot])                                     # warm-up: compiles, prepares the scale
    got = []
    g = torch.cuda.CUDAGraph()
    capture_graph(g, lambda: got.append(run(ins, [slot])[0]), torch.cuda.Stream())
    g.replay()
    torch.cuda.synchronize()
    (want,) = node.op.run(node.attrs, ins, [slot])
    y, w = got[0], want
    if y.dtype == torch.float8_e4m3fn:
        y, w = y.view(torch.uint8), w.view(torch.uint8)
    same = (y == w) | torch.isnan(want.float()) if want.is_floating_point() else y == w
    assert bool(same.all()) and got[0].stride() == x.stride()


def test_support_rules():
    pytest.importorskip("triton")
    from inferrt.tactics.registry import get_tactic

    t = get_tactic("triton_qdq")
    node, specs = qdq_node("quantize", (2, 8, 4, 4), DataType.HALF, DataType.INT8)
    assert t.supports(node, specs, "cuda") and not t.supports(node, specs, "cpu")
    node, specs = qdq_node("dequantize", (2, 8), DataType.INT8, DataType.FLOAT)
    assert t.supports(node, specs, "cuda")
    for kind, x_type, to_type, extra in (("quantize", DataType.HALF, DataType.UINT8, {}),      # not INT8 / FP8
                                         ("quantize", DataType.HALF, DataType.INT8, {"zero_point": True}),
                                         ("dequantize", DataType.INT8, DataType.FLOAT, {"zero_point": True}),
                                         ("dequantize", DataType.INT8, DataType.FLOAT,
                                          {"block_shape": (1, 4), "scale_shape": (2, 2)}),
                                         ("quantize", DataType.HALF, DataType.INT8,          # per channel
                                          {"scale_shape": (8,)})):
        node, specs = qdq_node(kind, (2, 8), x_type, to_type, **extra)
        assert not t.supports(node, specs, "cuda"), (kind, to_type, extra)


if __name__ == "__main__":
    print(json.dumps(_run_kernels()))
