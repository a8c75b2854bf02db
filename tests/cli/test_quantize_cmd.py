"""``inferrt quantize``: writes the Q/DQ model and the calibration cache, prints the report (text or JSON), takes
Model Optimizer's option spellings, reuses the cache, and fails with a message (exit 2) on bad input."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from inferrt.cli.main import main
from tests.helpers import rel_l2
from tests.quantize.models import gemm_model, ort_run, resblock_model


def _setup(tmp_path):
    model = tmp_path / "res.onnx"
    onnx.save(resblock_model(), str(model))
    x = np.random.default_rng(61).standard_normal((8, 4, 8, 8)).astype(np.float32)   # 4 batches of the model's 2
    np.savez(tmp_path / "cal.npz", x=x)
    return model, x


def test_quantizes_writes_cache_and_prints_the_report(tmp_path, capsys):
    model, x = _setup(tmp_path)
    cache = tmp_path / "res.calib.json"
    rc = main(["quantize", str(model), "--mode", "int8", "--calibration-method", "max", "--calibration-data",
               str(tmp_path / "cal.npz"), "--calibration-cache", str(cache)])
    assert rc == 0
    captured = capsys.readouterr()
    written = tmp_path / "res.int8.onnx"
    assert f"[I] wrote {written}" in captured.out
    assert "4 weighted node(s) quantized" in captured.out and "max on 4 feed(s)" in captured.out
    assert "calibrating (max)" in captured.err                    # the progress bar
    m = onnx.load(str(written))
    onnx.checker.check_model(m, full_check=True)
    assert sum(n.op_type == "QuantizeLinear" for n in m.graph.node) == 4
    assert rel_l2(ort_run(m, {"x": x[:2]})[0], ort_run(resblock_model(), {"x": x[:2]})[0]) < 2e-2
    assert json.loads(cache.read_text())["options"]["calibration_method"] == "max"
    # the cache alone, without data, gives the same model
    again = tmp_path / "again.onnx"
    assert main(["quantize", str(model), "--calibration-method", "max", "--calibration-cache", str(cache),
                 "-o", str(again), "--no-progress"]) == 0
    assert "max on cache" in capsys.readouterr().out
    assert onnx.load(str(again)).graph.SerializeToString() == m.graph.SerializeToString()


def test_model_optimizer_spellings_json_and_int4(tmp_path, capsys):
    model = tmp_path / "g.onnx"
    onnx.save(gemm_model(), str(model))
    out, report = tmp_path / "g4.onnx", tmp_path / "r.json"
    rc = main(["quantize", "--onnx_path", str(model), "--quantize_mode", "int4_rtn", "--block_size", "8",
               "--output_path", str(out), "--nodes_to_exclude", "out", "--json", "--report", str(report)])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert d["quantize_mode"] == "int4_rtn" and sorted(d["quantized_nodes"]) == ["k", "q"]
    assert json.loads(report.read_text()) == d
    dq = [n for n in onnx.load(str(out)).graph.node if n.op_type == "DequantizeLinear"]
    assert len(dq) == 2 and all({a.name: a.i for a in n.attribute}["block_size"] == 8 for n in dq)


def test_smoothquant_and_fp8_options_reach_the_quantizer(tmp_path, capsys):
    model = tmp_path / "g.onnx"
    onnx.save(gemm_model(), str(model))
    np.savez(tmp_path / "cal.npz", x=np.random.default_rng(2).standard_normal((4, 4, 16)).astype(np.float32))
    rc = main(["quantize", str(model), "--mode", "fp8", "--smoothquant", "--smoothquant-alpha", "0.8",
               "--calibration-data", str(tmp_path / "cal.npz"), "--json", "--no-progress", "--device", "cpu"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert d["smoothquant"] == {"h": "fold"} and d["opset"] == 19 and d["calibration_method"] == "max"
    assert d["calibration_device"] == "cpu (onnxruntime)"


@pytest.mark.parametrize("argv, words", [
    (["quantize"], "give the FP32 ONNX model"),
    (["quantize", "/nonexistent/m.onnx"], "does not exist"),
    (["quantize", "{model}", "--mode", "int4_rtn", "--smoothquant"], "smoothquant applies to int8 and fp8"),
    (["quantize", "{model}", "--calibration-data", "/nonexistent/cal.npz"], "does not exist"),
])
def test_bad_input_fails_with_a_message(tmp_path, capsys, argv, words):
    model, _ = _setup(tmp_path)
    assert main([a.format(model=model) for a in argv]) == 2
    assert words in capsys.readouterr().err


def test_a_refused_cache_fails_with_the_reason(tmp_path, capsys):
    model, _ = _setup(tmp_path)
    cache = tmp_path / "c.json"
    cal = str(tmp_path / "cal.npz")
    assert main(["quantize", str(model), "--calibration-method", "max", "--calibration-data", cal,
                 "--calibration-cache", str(cache), "--no-progress"]) == 0
    assert main(["quantize", str(model), "--calibration-method", "entropy", "--calibration-cache", str(cache),
                 "--no-progress"]) == 2
    assert "made with other options" in capsys.readouterr().err
