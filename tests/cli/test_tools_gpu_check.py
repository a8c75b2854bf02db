"""``bench/tools_gpu_check.sh`` (issue 14's GPU checks) and its helpers, on the CPU: the summary's comparison of
``inferrt exec --exportTimes`` with ``bench/run.py``, the models and shape flags it hands exec and Polygraphy, the
script's option errors, and one whole run of the script in its CPU mode."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import tools_gpu_model, tools_gpu_summary

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "tools_gpu_check.sh"


def _times(compute_ms):
    """Queries in trtexec's --exportTimes layout with the given compute times, 1 ms apart."""
    out = []
    for i, c in enumerate(compute_ms):
        s = float(i)
        out.append({"startEnqMs": s, "endEnqMs": s + 0.01, "startH2dMs": s, "endH2dMs": s, "startComputeMs": s,
                    "endComputeMs": s + c, "startD2hMs": s + c, "endD2hMs": s + c, "h2dMs": 0.0, "computeMs": c,
                    "d2hMs": 0.0, "latencyMs": c})
    return out


def test_exec_median_is_the_median_of_the_compute_intervals():
    compute = np.random.default_rng(0).uniform(2.0, 4.0, 101)
    assert tools_gpu_summary.exec_compute_median_ms(_times(compute)) == pytest.approx(float(np.median(compute)))
    with pytest.raises(ValueError, match="no queries"):
        tools_gpu_summary.exec_compute_median_ms([])


@pytest.mark.parametrize("exec_ms,status", [(3.29, "PASS"), (2.71, "PASS"), (3.31, "FAIL"), (2.69, "FAIL")])
def test_ten_percent_of_the_bench_decides(exec_ms, status):
    name, got, detail = tools_gpu_summary.compare_row(64, exec_ms, 3.0, 0.10, "resnet50")
    assert got == status and name == "exec resnet50 batch 64: compute vs bench"
    assert "bench 3.000 ms" in detail and f"{(exec_ms - 3.0) / 3.0 * 100:+.1f}%" in detail


def test_a_batch_the_bench_lacks_fails():
    _, status, detail = tools_gpu_summary.compare_row(8, 1.0, None, 0.10, "resnet50")
    assert status == "FAIL" and "no row of batch 8" in detail


def _bench(path, rows):
    path.write_text(json.dumps({"env": {"device": "NVIDIA H100 80GB HBM3", "torch": "2.11.0", "inferrt": "0.1.0",
                                        "dtype": "torch.float16", "date": "2026-12-07"}, "rows": rows}))
    return str(path)


def test_summary_table_and_exit_status(tmp_path, capsys):
    bench = _bench(tmp_path / "bench.json", [{"model": "resnet50", "batch": 1, "inferrt_ms": 0.65},
                                             {"model": "resnet50", "batch": 64, "inferrt_ms": 3.33}])
    (tmp_path / "t1.json").write_text(json.dumps(_times([0.66] * 5)))
    (tmp_path / "t64.json").write_text(json.dumps(_times([3.40, 3.35, 3.30])))
    steps = tmp_path / "steps.tsv"
    steps.write_text("polygraphy convert resnet50.onnx\tPASS\t[3 s] done\npolygraphy run\tSKIP\tneeds a GPU\n")
    out = tmp_path / "summary.txt"
    rc = tools_gpu_summary.main(["--bench", bench, "--exec-times", f"1={tmp_path / 't1.json'}", "--exec-times",
                                 f"64={tmp_path / 't64.json'}", "--steps", str(steps), "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and out.read_text() == text
    assert "on NVIDIA H100 80GB HBM3" in text
    assert "exec resnet50 batch 64: compute vs bench  PASS    exec median 3.350 ms, bench 3.330 ms (+0.6%" in text
    assert "polygraphy run" in text and "SKIP" in text
    assert text.rstrip().endswith("4 checks: 3 passed, 0 failed, 1 skipped")

    steps.write_text("polygraphy run resnet50.onnx --trt --onnxrt\tFAIL\texit 1: FAILED\n")
    assert tools_gpu_summary.main(["--bench", bench, "--steps", str(steps)]) == 1
    assert "1 checks: 0 passed, 1 failed, 0 skipped" in capsys.readouterr().out


def test_summary_reports_what_did_not_run(tmp_path, capsys):
    bench = _bench(tmp_path / "bench.json", [{"model": "resnet50", "batch": 64, "error": "RuntimeError: boom"}])
    rc = tools_gpu_summary.main(["--bench", bench, "--exec-times", f"64={tmp_path / 'missing.json'}"])
    text = capsys.readouterr().out
    assert rc == 1
    assert "bench resnet50 batch 64" in text and "RuntimeError: boom" in text
    assert "missing.json" in text   # exec's times file is named, with the reason it could not be read
    assert tools_gpu_summary.main(["--bench", str(tmp_path / "none.json")]) == 1
    assert "bench/run.py JSON" in capsys.readouterr().out


def test_summary_refuses_malformed_input(tmp_path):
    bench = _bench(tmp_path / "bench.json", [])
    with pytest.raises(SystemExit):
        tools_gpu_summary.main(["--bench", bench, "--exec-times", "sixty-four=t.json"])
    steps = tmp_path / "steps.tsv"
    steps.write_text("a step\tOK\tdetail\n")
    with pytest.raises(ValueError, match=r"steps.tsv:1: expected 'name<TAB>PASS\|FAIL\|SKIP"):
        tools_gpu_summary.main(["--bench", bench, "--steps", str(steps)])


def test_shape_specs_put_the_batch_where_the_export_made_it_dynamic():
    assert tools_gpu_model.shape_specs(["input_ids", "mask"], [(1, 16), (1, 16)], [{0}, {0}]) == (
        "input_ids:@x16,mask:@x16", "input_ids:[@,16] mask:[@,16]")
    assert tools_gpu_model.shape_specs(["x"], [(1, 3, 224, 224)], [{0}]) == ("x:@x3x224x224", "x:[@,3,224,224]")
    assert tools_gpu_model.shape_specs(["x"], [(2, 3)], [set()]) == ("x:2x3", "x:[2,3]")


def test_conv_model_computes_relu_plus_conv(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch = pytest.importorskip("torch")
    import onnx
    from onnx import numpy_helper

    path = tmp_path / "conv.onnx"
    assert tools_gpu_model.conv_model(str(path)) == ("x:@x3x8x8", "x:[@,3,8,8]")
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    w, b = (numpy_helper.to_array(t) for t in model.graph.initializer)
    x = np.random.default_rng(1).standard_normal((3, 3, 8, 8)).astype(np.float32)
    c = torch.nn.functional.conv2d(torch.tensor(x, dtype=torch.float64), torch.tensor(w, dtype=torch.float64),
                                   torch.tensor(b, dtype=torch.float64), padding=1).numpy()
    (y,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    np.testing.assert_allclose(y, np.maximum(c, 0) + c, rtol=1e-5, atol=1e-5)


def _script(*args, out_dir=None):
    env = dict(os.environ, PYTHON=sys.executable)
    env.pop("OUT", None)
    if out_dir is not None:
        env["OUT"] = str(out_dir)
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=900)


@pytest.mark.parametrize("args,message", [
    (["--bogus"], "unknown option '--bogus'"),
    (["--device", "tpu"], "--device must be cuda or cpu, not 'tpu'"),
    (["--model", "alexnet"], "--model must be one of bench/run.py's models"),
    (["--batches", "1;64"], "--batches must be a comma-separated list of batch sizes"),
])
def test_script_option_errors(args, message, tmp_path):
    r = _script(*args, out_dir=tmp_path)
    assert r.returncode == 2 and message in r.stderr
    assert list(tmp_path.iterdir()) == []   # refused before anything ran


def test_script_without_a_gpu_says_so(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    r = _script("--model", "bert_base", "--small", out_dir=tmp_path)
    assert r.returncode == 1 and "no CUDA GPU here" in r.stderr and "--device cpu" in r.stderr


@pytest.mark.slow
def test_script_cpu_mode_end_to_end(tmp_path):
    """The whole script on the CPU with the bench's tiny BERT: bench, exec (report and exports), the HTML report,
    Polygraphy's inspect/convert/inspect on inferrt; Polygraphy's run --trt is skipped (it calls libcudart)."""
    pytest.importorskip("transformers")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("polygraphy")
    if shutil.which("bash") is None:
        pytest.skip("needs bash")
    r = _script("--device", "cpu", "--model", "bert_base", "--small", "--batches", "2", "--duration", "1",
                out_dir=tmp_path)
    summary = (tmp_path / "summary.txt").read_text()
    assert summary in r.stdout, r.stdout[-3000:] + r.stderr[-3000:]
    rows = {line.split("  ")[0].strip(): line for line in summary.splitlines()[3:-1]}
    timing = rows.pop("exec bert_base batch 2: compute vs bench")
    # the CPU timings of two processes on a shared machine may differ by more than 10%: that row may fail (and
    # then the exit status is 1), no other
    assert "exec median" in timing and "bench" in timing and "limit 10%" in timing
    assert r.returncode == (1 if "  FAIL  " in timing else 0)
    assert not [row for row in rows.values() if "  FAIL  " in row]
    assert "PASS" in rows["bench/run.py bert_base"] and "PASS" in rows["inferrt exec bert_base batch 2"]
    for m in ("conv", "bert_base"):
        assert "PASS" in rows[f"polygraphy inspect model {m}.onnx --display-as=trt"]
        assert "PASS" in rows[f"polygraphy convert {m}.onnx"]
        assert "PASS" in rows[f"polygraphy inspect model pg_{m}.plan"]
        assert "SKIP" in rows[f"polygraphy run {m}.onnx --trt --onnxrt"]
    assert "tensorrt 10.16.0 is inferrt" in rows["polygraphy imports inferrt as tensorrt"]
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["bench_bert_base.json", "exec_bert_base.log", "polygraphy.log", "report_bert_base.html",
                     "summary.txt", "tools_gpu_check.log"]
    log = (tmp_path / "exec_bert_base.log").read_text()
    assert "=== Performance summary ===" in log and "CPU Compute Time: min = " in log
    page = (tmp_path / "report_bert_base.html").read_text()
    assert "<svg" in page and "http://" not in page.replace("http://www.w3.org/", "")   # self-contained
    poly = (tmp_path / "polygraphy.log").read_text()
    assert "Explicit Batch Network" in poly and "Explicit Batch Engine" in poly
