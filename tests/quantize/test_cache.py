"""The calibration cache: written after calibrating, reused without data when it matches, refused with a message
that says why when the model or the range options changed."""
from __future__ import annotations

import json

import numpy as np
import pytest
from onnx import numpy_helper

import inferrt as trt
from inferrt.quantize import quantize
from tests.quantize.models import gemm_model, matmul_model, resblock_model


def _x(seed=1):
    return np.random.default_rng(seed).standard_normal((2, 4, 8, 8)).astype(np.float32)


def _same_model(a, b):
    assert [n.SerializeToString() for n in a.graph.node] == [n.SerializeToString() for n in b.graph.node]
    ia = {t.name: numpy_helper.to_array(t) for t in a.graph.initializer}
    ib = {t.name: numpy_helper.to_array(t) for t in b.graph.initializer}
    assert ia.keys() == ib.keys()
    for k in ia:
        np.testing.assert_array_equal(ia[k], ib[k])


def test_round_trip_reuses_the_ranges_without_data(tmp_path):
    path = tmp_path / "cal.json"
    first = quantize(resblock_model(), "int8", "entropy", calibration_data={"x": _x()}, calibration_cache=path,
                     progress=False)
    data = json.loads(path.read_text())
    assert data["format"] == "inferrt.calibration_cache" and data["version"] == 1
    assert data["options"]["calibration_method"] == "entropy" and len(data["model_sha256"]) == 64
    assert data["amax"] == pytest.approx(first.report.activations)
    # no data at all: the cache alone gives the same model
    again = quantize(resblock_model(), "int8", "entropy", calibration_cache=path, progress=False)
    assert again.report.calibration == f"cache {path}" and again.report.calibration_device is None
    _same_model(first.model, again.model)


def test_cache_holds_smoothquant_and_awq_scales(tmp_path):
    x = np.random.default_rng(2).standard_normal((3, 4, 16)).astype(np.float32)
    p1 = tmp_path / "sq.json"
    a = quantize(gemm_model(), "int8", "max", calibration_data={"x": x}, smoothquant=True, calibration_cache=p1,
                 progress=False)
    assert list(json.loads(p1.read_text())["smoothquant"]) == ["h"]
    _same_model(a.model, quantize(gemm_model(), "int8", "max", smoothquant=True, calibration_cache=p1,
                                  progress=False).model)
    p2 = tmp_path / "awq.json"
    xm = np.random.default_rng(3).standard_normal((8, 256)).astype(np.float32)
    b = quantize(matmul_model(), "int4_awq", calibration_data={"x": xm}, calibration_cache=p2, progress=False)
    assert list(json.loads(p2.read_text())["awq"]) == ["mm"]
    _same_model(b.model, quantize(matmul_model(), "int4_awq", calibration_cache=p2, progress=False).model)


def test_a_changed_model_is_refused(tmp_path):
    path = tmp_path / "cal.json"
    quantize(resblock_model(), "int8", "max", calibration_data={"x": _x()}, calibration_cache=path, progress=False)
    changed = resblock_model()
    w = next(t for t in changed.graph.initializer if t.name == "w1")
    w.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(w) * 2, "w1"))
    with pytest.raises(trt.BuildError, match="made for a different model.*Delete the cache"):
        quantize(changed, "int8", "max", calibration_data={"x": _x()}, calibration_cache=path, progress=False)


@pytest.mark.parametrize("kwargs, words", [
    ({"calibration_method": "percentile"}, "calibration_method: cache 'max', now 'percentile'"),
    ({"calibration_method": "max", "smoothquant": True}, "smoothquant_alpha: cache None, now 0.5"),
    ({"quantize_mode": "fp8", "calibration_method": "max"}, "quantize_mode: cache 'int8', now 'fp8'"),
])
def test_other_range_options_are_refused(tmp_path, kwargs, words):
    path = tmp_path / "cal.json"
    quantize(gemm_model(), "int8", "max", calibration_data={"x": np.ones((1, 4, 16), np.float32)},
             calibration_cache=path, progress=False)
    with pytest.raises(trt.BuildError) as e:
        quantize(gemm_model(), calibration_cache=path, progress=False, **kwargs)
    assert words in str(e.value) and "calibrate again" in str(e.value)


def test_missing_entries_and_bad_files_are_refused(tmp_path):
    path = tmp_path / "cal.json"
    quantize(resblock_model(), "int8", "max", calibration_data={"x": _x()}, calibration_cache=path,
             nodes_to_exclude=["c0"], progress=False)
    with pytest.raises(trt.BuildError, match="no amax entry for .x."):
        quantize(resblock_model(), "int8", "max", calibration_cache=path, progress=False)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(trt.BuildError, match="cannot read calibration cache"):
        quantize(resblock_model(), "int8", "max", calibration_cache=bad, progress=False)
    bad.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(trt.BuildError, match="not an inferrt calibration cache"):
        quantize(resblock_model(), "int8", "max", calibration_cache=bad, progress=False)
