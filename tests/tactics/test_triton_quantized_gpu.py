"""GPU: the quantized Triton tactics (INT8 and FP8 GEMM, INT8 implicit-GEMM convolution) at several tuning points
against float64 torch references of the fake-quantized layer; FP8 on compute capability 8.9+; and engines built on
the GPU from inferrt.quantize's INT8 / FP8 ONNX run their products on these tactics and agree with onnxruntime's
fake-quantized run within one quantization step."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.gpu

from tests.tactics.gpu_points import gpu_points  # noqa: E402
from inferrt.tactics.registry import get_tactic  # noqa: E402
from tests.tactics.test_triton_quantized import SMALL, _cases, _fp8_cases, fp8_gemm_case, quantized_node  # noqa: E402

POINTS = {f"{name}-{quantize}": dict(point, QUANTIZE=quantize)
          for name, point in gpu_points(SMALL, large_block_k=64).items() for quantize in ("load", "pass")}


def _run(node, specs, ins, point):
    tactic = get_tactic("triton_quantized_gemm" if node.kind == "quantized_matmul" else "triton_quantized_conv_nhwc")
    assert tactic.supports(node, specs, "cuda")
    run = tactic.runner(node, "cuda", dict(point))
    dev = [None if t is None else t.cuda() for t in ins]
    y = torch.empty(specs["y"].shape, dtype=torch.float32, device="cuda")
    assert run(dev, [y]) is None
    return y.cpu().double()


@pytest.mark.parametrize("point", list(POINTS))
@pytest.mark.parametrize("case", list(_cases()))
def test_int8_kernels_at_every_point(case, point):
    node, specs, ins, ref = _cases()[case]
    y = _run(node, specs, ins, POINTS[point])
    assert float((y - ref).abs().max() / max(float(ref.abs().max()), 1.0)) <= 1e-5


@pytest.mark.parametrize("point", list(POINTS))
def test_fp8_gemm(point):
    if torch.cuda.get_device_capability() < (8, 9):
        pytest.skip("FP8 needs compute capability 8.9+")
    node, specs, ins, ref = fp8_gemm_case(torch.Generator().manual_seed(3), 64, 48, 40)
    y = _run(node, specs, ins, POINTS[point])
    # FP32 accumulation of FP8 products (tensor cores): float32 rounding, not a quantization step
    assert float((y - ref).abs().max() / max(float(ref.abs().max()), 1.0)) <= 1e-4


@pytest.mark.parametrize("point", list(POINTS))
@pytest.mark.parametrize("case", list(_fp8_cases()))
def test_fp8_kernels_at_every_point(case, point):
    """FP8 GEMM and implicit-GEMM conv with reductions (K = 50, C = 40) that are not a multiple of BLOCK_K."""
    if torch.cuda.get_device_capability() < (8, 9):
        pytest.skip("FP8 needs compute capability 8.9+")
    node, specs, ins, ref = _fp8_cases()[case]
    y = _run(node, specs, ins, POINTS[point])
    assert float((y - ref).abs().max() / max(float(ref.abs().max()), 1.0)) <= 1e-4


def test_int8_gemm_matches_exact_integer_sums_beyond_float32_exactness():
    """K = 4096 (sums past 2**24): the INT32 accumulator is exact, as the generic path's float64; the result
    differs from the exact integer sum only by its FP32 rounding."""
    g = torch.Generator().manual_seed(4)
    w = torch.randint(-127, 128, (4096, 32), generator=g, dtype=torch.int8)
    x = torch.randint(-127, 128, (24, 4096), generator=g).float() * 0.5      # exactly representable, no rounding
    node, specs = quantized_node("quantized_matmul", x.shape, w, torch.tensor(1.0), 0.5)
    y = _run(node, specs, [x, w, None, None, torch.tensor(1.0), torch.tensor(0.5)], POINTS["default-load"])
    exact = ((x.double() / 0.5).round().long() @ w.long()).double() * 0.5
    assert torch.allclose(y, exact, rtol=1.2e-7, atol=0)     # only the FP32 output's rounding


@pytest.mark.parametrize("case, mode", [("resblock", "int8"), ("gemms", "int8"), ("resblock", "fp8")])
def test_gpu_engine_runs_quantized_products_on_the_quantized_tactics(case, mode):
    if mode == "fp8" and torch.cuda.get_device_capability() < (8, 9):
        pytest.skip("FP8 needs compute capability 8.9+")
    from inferrt.api import build_engine
    from inferrt.quantize import quantize
    from tests.quantize.models import gemm_model, ort_run, resblock_model

    rng = np.random.default_rng(7)
    src, feed = ((resblock_model(), {"x": rng.standard_normal((2, 4, 8, 8)).astype(np.float32)}) if case == "resblock"
                 else (gemm_model(), {"x": rng.standard_normal((32, 4, 16)).astype(np.float32)}))
    model = quantize(src, mode, "max", calibration_data=feed, progress=False).model
    want = ort_run(model, feed)
    engine = build_engine(model, device="cuda", profiles={k: (v.shape, v.shape, v.shape) for k, v in feed.items()})
    got = engine.create_execution_context().infer(feed)
    tactics = {n.kind: n.info.tactic for n in engine.graph.nodes if n.kind.startswith("quantized_")}
    assert tactics, "no quantized layer in the engine"
    names = [o.name for o in model.graph.output]
    for name, w in zip(names, want):
        g = np.asarray(got[name], np.float64)
        # the outputs are several quantized layers deep: a flipped rounding may move them by a step of the last
        # layer's input; compare with a tolerance of the output's scale
        assert np.max(np.abs(g - w)) <= 0.05 * max(np.abs(w).max(), 1.0), (name, tactics)
    print(tactics)


@pytest.mark.parametrize("case", ["conv_int8_nchw", "gemm_int8_per_channel"])
def test_generic_quantized_products_are_captured(case):
    """The generic implementation (which the autotuner may pick for a layer, e.g. a 3-channel first convolution)
    reads nothing to the host: it is captured into a CUDA graph and replays to the fake-quantized layer's values.
    Its ``float(input_scale)`` made the INT8 / FP8 ResNet-50 engines run without graphs."""
    from inferrt.runtime.cuda_graphs import capture_graph

    node, specs, ins, ref = _cases()[case]
    dev = [None if t is None else t.cuda() for t in ins]
    node.op.run(node.attrs, dev, [None])            # warm-up, outside the capture
    out = []
    g = torch.cuda.CUDAGraph()
    capture_graph(g, lambda: out.append(node.op.run(node.attrs, dev, [None])[0]), torch.cuda.Stream())
    g.replay()
    torch.cuda.synchronize()
    y = out[0].cpu().double()
    assert float((y - ref).abs().max() / max(float(ref.abs().max()), 1.0)) <= 1e-5


@pytest.mark.parametrize("mode", ["int8", "fp8"])
def test_quantized_fp16_engine_runs_as_a_cuda_graph(mode):
    """An INT8 / FP8 Q/DQ model built with FP16 allowed (as bench/quantized.py builds ResNet-50): the third
    execution replays a captured graph, no capture failed, and the outputs agree with onnxruntime."""
    if mode == "fp8" and torch.cuda.get_device_capability() < (8, 9):
        pytest.skip("FP8 needs compute capability 8.9+")
    from inferrt.api import build_engine
    from inferrt.quantize import quantize
    from tests.quantize.models import ort_run, resblock_model

    rng = np.random.default_rng(8)
    feed = {"x": rng.standard_normal((2, 4, 8, 8)).astype(np.float32)}
    model = quantize(resblock_model(), mode, "max", calibration_data=feed, progress=False).model
    want = ort_run(model, feed)[0]
    engine = build_engine(model, fp16=True, device="cuda", profiles={"x": ((2, 4, 8, 8),) * 3})
    ctx = engine.create_execution_context()
    for _ in range(3):                       # warm-up, capture, replay
        got = np.asarray(ctx.infer(feed)["y"], np.float64)
    cache = ctx._graph_cache()
    tactics = {n.name: n.info.tactic for n in engine.graph.nodes if n.kind.startswith("quantized_")}
    assert cache.captures == 1 and cache.last_error is None, (cache.last_error, tactics)
    assert np.max(np.abs(got - want)) <= 0.05 * max(np.abs(want).max(), 1.0), tactics
