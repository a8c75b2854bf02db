"""The range guard on the models whose FP16 builds failed (issue 9): an audio front end (Conv1d STFT with a large
kernel, power, mel MatMul, Log) and a 1-D CNN, exported by torch, lowered as a GPU FP16 build lowers them and run
on the CPU in those types (a simulated FP16 engine); the real GPU builds are in tests/gpu/test_fp16_range_gpu.py."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import inferrt as trt  # noqa: E402
from inferrt.api import _export_torch, network_from  # noqa: E402
from tests.helpers import FP16_ENGINE_REL_L2, rel_l2  # noqa: E402
from tests.passes.precision_models import AudioFrontEnd, cnn1d, speech_like  # noqa: E402
from tests.passes.precision_nets import Capture, kept, lower_for_gpu, run_graph  # noqa: E402


def _simulated_fp16(model, x, name, calibration=None, guard=True):
    prof = {name: ((1,) + x.shape[1:], x.shape, (8,) + x.shape[1:])}
    log = Capture()
    builder = trt.Builder(log)
    network = network_from(_export_torch(model, (torch.from_numpy(x),), prof, [name]), builder, log)
    config = builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.FP16)
    if calibration is not None:
        config.calibration_data = [{name: calibration}]
    g = lower_for_gpu(network, config, [prof], log.log, guard=guard)
    (out,) = run_graph(g, {name: x}).values()
    return out, g, log


def _reference(model, x):
    with torch.no_grad():
        return model.double()(torch.from_numpy(x).double()).numpy()


def test_audio_front_end_at_pcm16_scale_with_calibration_data_is_finite_and_accurate():
    model = AudioFrontEnd()
    wav = speech_like(2, peak=0.9 * 32768)
    out, g, log = _simulated_fp16(model, wav, "wav", calibration=speech_like(2, peak=0.9 * 32768, seed=5))
    assert np.isfinite(out).all()
    assert rel_l2(out, _reference(model, wav)) < FP16_ENGINE_REL_L2
    reasons = kept(g)
    assert any("Conv" in k for k in reasons) and any("Log" in k for k in reasons), reasons
    assert any("/stft/Conv" in m and "kept in FLOAT" in m for m in log.of(trt.Severity.INFO))
    unguarded, _, _ = _simulated_fp16(AudioFrontEnd(), wav, "wav", guard=False)
    assert not np.isfinite(unguarded).all()           # the reported failure, without the guard


def test_audio_front_end_at_float_scale_with_generated_data_is_accurate():
    model = AudioFrontEnd()
    wav = speech_like(2)
    out, g, _ = _simulated_fp16(model, wav, "wav")
    assert np.isfinite(out).all()
    assert rel_l2(out, _reference(model, wav)) < FP16_ENGINE_REL_L2
    assert any("Log" in k for k in kept(g))          # the power spectrum is within 4x of FP16's limit


def test_cnn1d_is_accurate_and_fully_lowered():
    model = cnn1d()
    x = speech_like(4, 0.25)[:, None, :]
    out, g, _ = _simulated_fp16(model, x, "x")
    assert kept(g) == {}
    assert rel_l2(out, _reference(model, x)) < FP16_ENGINE_REL_L2
    assert (out.argmax(1) == _reference(model, x).argmax(1)).all()
