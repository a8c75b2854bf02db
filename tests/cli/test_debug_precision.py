"""``inferrt debug precision``: on a model where exactly one layer (``ss``, a sum of squares past 65504) breaks in
FP16, the search names that layer, in bisect and linear mode, with the built-in check and with a --check command;
the model saved with -o keeps it in FP32 and is accurate in onnxruntime."""
from __future__ import annotations

import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from inferrt.cli.main import main
from tests.accuracy.models import BROKEN_LAYER, overflow_model, sample

#: the --check command: the candidate's energy output is finite in inferrt's CPU engine (onnxruntime is no judge of
#: FP16 here: its CPU provider runs ReduceSumSquare in float32 behind inserted Casts)
FINITE_ENERGY = """import sys, numpy as np, inferrt
x = np.random.default_rng(0).standard_normal((4, 16)).astype(np.float32)
engine = inferrt.build_engine(sys.argv[1], device='cpu')
out = engine.create_execution_context().infer({'x': x})['energy']
sys.exit(0 if np.isfinite(out).all() else 1)
"""


@pytest.fixture
def model_path(tmp_path):
    p = tmp_path / "ovf.onnx"
    onnx.save(overflow_model(), str(p))
    return str(p)


def _run(capsys, *argv):
    rc = main(["debug", "precision", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _minimal(out):
    line = next(ln for ln in out.splitlines() if "Minimal set" in ln)
    return line.split(": ", 1)[1].split(", ")


@pytest.mark.parametrize("mode, direction", [("bisect", "forward"), ("linear", "forward"), ("bisect", "reverse")])
def test_fp16_names_the_broken_layer(model_path, tmp_path, capsys, mode, direction):
    fixed = tmp_path / "fixed.onnx"
    rc, out, err = _run(capsys, model_path, "--fp16", "--cpu", "--val-range", "[-2,2]", "--mode", mode,
                        "--direction", direction, "-o", str(fixed))
    assert rc == 0, out + err
    assert _minimal(out) == [BROKEN_LAYER]
    m = onnx.load(str(fixed))
    types = {vi.name: vi.type.tensor_type.elem_type for vi in m.graph.value_info}
    assert types["h1"] == onnx.TensorProto.FLOAT16           # the other layers are in FP16
    x = sample(3)["x"]
    got = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    want = ort.InferenceSession(overflow_model().SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, {"x": x})
    assert np.isfinite(got[0]).all()
    np.testing.assert_allclose(got[0], want[0], rtol=1e-2)


def test_bf16_needs_no_fp32_layer(model_path, capsys):
    """BF16 has float32's range: nothing overflows, and BF16's error stays under 2e-2."""
    rc, out, err = _run(capsys, model_path, "--bf16", "--cpu", "--max-rel-l2", "2e-2")
    assert rc == 0, out + err
    assert "no layer needs FP32" in out


@pytest.mark.slow   # each of its ~8 checks starts a Python process that imports torch and builds (~1 minute on 2 cores)
def test_command_check(model_path, tmp_path, capsys):
    script = tmp_path / "finite.py"
    script.write_text(FINITE_ENERGY)
    rc, out, err = _run(capsys, model_path, "--fp16", "--cpu", "--check", f"{sys.executable} {script} {{model}}",
                        "--iter-artifact", str(tmp_path / "iter.onnx"))
    assert rc == 0, out + err
    assert _minimal(out) == [BROKEN_LAYER]


def test_int8_with_a_tolerance_only_fp32_meets(model_path, capsys):
    """Every quantized layer must go back to FP32 for an exact match; the candidates are the quantized nodes."""
    rc, out, err = _run(capsys, model_path, "--int8", "--cpu", "--calibration-method", "max", "--max-rel-l2", "1e-9")
    assert rc == 0, out + err
    got = _minimal(out)
    assert got and set(got) <= {"mm1", "mm2", "head", "ss"}


def test_all_fp32_failing_exits_1(model_path, capsys):
    rc, out, err = _run(capsys, model_path, "--fp16", "--cpu", "--check", f"{sys.executable} -c 'raise SystemExit(3)'")
    assert rc == 1 and "even with every candidate layer in FP32" in out


@pytest.mark.parametrize("argv, word", [(["--fp16", "--cpu", "--layer-precision"], "needs the GPU"),
                                        (["--fp16", "--calibration-method", "max"], "--int8/--fp8"),
                                        (["--int8", "--layer-precision"], "--fp16/--bf16"),
                                        (["--fp16", "--atol", "1e-3"], "go together")])
def test_usage_errors(model_path, capsys, argv, word):
    rc, out, err = _run(capsys, model_path, *argv)
    assert rc == 2 and word in err


@pytest.mark.gpu
@pytest.mark.parametrize("way", [[], ["--layer-precision"]])
def test_fp16_names_the_broken_layer_on_gpu(model_path, capsys, way):
    rc, out, err = _run(capsys, model_path, "--fp16", "--device", "cuda", "--val-range", "[-2,2]", *way)
    assert rc == 0, out + err
    assert _minimal(out) == [BROKEN_LAYER]
