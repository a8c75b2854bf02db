"""Accuracy on real trained data, no downloads: a CNN trained on scikit-learn's bundled digits and a transformer
trained to reverse sequences (tests/accuracy/trained_models.py) agree with their FP32 engine's top-1 predictions
on the held-out split, through every precision path (tests/accuracy/agreement.py):

- FP16 / BF16 through ``inferrt.autocast`` -> strongly typed build (the CPU engine runs the FP16/BF16 layers in
  those types), and through ``BuilderFlag.FP16`` / ``BF16`` (TensorRT 10's flags; on the CPU the flags permit
  reduced precision the CPU build does not use, so there the engine is FLOAT and agreement is exact; the gpu
  variants run the reduced-precision kernels);
- INT8 through ``inferrt.quantize`` with each calibration method (max, entropy, percentile, mse), FP8 E4M3, and INT4
  weight-only (RTN and AWQ-lite, blocks of 32): the CPU engine builds and runs every one of these Q/DQ models
  (QuantizeLinear / DequantizeLinear with INT8, FLOAT8E4M3FN and INT4 initializers), so none needs onnxruntime or
  onnx's ReferenceEvaluator here;
- INT8 through ``BuilderFlag.INT8`` with TensorRT 10's ``IInt8EntropyCalibrator2`` and ``IInt8MinMaxCalibrator``
  (the builder calibrates and inserts Q/DQ itself); skipped where this inferrt has no calibrators yet.

The issue's target is asserted as written: INT8 (entropy) and FP8 agree on at least 99% of the digits held-out
split; the other paths must agree on at least 97% (98% FP16/BF16), and every path that quantizes must actually
change the logits (a path that silently ran FP32 would fail). Training takes a few seconds on the CPU.
"""
from __future__ import annotations

import numpy as np
import pytest

from tests.accuracy.agreement import CALIBRATORS, PATHS, agreement, convert, has_calibrators, run_engine
from tests.accuracy.trained_models import digits_cnn, reversal_transformer

pytest.importorskip("sklearn", reason="the digits data ships with scikit-learn (dev extra)")

#: the issue's target (INT8 entropy and FP8 on the digits CNN) and the floors of the other paths
TARGET = 0.99
FLOOR = {"fp16": 0.98, "bf16": 0.98, "fp16-flag": 0.98, "bf16-flag": 0.98}
DEFAULT_FLOOR = 0.97
_REFERENCE: dict = {}


def _trained(name):
    return digits_cnn() if name == "digits" else reversal_transformer()


def _reference(name, device):
    key = (name, device)
    if key not in _REFERENCE:
        m = _trained(name)
        _REFERENCE[key] = run_engine(m.onnx, m.input_name, m.held_out, device)
    return _REFERENCE[key]


def _check(name, path, device):
    m = _trained(name)
    ref = _reference(name, device)
    if path in CALIBRATORS and not has_calibrators():
        pytest.skip("this inferrt has no TensorRT 10 INT8 calibrators yet")
    model, settings = convert(m, path)
    got = run_engine(model, m.input_name, m.held_out, device, **settings)
    assert got.shape == ref.shape and np.isfinite(got).all()
    agree = agreement(got, ref)
    targeted = name == "digits" and path in ("int8-entropy", "int8-flag-entropy2", "fp8")
    floor = TARGET if targeted else FLOOR.get(path, DEFAULT_FLOOR)
    assert agree >= floor, f"{name} {path} on {device}: top-1 agreement {agree:.4f} < {floor}"
    if path not in ("fp16-flag", "bf16-flag") or device == "cuda":
        # the reduced precision really ran: the logits moved (by less than the logit spread)
        diff = float(np.abs(got - ref).max())
        assert 0 < diff < float(np.ptp(ref)), f"{name} {path}: max |logit diff| {diff}"
    return agree


def test_trained_models_are_accurate_in_fp32():
    """The FP32 engine reproduces the PyTorch models' accuracy: the comparison below is against trained models."""
    for name in ("digits", "reversal"):
        m = _trained(name)
        ref = _reference(name, "cpu")
        acc = float(np.mean(ref.argmax(-1) == m.labels))
        assert acc == pytest.approx(m.fp32_accuracy, abs=1e-9)
        assert acc >= (0.95 if name == "digits" else 0.98), (name, acc)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", ["digits", "reversal"])
def test_top1_agreement_with_fp32_cpu(name, path):
    _check(name, path, "cpu")


@pytest.mark.gpu
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", ["digits", "reversal"])
def test_top1_agreement_with_fp32_gpu(name, path):
    _check(name, path, "cuda")


def test_entropy_calibration_keeps_the_range_of_discrete_inputs():
    """The digits pixels take 17 values (k/16): a |x| histogram of isolated spikes. A KL candidate threshold whose
    reference distribution is one bin (everything clipped into it) has KL 0 whatever it clips; it must not win."""
    from inferrt.quantize.calibrators import entropy_amax

    counts = np.zeros(2048)
    counts[0] = 900
    counts[128::128] = 50
    counts[2047] = 40
    width = 1.0 / 2048
    assert entropy_amax(counts, width) == pytest.approx(1.0)
    # a continuous distribution still gets a clipped range (the method's purpose)
    rng = np.random.default_rng(3)
    x = np.abs(rng.standard_normal(200_000))
    hist, edges = np.histogram(x, bins=2048, range=(0, x.max()))
    amax = entropy_amax(hist, edges[1])
    assert 2.0 < amax < 0.95 * x.max()
