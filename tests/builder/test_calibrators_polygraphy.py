"""``polygraphy convert --int8`` on inferrt (the ``tensorrt`` alias): Polygraphy's calibrator subclasses
IInt8EntropyCalibrator2 (or the class --calibration-base-class names) and hands the builder TensorRT's text cache.

Polygraphy copies calibration batches to the GPU itself (libcudart, polygraphy/cuda/cuda.py), so calibrating from
data needs a GPU (gpu marker); on the CPU a calibration cache written by an inferrt build is what it reads, and
get_batch is never called."""
from __future__ import annotations

import numpy as np
import onnx
import pytest

import inferrt as trt
from tests.alias.test_polygraphy_cli import polygraphy
from tests.builder.test_calibrate_vs_quantize import _int8_network
from tests.builder.calibration_nets import Calibrator
from tests.quantize.models import resblock_model

pytest.importorskip("polygraphy")


@pytest.fixture
def model(tmp_path):
    m = resblock_model()
    m.ir_version = 8
    onnx.save(m, tmp_path / "model.onnx")
    return tmp_path / "model.onnx"


@pytest.mark.parametrize("base", ["IInt8EntropyCalibrator2", "IInt8MinMaxCalibrator"])
def test_convert_int8_with_a_calibration_cache(model, base):
    rng = np.random.default_rng(41)
    data = [rng.standard_normal((2, 4, 8, 8)).astype(np.float32) for _ in range(2)]
    cal = Calibrator(getattr(trt, base), data)
    direct = _int8_network(onnx.load(model), cal, [], "cpu")
    cache = model.parent / "model.cache"
    cache.write_bytes(cal.written)
    plan = model.parent / "model.plan"
    r = polygraphy("convert", str(model), "--int8", "--calibration-cache", str(cache), "--calibration-base-class",
                   base, "-o", str(plan), "-v", cwd=model.parent)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "ranges from the calibration cache" in out and "get_batch is not called" in out
    assert "weak typing is deprecated" in out
    assert cache.read_bytes() == cal.written          # read, not rewritten
    x = rng.standard_normal((2, 4, 8, 8)).astype(np.float32)
    got = trt.load_engine(str(plan)).create_execution_context().infer({"x": x})["y"]
    np.testing.assert_array_equal(got, direct.create_execution_context().infer({"x": x})["y"])


@pytest.mark.gpu
def test_convert_int8_calibrates_from_polygraphys_data_loader(model):
    cache = model.parent / "new.cache"
    plan = model.parent / "model.plan"
    r = polygraphy("convert", str(model), "--int8", "--calibration-cache", str(cache), "-o", str(plan), "-v",
                   cwd=model.parent)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "INT8 calibration (EntropyCalibration2): 1 batch(es)" in out
    text = cache.read_text().splitlines()
    assert text[0] == "TRT-101600-EntropyCalibration2" and any(line.startswith("a: ") for line in text)
    assert trt.load_engine(str(plan)) is not None
