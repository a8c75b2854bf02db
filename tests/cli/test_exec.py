"""``inferrt exec``: build or load an engine, run it, print outputs and latency; clear errors and exit codes."""
from __future__ import annotations

import re

import numpy as np
import pytest

from inferrt.cli.main import main
from tests.helpers import lowest_ir


#: no time-based warm-up or minimum duration, so --iterations alone decides how many queries run
FAST = ("--duration", "0", "--warmUp", "0")


def _run(capsys, *argv):
    rc = main(["exec", *FAST, *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _prob_line(out):
    lines = [ln for ln in out.splitlines() if ln.startswith("[output] prob")]
    assert len(lines) == 1, out
    return lines[0]


def test_exec_prints_outputs_and_latency(capsys, device):
    rc, out, err = _run(capsys, "--batch", "2", "--iterations", "3", "--warmup", "1", "--device", device)
    assert rc == 0, err
    line = _prob_line(out)
    assert "shape=(2, 10)" in line
    values = np.array([float(v) for v in re.search(r"first values=\[(.*)\]", line).group(1).split()])
    assert values.shape == (10,) and np.all(values >= 0) and abs(values.sum() - 1) < 1e-3   # softmax row
    assert "[I] Timing trace has 3 queries over" in out
    assert "[I] Warmup completed 1 queries" in out
    lat = [ln for ln in out.splitlines() if ln.startswith("[I] Latency:")]
    assert len(lat) == 1
    for key in ("min", "median", "mean", "max", r"percentile\(99%\)"):
        assert re.search(rf"{key} = \d+(\.\d+)?(e-\d+)? ms", lat[0]), lat[0]
    assert re.search(r"\[build\] \d+\.\d+ s, plan \d+ bytes", out)


def test_save_then_load_engine(capsys, tmp_path):
    path = tmp_path / "mnist.plan"
    rc, out, err = _run(capsys, "--batch", "3", "--iterations", "1", "--device", "cpu", "--saveEngine", str(path))
    assert rc == 0, err
    assert path.stat().st_size > 0 and f"Engine saved to {path}" in out
    rc2, out2, err2 = _run(capsys, "--loadEngine", str(path), "--batch", "3", "--iterations", "2")
    assert rc2 == 0, err2
    assert "[build]" not in out2
    assert _prob_line(out2) == _prob_line(out)   # same plan, same seeded inputs: same outputs


@pytest.mark.parametrize("content", [b"", b"not a plan at all" * 10, None])
def test_bad_load_engine_file(capsys, tmp_path, content):
    path = tmp_path / "bad.plan"
    if content is not None:
        path.write_bytes(content)
    rc, out, err = _run(capsys, "--loadEngine", str(path), "--iterations", "1")
    assert rc != 0
    assert "error: cannot load engine" in err and str(path) in err
    assert "Traceback" not in err and "Performance summary" not in out


def test_truncated_plan_file(capsys, tmp_path):
    path = tmp_path / "m.plan"
    assert _run(capsys, "--iterations", "1", "--device", "cpu", "--saveEngine", str(path))[0] == 0
    path.write_bytes(path.read_bytes()[:-100])
    rc, out, err = _run(capsys, "--loadEngine", str(path))
    assert rc == 2 and "truncated" in err


def test_batch_outside_the_loaded_engine_profile(capsys, tmp_path):
    path = tmp_path / "m.plan"
    assert _run(capsys, "--batch", "2", "--iterations", "1", "--device", "cpu", "--saveEngine", str(path))[0] == 0
    rc, out, err = _run(capsys, "--loadEngine", str(path), "--batch", "5", "--iterations", "1")
    assert rc == 2 and "error: inference failed" in err and "'x'" in err


def test_bad_arguments(capsys, tmp_path):
    rc, out, err = _run(capsys, "--shapes", "1x2x3", "--iterations", "1")
    assert rc == 2 and "--shapes" in err
    with pytest.raises(SystemExit) as info:
        main(["exec", "--iterations", "0"])
    assert info.value.code == 2 and "at least 1" in capsys.readouterr().err
    rc, out, err = _run(capsys, "--iterations", "1", "--device", "cpu", "--saveEngine",
                        str(tmp_path / "no_such_dir" / "m.plan"))
    assert rc == 2 and "cannot save engine" in err


def _onnx_file(path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.arange(18, dtype=np.float32).reshape(6, 3) / 10
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], [numpy_helper.from_array(w, "w")])
    onnx.save(lowest_ir(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])), str(path))
    return w


def test_exec_onnx_with_shapes(capsys, tmp_path):
    w = _onnx_file(tmp_path / "m.onnx")
    rc, out, err = _run(capsys, "--onnx", str(tmp_path / "m.onnx"), "--shapes", "x:4x6", "--iterations", "2",
                        "--device", "cpu")
    assert rc == 0, err
    line = [ln for ln in out.splitlines() if ln.startswith("[output] y")][0]
    assert "shape=(4, 3)" in line
    # the inputs are the seeded standard normal draws the command documents; check the first row
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    values = np.array([float(v) for v in re.search(r"first values=\[(.*)\]", line).group(1).split()])
    np.testing.assert_allclose(values, (x.astype(np.float64) @ w).reshape(-1)[:10], rtol=1e-3, atol=1e-4)


def test_exec_onnx_missing_file(capsys, tmp_path):
    rc, out, err = _run(capsys, "--onnx", str(tmp_path / "nope.onnx"), "--iterations", "1")
    assert rc == 2 and "nope.onnx" in err and "Traceback" not in err
