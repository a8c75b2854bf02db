"""``inferrt exec`` shapes: --shapes / --minShapes / --optShapes / --maxShapes become the built plan's profile, a
missing dynamic dimension gets trtexec's default with its message, and wrong names or shapes name the tensor."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import inferrt as trt
from inferrt.cli.main import main
from tests.helpers import lowest_ir

FAST = ("--duration", "0", "--warmUp", "0", "--iterations", "2", "--device", "cpu")


def _model(path, dims=("N", "S", 6)):
    """y = x @ w with x of shape dims (strings are dynamic)."""
    w = (np.arange(18, dtype=np.float32).reshape(6, 3) - 8) / 10
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [*dims[:-1], 3])], [numpy_helper.from_array(w, "w")])
    onnx.save(lowest_ir(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])), str(path))
    return str(path)


def _exec(capsys, *argv):
    rc = main(["exec", *FAST, *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _profile(plan_path):
    engine = trt.load_engine(str(plan_path))
    return [tuple(d) for d in engine.get_tensor_profile_shape("x", 0)]


def test_min_opt_max_build_a_dynamic_profile(capsys, tmp_path):
    m, plan = _model(tmp_path / "m.onnx"), tmp_path / "m.plan"
    rc, out, err = _exec(capsys, "--onnx", m, "--minShapes", "x:1x2x6", "--optShapes", "x:4x8x6",
                         "--maxShapes", "x:8x16x6", "--shapes", "x:3x5x6", "--saveEngine", str(plan))
    assert rc == 0, err
    assert _profile(plan) == [(1, 2, 6), (4, 8, 6), (8, 16, 6)]
    assert "[I] Input inference shape : x=3x5x6" in out
    assert "[output] y shape=(3, 5, 3)" in out
    # the saved plan runs other shapes inside the profile, and refuses one outside it, naming the tensor
    rc, out, err = _exec(capsys, "--loadEngine", str(plan), "--shapes", "x:8x16x6")
    assert rc == 0 and "[output] y shape=(8, 16, 3)" in out, err
    rc, out, err = _exec(capsys, "--loadEngine", str(plan), "--shapes", "x:9x16x6")
    assert rc == 2 and "'x'" in err and "inference failed" in err


def test_opt_defaults_to_max_and_inference_to_opt(capsys, tmp_path):
    m, plan = _model(tmp_path / "m.onnx"), tmp_path / "m.plan"
    rc, out, err = _exec(capsys, "--onnx", m, "--minShapes", "x:1x1x6", "--maxShapes", "x:2x4x6",
                         "--saveEngine", str(plan))
    assert rc == 0, err
    assert _profile(plan) == [(1, 1, 6), (2, 4, 6), (2, 4, 6)]
    assert "[output] y shape=(2, 4, 3)" in out


def test_shapes_alone_pin_the_profile(capsys, tmp_path):
    m, plan = _model(tmp_path / "m.onnx"), tmp_path / "m.plan"
    assert _exec(capsys, "--onnx", m, "--shapes", "x:2x3x6", "--saveEngine", str(plan))[0] == 0
    assert _profile(plan) == [(2, 3, 6)] * 3


def test_missing_dynamic_dimensions_get_trtexecs_default_and_message(capsys, tmp_path):
    m, plan = _model(tmp_path / "m.onnx"), tmp_path / "m.plan"
    rc, out, err = _exec(capsys, "--onnx", m, "--saveEngine", str(plan))
    assert rc == 0, err
    assert ("Dynamic dimensions required for input: x, but no shapes were given. Automatically overriding shape "
            "to: 1x1x6") in out
    assert _profile(plan) == [(1, 1, 6)] * 3
    # --batch (inferrt) sets only the first dynamic dimension; the others keep trtexec's 1
    rc, out, err = _exec(capsys, "--onnx", m, "--batch", "5")
    assert rc == 0 and "overriding shape to: 5x1x6" in out and "[output] y shape=(5, 1, 3)" in out


def test_numerics_at_the_requested_shape(capsys, tmp_path):
    m = _model(tmp_path / "m.onnx")
    x = np.arange(2 * 3 * 6, dtype=np.float32).reshape(2, 3, 6) / 7
    x.tofile(tmp_path / "x.bin")
    out_json = tmp_path / "out.json"
    rc, out, err = _exec(capsys, "--onnx", m, "--shapes", "x:2x3x6", "--loadInputs", f"x:{tmp_path / 'x.bin'}",
                         "--exportOutput", str(out_json))
    assert rc == 0, err
    import json

    (y,) = json.loads(out_json.read_text())
    assert y["name"] == "y" and y["dimensions"] == "2x3x3"
    w = (np.arange(18, dtype=np.float64).reshape(6, 3) - 8) / 10
    np.testing.assert_allclose(np.array(y["values"]).reshape(2, 3, 3), x.astype(np.float64) @ w,
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("flag", ["--shapes", "--minShapes", "--optShapes", "--maxShapes"])
def test_unknown_tensor_name_is_an_error_naming_it(capsys, tmp_path, flag):
    m = _model(tmp_path / "m.onnx")
    others = {"--minShapes": "x:1x1x6", "--maxShapes": "x:2x2x6"}
    extra = [] if flag == "--shapes" else [a for f, v in others.items() if f != flag for a in (f, v)]
    rc, out, err = _exec(capsys, "--onnx", m, *extra, flag, "images:1x2x6")
    assert rc == 2 and f"{flag}: the network has no input tensor 'images'; its inputs are 'x'" in err
    assert "Engine built" not in out


@pytest.mark.parametrize("argv, why", [
    (["--shapes", "x:2x6"], "input 'x' has rank 3"),
    (["--minShapes", "x:1x1x6", "--minShapes", "x:1x1x6"], "--minShapes is given twice"),
    (["--minShapes", "x:4x1x6", "--maxShapes", "x:2x2x6"], "min <= opt <= max"),
    (["--minShapes", "x:1x1x6", "--maxShapes", "x:2x2x6", "--shapes", "x:3x2x6"], "outside the profile"),
    (["--shapes", "x:1x2x5"], "static dimension 2 = 6"),
])
def test_bad_shapes_are_errors_before_any_build(capsys, tmp_path, argv, why):
    m = _model(tmp_path / "m.onnx")
    rc, out, err = _exec(capsys, "--onnx", m, *argv)
    assert rc == 2 and why in err, err
    assert "Engine built" not in out and "Traceback" not in err


def test_loaded_engine_checks_names_and_input_files(capsys, tmp_path):
    m, plan = _model(tmp_path / "m.onnx"), tmp_path / "m.plan"
    assert _exec(capsys, "--onnx", m, "--minShapes", "x:1x1x6", "--maxShapes", "x:4x4x6",
                 "--optShapes", "x:2x3x6", "--saveEngine", str(plan))[0] == 0
    rc, out, err = _exec(capsys, "--loadEngine", str(plan), "--shapes", "y:1x1x6")
    assert rc == 2 and "the engine has no input tensor 'y'" in err
    rc, out, err = _exec(capsys, "--loadEngine", str(plan))     # no shapes: the profile's opt, with the message
    assert rc == 0 and "overriding shape to: 2x3x6" in out and "[output] y shape=(2, 3, 3)" in out
    (tmp_path / "short.bin").write_bytes(b"\0" * 8)
    rc, out, err = _exec(capsys, "--loadEngine", str(plan), "--loadInputs", f"x:{tmp_path / 'short.bin'}")
    assert rc == 2 and "input 'x'" in err and "holds 8 bytes" in err and "needs 144" in err
