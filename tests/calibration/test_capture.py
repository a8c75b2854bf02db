"""Capturing chosen values of the FP32 model: onnxruntime on the CPU, inferrt's engine (CUDA in calibration; its
CPU engine here computes the same values), device choice and the progress bar."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import inferrt as trt
from inferrt.calibration.capture import EngineRunner, OrtRunner, capture, make_runner, resolve_device
from tests.quantize.models import resblock_model


def _feeds(n=3):
    rng = np.random.default_rng(0)
    return [{"x": rng.standard_normal((2, 4, 8, 8)).astype(np.float32)} for _ in range(n)]


def test_ort_runner_returns_only_the_values_asked_for():
    feeds = _feeds()
    runner = OrtRunner(resblock_model(), ["a", "bn2o", "x"])
    got = list(capture(runner, feeds))
    assert len(got) == 3 and all(set(v) == {"a", "bn2o", "x"} for v in got)
    assert np.all(got[0]["a"] >= 0) and got[0]["a"].shape == (2, 4, 8, 8)
    np.testing.assert_array_equal(got[1]["x"], feeds[1]["x"])


def test_engine_runner_gives_onnxruntime_values():
    feeds = _feeds(2)
    names = ["a", "r1o", "flato"]
    ort = list(capture(OrtRunner(resblock_model(), names), feeds))
    eng = list(capture(EngineRunner(resblock_model(), names, feeds, device="cpu"), feeds))
    for o, e in zip(ort, eng):
        for n in names:
            assert isinstance(e[n], torch.Tensor)
            np.testing.assert_allclose(e[n].numpy(), o[n], rtol=1e-4, atol=1e-5)


def test_device_choice():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="'auto', 'cuda' or 'cpu'"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        assert isinstance(make_runner(resblock_model(), ["a"], _feeds(1), "auto"), OrtRunner)
        with pytest.raises(trt.BuildError, match="no CUDA GPU"):
            make_runner(resblock_model(), ["a"], _feeds(1), "cuda")


@pytest.mark.gpu
def test_auto_calibrates_in_the_engine_on_cuda():
    feeds = _feeds(2)
    runner = make_runner(resblock_model(), ["a"], feeds, "auto")
    assert isinstance(runner, EngineRunner) and runner.device == "cuda"
    got = list(capture(runner, feeds))
    assert got[0]["a"].is_cuda
    want = OrtRunner(resblock_model(), ["a"]).run(feeds[0])["a"]
    np.testing.assert_allclose(got[0]["a"].cpu().numpy(), want, rtol=1e-4, atol=1e-5)


def test_progress_bar_counts_batches(capsys):
    list(capture(OrtRunner(resblock_model(), ["a"]), _feeds(3), progress=True, desc="calibrating (test)"))
    err = capsys.readouterr().err
    assert "calibrating (test)" in err and "3/3" in err


def test_a_model_onnxruntime_cannot_load_is_reported():
    m = resblock_model()
    m.graph.node[0].op_type = "NoSuchOp"
    with pytest.raises(trt.BuildError, match="onnxruntime cannot load the FP32 model.*for quantize"):
        OrtRunner(m, ["a"], tool="quantize")


def test_auto_falls_back_to_onnxruntime_when_the_engine_cannot_build(monkeypatch):
    import importlib

    cap = importlib.import_module("inferrt.calibration.capture")   # (the package exports the function capture)

    def no_engine(*a, **k):
        raise trt.BuildError("no tactic for layer 'c0'")

    monkeypatch.setattr(cap, "resolve_device", lambda d: "cuda")
    monkeypatch.setattr(cap, "EngineRunner", no_engine)
    with pytest.warns(UserWarning, match="no tactic for layer 'c0'.*onnxruntime on the CPU instead"):
        assert isinstance(cap.make_runner(resblock_model(), ["a"], _feeds(1), "auto"), OrtRunner)
    with pytest.raises(trt.BuildError, match="cannot build the FP32 model on CUDA.*device='cpu'"):
        cap.make_runner(resblock_model(), ["a"], _feeds(1), "cuda")
