"""``inferrt exec --int8 [--calib=CACHE]``: trtexec's INT8 build, with ranges from a TensorRT calibration cache or
trtexec's placeholder ranges, through the builder's calibration machinery (Q/DQ layers around the weighted layers)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import inferrt as trt
from inferrt.builder.calibrate_cache import format_cache
from inferrt.cli.main import main
from inferrt.models.mnist import build_mnist_network
from tests.helpers import rel_l2

FAST = ("--duration", "0", "--warmUp", "0", "--iterations", "1", "--device", "cpu", "--noProgress")


def _run(capsys, tmp_path, *argv):
    out_json = tmp_path / "out.json"
    rc = main(["exec", *FAST, "--exportOutput", str(out_json), "--dumpLayerInfo", "--profilingVerbosity=detailed",
               *argv])
    out, err = capsys.readouterr()
    values = np.array(json.loads(out_json.read_text())[0]["values"], np.float32) if rc == 0 else None
    return rc, out, err, values


def _calibration_cache(tmp_path, algorithm=trt.CalibrationAlgoType.ENTROPY_CALIBRATION_2):
    """A cache of the built-in MNIST network's ranges, measured with a calibrator on exec's own input data."""
    class Calibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            super().__init__()
            self.batches = [np.random.default_rng(i).uniform(-1, 1, (1, 1, 28, 28)).astype(np.float32)
                            for i in range(4)]
            self.cache = None

        def get_algorithm(self):
            return algorithm

        def get_batch(self, names):
            return [self.batches.pop()] if self.batches else None

        def write_calibration_cache(self, cache):
            self.cache = bytes(cache)

    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    network = builder.create_network()
    build_mnist_network(network)
    config = builder.create_builder_config()
    config.device = "cpu"
    profile = builder.create_optimization_profile()
    profile.set_shape("x", (1, 1, 28, 28), (1, 1, 28, 28), (8, 1, 28, 28))
    config.add_optimization_profile(profile)
    config.set_flag(trt.BuilderFlag.INT8)
    config.int8_calibrator = cal = Calibrator()
    assert builder.build_serialized_network(network, config) is not None
    path = tmp_path / "mnist.cache"
    path.write_bytes(cal.cache)
    return path


@pytest.mark.parametrize("algorithm, name", [(trt.CalibrationAlgoType.ENTROPY_CALIBRATION_2, "EntropyCalibration2"),
                                             (trt.CalibrationAlgoType.MINMAX_CALIBRATION, "MinMaxCalibration")])
def test_calib_gives_the_ranges_and_the_int8_engine_stays_near_fp32(capsys, tmp_path, algorithm, name):
    cache = _calibration_cache(tmp_path, algorithm)
    rc, out, err, fp32 = _run(capsys, tmp_path)
    assert rc == 0, err
    assert "quantize" not in out
    rc, out, err, int8 = _run(capsys, tmp_path, "--int8", f"--calib={cache}")
    assert rc == 0, err
    assert f"Calibration cache {cache}: {name}" in out
    # the convolutions and products run on INT8 values: their Q/DQ are fused into quantized layers
    assert "quantized_conv" in out and "quantized_matmul" in out and "placeholder" not in out
    rc, out, err, placeholder = _run(capsys, tmp_path, "--int8")
    assert rc == 0, err
    # the outputs are softmax probabilities: the same class, and much nearer FP32 than trtexec's placeholder ranges
    assert int8.argmax() == fp32.argmax()
    assert 0 < rel_l2(int8, fp32) < 0.5 * rel_l2(placeholder, fp32), (rel_l2(int8, fp32), rel_l2(placeholder, fp32))


def test_int8_without_calib_uses_trtexecs_placeholder_ranges_and_says_so(capsys, tmp_path):
    rc, out, err, values = _run(capsys, tmp_path, "--int8")
    assert rc == 0, err
    assert "[W] --int8 without --calib: placeholder dynamic ranges (inputs [-2, 2], other tensors [-4, 4])" in out
    assert "quantized_conv" in out and np.isfinite(values).all()


@pytest.mark.parametrize("make, why", [
    (lambda p: None, "--calib gives INT8 ranges and needs --int8"),
    (lambda p: p.write_text("not a cache\n"), "is not a TensorRT calibration cache"),
    (lambda p: p.write_bytes(format_cache(trt.CalibrationAlgoType.MINMAX_CALIBRATION, {"x": 1.0})[:5]),
     "is not a TensorRT calibration cache"),
])
def test_bad_calib_is_an_error_before_the_build(capsys, tmp_path, make, why):
    path = tmp_path / "bad.cache"
    make(path)
    argv = [f"--calib={path}"] + ([] if "needs --int8" in why else ["--int8"])
    rc, out, err, _ = _run(capsys, tmp_path, *argv)
    assert rc == 2 and why in err and "Engine built" not in out


def test_missing_calib_file_is_named(capsys, tmp_path):
    rc, out, err, _ = _run(capsys, tmp_path, "--int8", f"--calib={tmp_path / 'nope.cache'}")
    assert rc == 2 and "--calib: cannot read" in err and "nope.cache" in err
