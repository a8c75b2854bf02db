"""FP16 engines on the GPU with the range guard (issue 9): the audio front end that returned inf and the 1-D CNN
that returned an unrelated answer are finite and close to float64 PyTorch; the guard's observation runs on CUDA."""
from __future__ import annotations

import numpy as np
import pytest

import inferrt as trt
from tests.helpers import FP16_ENGINE_REL_L2, rel_l2
from tests.passes.precision_nets import Capture, fp16_config, kept, overflow_network

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.gpu


def _reference(model, x):
    with torch.no_grad():
        return model.double()(torch.from_numpy(x).double()).numpy()


def _fp16_engine(model, x, name, calibration=None):
    log = Capture()
    builder = trt.Builder(log)
    config = builder.create_builder_config()
    if calibration is not None:
        config.calibration_data = [{name: calibration}]
    prof = {name: ((1,) + x.shape[1:], x.shape, (8,) + x.shape[1:])}
    engine = trt.build_engine(model, example_inputs=(torch.from_numpy(x),), input_names=[name], profiles=prof,
                              fp16=True, device="cuda", config=config, logger=log)
    return engine, log


@pytest.mark.parametrize("scale", ["float", "pcm16"])
def test_audio_front_end_fp16_is_finite_and_close(scale):
    from tests.passes.precision_models import AudioFrontEnd, speech_like

    peak = 0.9 if scale == "float" else 0.9 * 32768
    model = AudioFrontEnd()
    wav = speech_like(2, peak=peak)
    calibration = speech_like(4, peak=peak, seed=7) if scale == "pcm16" else None
    engine, log = _fp16_engine(AudioFrontEnd(), wav, "wav", calibration)
    ref = _reference(model, wav)
    ctx = engine.create_execution_context()
    for batch in (wav[:1], wav):
        (out,) = ctx.infer({"wav": batch}).values()
        assert np.isfinite(out).all(), f"{scale}: inf/NaN in the FP16 engine's output"
        assert rel_l2(out, ref[:len(batch)]) < FP16_ENGINE_REL_L2, scale
    assert any("range guard" in m and "kept in FLOAT" in m for m in log.of(trt.Severity.INFO))


def test_cnn1d_fp16_is_close_at_batch_1_and_8():
    from tests.passes.precision_models import cnn1d, speech_like

    model = cnn1d()
    x = speech_like(8, 0.25, seed=3)[:, None, :]
    engine, _ = _fp16_engine(cnn1d(), x, "x")
    ref = _reference(model, x)
    ctx = engine.create_execution_context()
    for batch in (x[:1], x):
        (out,) = ctx.infer({"x": batch}).values()
        assert np.isfinite(out).all()
        err = rel_l2(out, ref[:len(batch)])
        assert err < FP16_ENGINE_REL_L2, f"batch {len(batch)}: relative L2 {err:.3g} against float64"
        assert (out.argmax(1) == ref[:len(batch)].argmax(1)).all()


def test_overflow_network_fp16_engine_on_cuda_keeps_the_float_island():
    log = Capture()
    builder, net = overflow_network(log)
    config = fp16_config(builder, passes=[])
    config.device = "cuda"
    engine = trt.load_engine(builder.build(net, config))
    assert set(kept(engine.graph)) == {"square", "log"}
    assert engine.graph.node("relu").info.precision == "HALF"
    x = np.random.default_rng(2).standard_normal((4, 256)).astype(np.float32)
    y = engine.create_execution_context().infer({"x": x})["y"]
    ref = np.maximum(np.log((x.astype(np.float64) * 1000) ** 2), 0)
    assert np.isfinite(y).all() and rel_l2(y, ref) < FP16_ENGINE_REL_L2
