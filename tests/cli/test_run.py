"""``inferrt run``: inferrt against onnxruntime or another inferrt configuration, error statistics checked against
numpy, --atol/--rtol decisions, --mark-all naming the layer a deliberately wrong importer breaks, saved data."""
from __future__ import annotations

import re

import numpy as np
import pytest

from inferrt.cli.main import main
from tests.cli.tool_models import break_sigmoid, chain_model, two_output_model
from tests.helpers import lowest_ir


def _run(capsys, *argv):
    rc = main(["run", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _stat(out, output, which):
    """The max of 'Absolute' / 'Relative' Difference printed for ``output``."""
    block = out.split(f"Comparing Output: '{output}'")[1]
    m = re.search(rf"{which} Difference \| Stats: max=(\S+) at", block)
    return float(m.group(1))


def _load_results(path):
    from inferrt.tools.data_io import load_data

    kind, runners = load_data(path)
    assert kind == "outputs"
    return {name: iters for name, iters in runners}


def test_inferrt_matches_onnxruntime_and_prints_polygraphy_lines(tmp_path, capsys):
    model = chain_model(tmp_path / "m.onnx")
    rc, out, err = _run(capsys, model, "--cpu", "--input-shapes", "x:3x4", "--save-outputs", str(tmp_path / "o.json"),
                        "--save-inputs", str(tmp_path / "i.json"))
    assert rc == 0, err
    assert "PASSED | Output: 'y' | Difference is within tolerance (rel=1e-05, abs=1e-05)" in out
    assert "Accuracy Summary | inferrt-runner[cpu] vs. onnxrt-runner | Passed: 1/1 iterations" in out
    assert re.search(r"\[I\] PASSED \| Runtime: [\d.]+s", out)
    res = _load_results(tmp_path / "o.json")
    y_trt, y_ort = res["inferrt-runner[cpu]"][0]["y"], res["onnxrt-runner"][0]["y"]
    assert y_trt.shape == (3, 4)
    assert _stat(out, "y", "Absolute") == pytest.approx(float(np.max(np.abs(y_trt.astype(np.float64) - y_ort))),
                                                        abs=1e-12)


def test_wrong_importer_fails_with_the_error_numpy_computes(tmp_path, capsys, monkeypatch):
    break_sigmoid(monkeypatch)
    model = chain_model(tmp_path / "m.onnx")
    rc, out, _ = _run(capsys, model, "--cpu", "--input-shapes", "x:5x4", "--save-inputs", str(tmp_path / "i.npz"))
    assert rc == 1
    assert "FAILED | Output: 'y'" in out and "Pass Rate: 0.0%" in out and "[I] FAILED | Runtime" in out
    x = np.load(tmp_path / "i.npz")["x"].astype(np.float64)
    w = np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32).astype(np.float64)
    b = np.maximum(x @ w, 0)
    wrong, right = np.tanh(b) + x, 1 / (1 + np.exp(-b)) + x
    expect_abs = np.abs(wrong - right)
    assert _stat(out, "y", "Absolute") == pytest.approx(expect_abs.max(), rel=1e-4)
    assert _stat(out, "y", "Relative") == pytest.approx((expect_abs / np.abs(right)).max(), rel=1e-4)


def test_atol_decides_pass_and_fail(tmp_path, capsys, monkeypatch):
    """tanh(b) - sigmoid(b) for b >= 0 is at most 0.5 in size (at b = 0, where relu puts many elements)."""
    break_sigmoid(monkeypatch)
    model = chain_model(tmp_path / "m.onnx")
    common = (model, "--cpu", "--input-shapes", "x:64x4", "--val-range", "[-1,1]", "--rtol", "0")
    assert _run(capsys, *common, "--atol", "0.51")[0] == 0
    assert _run(capsys, *common, "--atol", "0.4")[0] == 1
    assert _run(capsys, *common, "--atol", "0", "y:0.51")[0] == 0     # per-output tolerance wins
    rc, out, _ = _run(capsys, *common, "--atol", "1e-9", "--check-error-stat", "median", "--error-hist")
    assert "Absolute Difference Histogram:" in out


def test_mark_all_names_the_broken_layer(tmp_path, capsys, monkeypatch):
    break_sigmoid(monkeypatch)
    model = chain_model(tmp_path / "m.onnx")
    rc, out, _ = _run(capsys, model, "--cpu", "--mark-all", "--save-outputs", str(tmp_path / "o.json"))
    assert rc == 1
    assert "First divergent layer: 'sig' (Sigmoid) | output(s) ['c']" in out
    assert "Comparing Output: 'a'" not in out and "Comparing Output: 'b'" not in out   # they match
    res = _load_results(tmp_path / "o.json")
    assert set(res["inferrt-runner[cpu]"][0]) == {"y", "a", "b", "c"}
    np.testing.assert_array_equal(res["inferrt-runner[cpu]"][0]["b"] >= 0, True)


def test_mark_all_with_two_outputs_passes_the_unbroken_branch(tmp_path, capsys, monkeypatch):
    break_sigmoid(monkeypatch)
    model = two_output_model(tmp_path / "m.onnx")
    rc, out, _ = _run(capsys, model, "--cpu", "--mark-all", "--atol", "1e-6", "--rtol", "1e-6")
    assert rc == 1
    assert "PASSED | Output: 'y1'" in out and "FAILED | Output: 'y2'" in out
    assert "First divergent layer: 'sig' (Sigmoid)" in out
    assert "FAILED | Mismatched outputs: ['y2']" in out


def test_two_inferrt_configurations(tmp_path, capsys):
    model = chain_model(tmp_path / "m.onnx")
    rc, out, err = _run(capsys, model, "--cpu", "--reference", "inferrt", "--reference-opt-level", "0",
                        "--atol", "0", "--rtol", "1e-6")
    assert rc == 0, err
    assert "inferrt-runner[cpu] vs. inferrt-runner[cpu,opt0]" in out


def test_loaded_inputs_reproduce_the_run_and_iterations(tmp_path, capsys):
    model = chain_model(tmp_path / "m.onnx")
    assert _run(capsys, model, "--cpu", "--iterations", "2", "--seed", "7", "--val-range", "x:[-3,-2]",
                "--input-shapes", "x:2x4", "--save-inputs", str(tmp_path / "i.json"),
                "--save-outputs", str(tmp_path / "o1.json"))[0] == 0
    from inferrt.tools.data_io import load_inputs

    feeds = load_inputs(tmp_path / "i.json")
    assert len(feeds) == 2 and not np.array_equal(feeds[0]["x"], feeds[1]["x"])
    assert all(-3 <= f["x"].min() and f["x"].max() <= -2 and f["x"].shape == (2, 4) for f in feeds)
    rc, out, _ = _run(capsys, model, "--cpu", "--load-inputs", str(tmp_path / "i.json"),
                      "--save-outputs", str(tmp_path / "o2.json"))
    assert rc == 0 and "Passed: 2/2 iterations" in out
    a, b = _load_results(tmp_path / "o1.json"), _load_results(tmp_path / "o2.json")
    for k in range(2):
        np.testing.assert_array_equal(a["onnxrt-runner"][k]["y"], b["onnxrt-runner"][k]["y"])
    rc, _, err = _run(capsys, model, "--cpu", "--load-inputs", str(tmp_path / "i.json"),
                      "--save-outputs", str(tmp_path / "o.npz"))
    assert rc == 2 and "an .npz holds one iteration per runner" in err


def test_loaded_inputs_of_another_type_are_converted_with_a_warning(tmp_path, capsys):
    model = chain_model(tmp_path / "m.onnx")
    np.savez(tmp_path / "i.npz", x=np.full((2, 4), 0.25))     # float64
    rc, out, _ = _run(capsys, model, "--cpu", "--load-inputs", str(tmp_path / "i.npz"))
    assert rc == 0 and "input 'x' is float64 in the file and float32 in the model" in out


def test_dynamic_dimension_defaults_to_one(tmp_path, capsys):
    model = chain_model(tmp_path / "m.onnx")
    rc, out, _ = _run(capsys, model, "--cpu", "--save-inputs", str(tmp_path / "i.npz"))
    assert rc == 0 and "using (1, 4)" in out
    assert np.load(tmp_path / "i.npz")["x"].shape == (1, 4)


@pytest.mark.parametrize("argv, words", [
    (["--cpu", "--fp16"], "--fp16 cannot be honoured on the CPU"),
    (["--cpu", "--input-shapes", "z:1x4"], "has no input 'z'"),
    (["--cpu", "--input-shapes", "x:2x5"], "static dimension 1 = 4"),
    (["--cpu", "--val-range", "[2,1]"], "--val-range"),
    (["--cpu", "--val-range", "q:[0,1]"], "has no input 'q'"),
    (["--cpu", "--atol", "-1"], "--atol"),
    (["--cpu", "--reference-device", "cpu"], "add --reference inferrt"),
    (["--cpu", "--load-inputs", "in.json", "--iterations", "2"], "drop one of them"),
])
def test_bad_arguments_exit_2_naming_the_problem(tmp_path, capsys, argv, words):
    model = chain_model(tmp_path / "m.onnx")
    rc, _, err = _run(capsys, model, *argv)
    assert rc == 2 and words in err, err


def test_missing_model_and_bad_input_file(tmp_path, capsys):
    rc, _, err = _run(capsys, str(tmp_path / "nope.onnx"), "--cpu")
    assert rc == 2 and "no such file" in err
    model = chain_model(tmp_path / "m.onnx")
    np.savez(tmp_path / "bad.npz", z=np.zeros((1, 4), np.float32))
    rc, _, err = _run(capsys, model, "--cpu", "--load-inputs", str(tmp_path / "bad.npz"))
    assert rc == 2 and "lacks inputs ['x']" in err


def test_polygraphy_reads_our_files_and_we_read_its_inputs(tmp_path, capsys):
    pg = pytest.importorskip("polygraphy.json")
    model = chain_model(tmp_path / "m.onnx")
    assert _run(capsys, model, "--cpu", "--save-outputs", str(tmp_path / "o.json"))[0] == 0
    results = pg.load_json(str(tmp_path / "o.json"))
    assert [name for name, _ in results.lst] == ["inferrt-runner[cpu]", "onnxrt-runner"]
    x = np.linspace(0, 1, 8, dtype=np.float32).reshape(2, 4)
    pg.save_json([{"x": x}], str(tmp_path / "pg_inputs.json"))
    rc, out, _ = _run(capsys, model, "--cpu", "--load-inputs", str(tmp_path / "pg_inputs.json"),
                      "--save-outputs", str(tmp_path / "o2.json"))
    assert rc == 0
    got = _load_results(tmp_path / "o2.json")["onnxrt-runner"][0]["y"]
    assert got.shape == (2, 4)


@pytest.mark.gpu
def test_gpu_against_cpu_and_fp16_against_fp32(tmp_path, capsys):
    model = chain_model(tmp_path / "m.onnx")
    rc, out, err = _run(capsys, model, "--device", "cuda", "--reference", "inferrt", "--reference-device", "cpu",
                        "--input-shapes", "x:16x4", "--atol", "1e-5", "--rtol", "1e-5")
    assert rc == 0, out + err
    assert "inferrt-runner[cuda] vs. inferrt-runner[cpu]" in out
    common = (model, "--device", "cuda", "--fp16", "--reference", "inferrt", "--input-shapes", "x:16x4")
    assert _run(capsys, *common, "--atol", "1e-2", "--rtol", "1e-2")[0] == 0
    rc, out, _ = _run(capsys, *common, "--atol", "1e-6", "--rtol", "1e-6", "--mark-all")
    assert rc == 1 and "First divergent layer: 'mm' (MatMul)" in out


@pytest.mark.gpu
def test_gpu_mark_all_names_the_broken_layer(tmp_path, capsys, monkeypatch):
    break_sigmoid(monkeypatch)
    model = chain_model(tmp_path / "m.onnx")
    rc, out, _ = _run(capsys, model, "--device", "cuda", "--mark-all", "--atol", "1e-4", "--rtol", "1e-4")
    assert rc == 1 and "First divergent layer: 'sig' (Sigmoid)" in out


def test_tool_commands_start_without_torch_or_onnx():
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys\nfrom inferrt.cli.main import main\n"
            "for c in (['run', '--help'], ['inspect', 'model', '--help'], ['surgeon', 'extract', '--help'],\n"
            "          ['debug', 'reduce', '--help'], ['check', 'lint', '--help']):\n"
            "    try:\n        main(c)\n    except SystemExit:\n        pass\n"
            "print(sorted(m for m in sys.modules if m in ('torch', 'onnx', 'onnxruntime')))\n")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "--mark-all" in r.stdout and "--fold-constants" not in r.stdout   # extract's help, not sanitize's
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_validate_fails_on_nan_in_both_runners(tmp_path, capsys):
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h

    g = h.make_graph([h.make_node("Log", ["x"], ["y"], name="log")], "g",
                     [h.make_tensor_value_info("x", T.FLOAT, [4])], [h.make_tensor_value_info("y", T.FLOAT, [4])])
    path = str(tmp_path / "log.onnx")
    onnx.save(lowest_ir(h.make_model(g, opset_imports=[h.make_opsetid("", 17)])), path)
    rc, out, _ = _run(capsys, path, "--cpu", "--val-range", "[-1,-0.5]")
    assert rc == 0          # NaN where the reference has NaN counts as equal
    rc, out, _ = _run(capsys, path, "--cpu", "--val-range", "[-1,-0.5]", "--validate")
    assert rc == 1 and "FAILED | onnxrt-runner | iteration 0 | Output: 'y' holds 4 NaN and 0 inf value(s)" in out
    rc, out, _ = _run(capsys, path, "--cpu", "--val-range", "[1,2]", "--validate")
    assert rc == 0 and "Validation: no NaN or inf in any output" in out
