"""inferrt builds and runs the quantizer's INT8 output (its CPU engine runs QuantizeLinear/DequantizeLinear as
ops) and agrees with onnxruntime within one quantization step on every quantized activation; on the GPU (gpu
marker) the engine also calibrates."""
from __future__ import annotations

import functools

import numpy as np
import onnx
import pytest

from inferrt.api import build_engine
from inferrt.quantize import quantize
from tests.helpers import rel_l2
from tests.quantize.models import gemm_model, ort_run, resblock_model


@functools.lru_cache(maxsize=None)
def _resnet():
    from tests.passes.onnx_models import resnet_onnx

    return resnet_onnx()


def _with_dq_outputs(model):
    """The model with every activation's DequantizeLinear output also a graph output; {output: its scale}."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in m.graph.initializer}
    steps = {}
    for n in m.graph.node:
        if n.op_type == "DequantizeLinear" and n.input[0] not in inits:
            steps[n.output[0]] = float(inits[n.input[1]])
            m.graph.output.append(onnx.ValueInfoProto(name=n.output[0]))
    from inferrt.onnx.model_tools import fill_output_types

    fill_output_types(m)
    return m, steps


def _case(case, rng):
    if case == "resnet":
        return _resnet(), {"x": rng.standard_normal((4, 3, 16, 16)).astype(np.float32)}
    if case == "resblock":
        return resblock_model(), {"x": rng.standard_normal((2, 4, 8, 8)).astype(np.float32)}
    if case == "bert":
        from tests.passes.onnx_models import bert_onnx

        return bert_onnx(layers=1), {"ids": rng.integers(0, 50, (4, 8)).astype(np.int64),
                                     "attn": np.ones((4, 8), np.int64)}
    return gemm_model(), {"x": rng.standard_normal((3, 4, 16)).astype(np.float32)}


def _one_step(got, want, step, mode):
    """|got - want| per element, and the most one quantization step allows there."""
    diff = np.abs(np.asarray(got, np.float64) - want)
    if mode == "int8":
        return diff, np.full(diff.shape, step)
    # E4M3: one step is an eighth of the value's binade (3 mantissa bits), 2^-9 * scale among subnormals
    return diff, np.maximum(np.abs(want) * 2.0 ** -3, step * 2.0 ** -9)


# (the histogram methods need many values per tensor: the resblock's Gemm input has 8, so it calibrates with max)
@pytest.mark.parametrize("case, mode, method, smooth", [
    ("resnet", "int8", "entropy", False), ("resblock", "int8", "max", False), ("gemms", "int8", "mse", True),
    ("bert", "int8", "percentile", True), ("resblock", "fp8", "max", False), ("bert", "fp8", "max", False)])
def test_engine_runs_quantized_model_within_one_step_of_onnxruntime(device, case, mode, method, smooth):
    src, feed = _case(case, np.random.default_rng(21))
    r = quantize(src, mode, method, calibration_data=feed, smoothquant=smooth, progress=False)
    probe, steps = _with_dq_outputs(r.model)
    assert steps
    names = [o.name for o in probe.graph.output]
    want = dict(zip(names, ort_run(probe, feed)))
    profiles = {k: (v.shape, v.shape, v.shape) for k, v in feed.items()}
    got = build_engine(probe, device=device, profiles=profiles).create_execution_context().infer(feed)
    for name, step in steps.items():
        diff, one = _one_step(got[name], want[name], step, mode)
        # one rounding flip at most (float accumulation order differs), and flips are rare
        assert np.all(diff <= one * (1 + 1e-5)), f"{name}: {diff.max()} > one step"
        assert np.count_nonzero(diff > one / 2) <= max(2, 0.01 * diff.size), name
    out = names[0]
    assert rel_l2(got[out], want[out]) < 1e-2
    fp32 = ort_run(src, feed)[0]
    assert rel_l2(got[out], fp32) < (3e-2 if mode == "int8" else 6e-2)


@pytest.mark.gpu
def test_calibration_runs_in_the_engine_on_cuda_and_matches_onnxruntime():
    rng = np.random.default_rng(22)
    cal = rng.standard_normal((8, 3, 16, 16)).astype(np.float32)
    gpu = quantize(_resnet(), "int8", "max", calibration_data={"x": cal}, batch_size=4, device="cuda",
                   progress=False)
    cpu = quantize(_resnet(), "int8", "max", calibration_data={"x": cal}, batch_size=4, device="cpu",
                   progress=False)
    assert gpu.report.calibration_device == "cuda (inferrt engine)"
    assert cpu.report.calibration_device == "cpu (onnxruntime)"
    assert gpu.report.activations.keys() == cpu.report.activations.keys()
    for k, v in cpu.report.activations.items():
        assert gpu.report.activations[k] == pytest.approx(v, rel=1e-4), k
    # histogram methods and the AWQ search also run on the GPU's tensors
    for method in ("entropy", "percentile", "mse"):
        g = quantize(_resnet(), "int8", method, calibration_data={"x": cal}, device="cuda", progress=False)
        c = quantize(_resnet(), "int8", method, calibration_data={"x": cal}, device="cpu", progress=False)
        for k, v in c.report.activations.items():
            assert g.report.activations[k] == pytest.approx(v, rel=2e-2), (method, k)
    x = rng.standard_normal((4, 4, 16)).astype(np.float32)
    a = quantize(gemm_model(), "int4_awq", calibration_data={"x": x}, block_size=8, device="cuda", progress=False)
    assert a.report.calibration_device == "cuda (inferrt engine)"
