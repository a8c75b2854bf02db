"""The model zoo harness itself (bench/zoo*.py) on the CPU, on a tiny CNN: a real export/build/compare job, a job
that crashes and one that times out (each a failing row with its log's tail), the checks catching a wrong engine, and
the markdown report."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

from bench import zoo, zoo_check, zoo_report  # noqa: E402
from bench.zoo_models import TINY, make  # noqa: E402
from tests.helpers import rel_l2  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _args(tmp_path, **kw):
    a = dict(device="cpu", batches="1,dyn", dyn_profile="1,2,4", dyn_batch=3, timeout=300, log_dir=str(tmp_path),
             no_cuda_graphs=False, fp16=True)
    a.update(kw)
    return argparse.Namespace(**a)


def test_cli_runs_a_model_and_renders_markdown(tmp_path):
    out, md = tmp_path / "zoo.json", tmp_path / "zoo.md"
    cmd = [sys.executable, "-m", "bench.zoo", "--device", "cpu", "--models", TINY, "--exporters", "torchscript",
           "--batches", "1,4,dyn", "--dyn-profile", "1,2,4", "--dyn-batch", "3", "--jobs", "1", "--json", str(out),
           "--log-dir", str(tmp_path / "logs"), "--note", "smoke test"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    rows = doc["rows"]
    assert [r["batch"] for r in rows] == ["1", "4", "dyn1-2-4@3"]
    for r in rows:
        assert r["passed"] and r["model"] == TINY and r["exporter"] == "torchscript"
        assert 0 <= r["fp32_rel_l2"] <= zoo_check.FP32_REL_L2
        assert r["fp16_ratio"] is None and "CPU" in r["fp16_note"]
    assert "3/3 rows pass" in proc.stdout
    assert os.path.exists(tmp_path / "logs" / "onnx" / f"{TINY}.torchscript.onnx")   # cached for the next run
    subprocess.run([sys.executable, "-m", "bench.zoo", "--markdown", str(out), "--output", str(md)], cwd=ROOT,
                   check=True, timeout=120, env=dict(os.environ, PYTHONPATH=ROOT))
    text = md.read_text()
    assert "**3/3 rows pass.**" in text and "smoke test" in text
    assert f"| {TINY} | torchscript | dyn1-2-4@3 |" in text


def test_crashed_job_is_a_failing_row_with_its_log(tmp_path):
    rows = zoo.run_job("no_such_model", "dynamo", _args(tmp_path), threads=1)
    assert len(rows) == 1 and not rows[0]["passed"]
    assert rows[0]["error"].startswith("crashed (exit status 1)")
    assert "unknown zoo model 'no_such_model'" in rows[0]["log_tail"]


def test_timed_out_job_is_a_failing_row(tmp_path):
    rows = zoo.run_job(TINY, "torchscript", _args(tmp_path, timeout=0.5), threads=1)
    assert len(rows) == 1 and not rows[0]["passed"]
    assert rows[0]["error"] == "timed out after 0.5 s"


def test_check_fails_an_engine_that_is_off_by_1e_3(tmp_path, monkeypatch):
    real = zoo_check._run_twice

    def off(engine, feeds):
        runs = real(engine, feeds)
        runs[1] = {k: v * np.float32(1 + 1e-3) for k, v in runs[1].items()}   # only the replayed call is wrong
        return runs

    monkeypatch.setattr(zoo_check, "_run_twice", off)
    rows = zoo_check.check(TINY, "torchscript", "cpu", ["2"], onnx_dir=str(tmp_path), log=lambda s: None)
    assert len(rows) == 1 and not rows[0]["passed"] and not rows[0]["error"]
    assert rows[0]["fp32_rel_l2"] == pytest.approx(1e-3, rel=1e-2)
    assert "FP32 error above 0.0001" in zoo_report.render(rows)


def test_fp16_check_compares_with_eager_fp16_and_catches_inf(tmp_path, monkeypatch):
    """On the CPU the FP16 flag is ignored (FLOAT engine), so the engine is far closer to float64 than eager FP16
    is: the ratio is tiny and the row passes. An inf where the reference is finite fails it."""
    import copy

    zm = make(TINY)
    path = zoo_check.export(zm, "torchscript", str(tmp_path / "tiny.onnx"))
    feeds = zm.make_inputs(2, 1)
    ref64 = copy.deepcopy(zm.module).double()
    eager16 = copy.deepcopy(zm.module).to(torch.bfloat16)   # CPU half convolutions are not everywhere; bf16 is
    calib = zm.make_inputs(2, 2)
    row = {}
    ok = zoo_check._check_fp16(row, zm, path, feeds, (2, 2, 2), "cpu", ref64, eager16, calib, lambda s: None,
                               eager_dtype=torch.bfloat16)
    y64 = ref64(torch.from_numpy(feeds["x"]).double())[0].detach().numpy()
    y16 = eager16(torch.from_numpy(feeds["x"]).to(torch.bfloat16))[0].float().detach().numpy()
    assert row["eager_fp16_rel_l2"] == pytest.approx(rel_l2(y16, y64), rel=1e-6)
    assert ok and row["fp16_finite"] and row["fp16_ratio"] < 0.1

    real = zoo_check._run_twice

    def with_inf(engine, feeds):
        runs = real(engine, feeds)
        runs[0]["y"][0, 0] = np.inf
        return runs

    monkeypatch.setattr(zoo_check, "_run_twice", with_inf)
    row = {}
    assert not zoo_check._check_fp16(row, zm, path, feeds, (2, 2, 2), "cpu", ref64, eager16, calib,
                                     lambda s: None, eager_dtype=torch.bfloat16)
    assert row["fp16_finite"] is False


def test_report_marks_failures_and_counts():
    rows = [
        {"model": "m", "exporter": "dynamo", "batch": "1", "device": "cuda", "fp32_rel_l2": 2e-6,
         "fp16_rel_l2": 1e-3, "eager_fp16_rel_l2": 2e-3, "fp16_ratio": 0.5, "fp16_finite": True, "fp16_note": "",
         "passed": True, "error": ""},
        {"model": "m", "exporter": "torchscript", "batch": "64", "device": "cuda", "fp32_rel_l2": 2e-6,
         "fp16_rel_l2": 1e-2, "eager_fp16_rel_l2": 2e-3, "fp16_ratio": 5.0, "fp16_finite": True, "fp16_note": "",
         "passed": False, "error": ""},
        {"model": "n", "exporter": "dynamo", "batch": "all", "device": "cuda", "fp32_rel_l2": None,
         "fp16_rel_l2": None, "eager_fp16_rel_l2": None, "fp16_ratio": None, "fp16_finite": None, "fp16_note": "",
         "passed": False, "error": "crashed (exit status -11)"},
    ]
    text = zoo_report.render({"device": "cuda", "cuda_graphs": True, "wall_s": 412.0, "rows": rows})
    assert "CUDA graphs on" in text and "**1/3 rows pass.**" in text
    lines = [ln for ln in text.splitlines() if ln.startswith("| m ") or ln.startswith("| n ")]
    assert lines[0] == "| m | dynamo | 1 | 2.00e-06 | 1.00e-03 | 2.00e-03 | 0.50 | pass |"
    assert lines[1].endswith("| 5.00 | **FAIL**: FP16 ratio above 1.5 |")
    assert lines[2].endswith("| – | **FAIL**: crashed (exit status -11) |")
