"""inferrt builds and runs AutoCast's output: the strongly typed mixed precision graph (Casts, FP16/BF16
initializers) gives the FP32 model's results within the low type's tolerance, on the CPU and (gpu marker) on the
GPU."""
from __future__ import annotations

import functools

import numpy as np
import onnxruntime as ort
import pytest

from inferrt.api import build_engine
from inferrt.autocast import autocast
from tests.autocast.models import chain_model
from tests.helpers import FP16_ENGINE_REL_L2, assert_close, rel_l2


@functools.lru_cache(maxsize=None)
def _models():
    from tests.passes.onnx_models import bert_onnx, resnet_onnx

    return resnet_onnx(), bert_onnx(layers=1)


def _fp32(model, feed):
    data = model if isinstance(model, bytes) else model.SerializeToString()
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feed)[0]


def _engine_run(model, feed, device):
    profiles = {k: (v.shape, v.shape, v.shape) for k, v in feed.items()}
    engine = build_engine(model, device=device, profiles=profiles)
    return engine.create_execution_context().infer(feed)


@pytest.mark.parametrize("low, tol, rel", [("fp16", np.float16, FP16_ENGINE_REL_L2), ("bf16", "bfloat16", 2e-2)])
def test_engine_runs_converted_cnn_and_transformer(device, low, tol, rel):
    resnet, bert = _models()
    rng = np.random.default_rng(31)
    cases = [(resnet, {"x": rng.standard_normal((2, 3, 16, 16)).astype(np.float32)}),
             (bert, {"ids": rng.integers(0, 50, (2, 8)).astype(np.int64), "attn": np.ones((2, 8), np.int64)})]
    for src, feed in cases:
        r = autocast(src, low_precision_type=low, calibration_data=feed, keep_io_types=True)
        got = _engine_run(r.model, feed, device)["y"]
        want = _fp32(src, feed)
        assert got.dtype == np.float32
        assert rel_l2(got, want) < rel
        assert_close(got, want, dtype=tol)


def test_engine_runs_fp16_io_and_fp32_islands(device):
    feed = {"x": np.random.default_rng(32).standard_normal((2, 8)).astype(np.float32)}
    r = autocast(chain_model(1e5), calibration_data=feed)
    half = {"x": feed["x"].astype(np.float16)}
    got = _engine_run(r.model, half, device)["y"]
    assert got.dtype == np.float16
    assert_close(got, _fp32(chain_model(1e5), feed), dtype=np.float16)
