"""``inferrt exec --profile=N``: the shape flags after each --profile build that optimization profile (trtexec's
grouping); --useProfile=N runs inference in profile N; a profile flag left out is broadcast as trtexec does."""
from __future__ import annotations

import pytest

import inferrt as trt
from inferrt.cli.exec_args import ExecArgError, group_profiles
from inferrt.cli.main import main

from test_exec_shapes import FAST, _exec, _model


def test_group_profiles_follows_the_command_line_order():
    flags = [("--profile", 0), ("--minShapes", "x:1x1x6"), ("--maxShapes", "x:2x2x6"),
             ("--profile", 1), ("--optShapes", "x:8x8x6")]
    assert group_profiles(flags) == [[{"x": (1, 1, 6)}, {}, {"x": (2, 2, 6)}], [{}, {"x": (8, 8, 6)}, {}]]
    assert group_profiles([("--maxShapes", "x:2x2x6")]) == [[{}, {}, {"x": (2, 2, 6)}]]
    assert group_profiles([]) == []


@pytest.mark.parametrize("flags, why", [
    ([("--profile", 0), ("--minShapes", "x:1x1x6"), ("--profile", 0), ("--minShapes", "x:1x1x6")],
     "--profile=0 is given twice"),
    ([("--profile", 1), ("--minShapes", "x:1x1x6")], "optimization profile 0 has no shapes"),
    ([("--profile", 0), ("--profile", 1), ("--minShapes", "x:1x1x6")], "optimization profile 0 has no shapes"),
    ([("--minShapes", "x:1x1x6"), ("--profile", 0)], "--minShapes comes before the first --profile"),
    ([("--profile", 0), ("--minShapes", "x:1x1x6"), ("--minShapes", "x:1x1x6")], "given twice for the same"),
    ([("--maxShapes", "x:1x1x6"), ("--maxShapes", "x:2x1x6")], "--maxShapes is given twice"),
])
def test_group_profiles_errors(flags, why):
    with pytest.raises(ExecArgError, match=why):
        group_profiles(flags)


def _profiles(plan):
    engine = trt.load_engine(str(plan))
    return [[tuple(d) for d in engine.get_tensor_profile_shape("x", i)]
            for i in range(engine.num_optimization_profiles)]


def test_two_profiles_and_inference_in_the_second(capsys, tmp_path):
    m, plan = _model(tmp_path / "m.onnx"), tmp_path / "m.plan"
    rc, out, err = _exec(capsys, "--onnx", m, "--saveEngine", str(plan),
                         "--profile=0", "--minShapes=x:1x1x6", "--optShapes=x:2x2x6", "--maxShapes=x:4x4x6",
                         "--profile=1", "--minShapes=x:8x1x6", "--optShapes=x:9x3x6", "--maxShapes=x:16x4x6",
                         "--useProfile=1")
    assert rc == 0, err
    assert _profiles(plan) == [[(1, 1, 6), (2, 2, 6), (4, 4, 6)], [(8, 1, 6), (9, 3, 6), (16, 4, 6)]]
    assert "[I] Optimization profiles: 2" in out and "[I] Optimization profile: 1" in out
    assert "Input inference shape : x=9x3x6" in out and "[output] y shape=(9, 3, 3)" in out
    # the loaded plan runs in either profile; a shape outside the chosen one is refused by the context
    rc, out, err = _exec(capsys, "--loadEngine", str(plan), "--useProfile=1")
    assert rc == 0 and "overriding shape to: 9x3x6" in out, err
    rc, out, err = _exec(capsys, "--loadEngine", str(plan), "--useProfile=1", "--shapes=x:2x2x6")
    assert rc == 2 and "input 'x': shape (2, 2, 6) is outside optimization profile 1" in err
    rc, out, err = _exec(capsys, "--loadEngine", str(plan), "--useProfile=2")
    assert rc == 2 and "--useProfile=2" in err and "has 2 optimization profile(s)" in err


def test_shapes_outside_the_used_profile_and_a_missing_profile_are_errors(capsys, tmp_path):
    m = _model(tmp_path / "m.onnx")
    two = ["--profile=0", "--minShapes=x:1x1x6", "--maxShapes=x:4x4x6", "--profile=1", "--minShapes=x:8x1x6",
           "--maxShapes=x:16x4x6"]
    rc, out, err = _exec(capsys, "--onnx", m, *two, "--useProfile=1", "--shapes=x:2x2x6")
    assert rc == 2 and "outside the profile built for 'x' (optimization profile 1)" in err and "Engine built" not in out
    rc, out, err = _exec(capsys, "--onnx", m, *two, "--useProfile=2")
    assert rc == 2 and "--useProfile=2: the engine is built with 2 optimization profile(s)" in err
    rc, out, err = _exec(capsys, "--onnx", m, "--profile=1", "--minShapes=x:1x1x6")
    assert rc == 2 and "optimization profile 0 has no shapes" in err
    rc, out, err = _exec(capsys, "--loadEngine", "m.plan", "--profile=0", "--minShapes=x:1x1x6")
    assert rc == 2 and "is a build flag" in err


@pytest.mark.parametrize("given, expect, said", [
    (["--minShapes=x:2x3x6"], [(2, 3, 6)] * 3, ["minShapes is being broadcasted to optShapes",
                                                "minShapes is being broadcasted to maxShapes"]),
    (["--optShapes=x:2x3x6", "--maxShapes=x:4x4x6"], [(2, 3, 6), (2, 3, 6), (4, 4, 6)],
     ["optShapes is being broadcasted to minShapes"]),
    (["--maxShapes=x:4x4x6"], [(4, 4, 6)] * 3, ["maxShapes is being broadcasted to minShapes",
                                                "maxShapes is being broadcasted to optShapes"]),
])
def test_a_missing_profile_flag_is_broadcast_as_trtexec_does(capsys, tmp_path, given, expect, said):
    m, plan = _model(tmp_path / "m.onnx"), tmp_path / "m.plan"
    rc, out, err = _exec(capsys, "--onnx", m, "--saveEngine", str(plan), *given)
    assert rc == 0, err
    assert _profiles(plan) == [expect]
    for s in said:
        assert f"{s} for tensor x" in out
    assert main(["exec", *FAST, "--onnx", m, "--minShapes=x:1x1x6", "--maxShapes=x:2x2x6"]) == 0
    assert "broadcasted" not in capsys.readouterr().out.replace("maxShapes is being broadcasted to optShapes", "")
