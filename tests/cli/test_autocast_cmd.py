"""``inferrt autocast``: writes the converted model, prints the report (text or JSON), takes Model Optimizer's
option spellings, and fails with a message (exit 2) on bad input."""
from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto

from inferrt.cli.main import main
from tests.autocast.models import chain_model
from tests.helpers import assert_close


def _setup(tmp_path):
    model = tmp_path / "chain.onnx"
    onnx.save(chain_model(1e5), str(model))
    x = np.random.default_rng(51).standard_normal((2, 8)).astype(np.float32)
    np.savez(tmp_path / "cal.npz", x=x)
    return model, x


def test_converts_and_prints_the_report(tmp_path, capsys):
    model, x = _setup(tmp_path)
    assert main(["autocast", str(model), "--calibration-data", str(tmp_path / "cal.npz"), "--keep-io-types"]) == 0
    out = capsys.readouterr().out
    assert "kept in fp32:" in out and "scale (Mul): init_max" in out
    written = tmp_path / "chain.fp16.onnx"
    assert f"[I] wrote {written}" in out
    m = onnx.load(str(written))
    assert m.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    got = ort.InferenceSession(str(written)).run(None, {"x": x})[0]
    want = ort.InferenceSession(str(model)).run(None, {"x": x})[0]
    assert_close(got, want, dtype=np.float16)


def test_json_and_model_optimizer_spellings(tmp_path, capsys):
    model, _ = _setup(tmp_path)
    out_path, report = tmp_path / "o.onnx", tmp_path / "r.json"
    rc = main(["autocast", "--onnx_path", str(model), "--output_path", str(out_path), "--low_precision_type", "bf16",
               "--calibration_data", str(tmp_path / "cal.npz"), "--op_types_to_exclude", "Softmax",
               "--nodes_to_exclude", "mm1", "--data_max", "inf", "--json", "--report", str(report)])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert d["low_precision_type"] == "bf16" and d["data_max"] == float("inf")
    assert {n["name"] for n in d["nodes"] if n["precision"] == "fp32"} == {"mm1", "sm", "scale", "unscale"}
    assert json.loads(report.read_text()) == d
    assert onnx.load(str(out_path)).graph.input[0].type.tensor_type.elem_type == TensorProto.BFLOAT16


def test_random_calibration_is_reported(tmp_path, capsys):
    model, _ = _setup(tmp_path)
    assert main(["autocast", str(model), "-o", str(tmp_path / "o.onnx")]) == 0
    assert "warning: no calibration data" in capsys.readouterr().out


def test_errors_exit_2_with_the_reason(tmp_path, capsys):
    model, _ = _setup(tmp_path)
    np.savez(tmp_path / "bad.npz", y=np.ones(3))
    assert main(["autocast", str(model), "--calibration-data", str(tmp_path / "bad.npz")]) == 2
    assert "'y', which is not an input of the model" in capsys.readouterr().err
    assert main(["autocast", str(tmp_path / "missing.onnx")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["autocast"]) == 2
    assert "give the FP32 ONNX model" in capsys.readouterr().err


def test_norm_variance_switch(tmp_path, capsys):
    from tests.autocast.models import rms_norm_model

    model = tmp_path / "rms.onnx"
    onnx.save(rms_norm_model(), str(model))
    assert main(["autocast", str(model), "-o", str(tmp_path / "a.onnx"), "--json"]) == 0
    on = json.loads(capsys.readouterr().out)
    assert on["summary"]["kept_by_rule"] == {"norm_variance": 4}
    assert main(["autocast", str(model), "-o", str(tmp_path / "b.onnx"), "--json", "--no-keep-norm-variance"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["kept_fp32"] == 0
