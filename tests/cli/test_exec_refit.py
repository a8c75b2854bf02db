"""``inferrt exec --refit / --stripWeights`` (trtexec's): a refittable build refitted from --onnx, a weight-stripped
plan saved smaller and refitted from --onnx when loaded, refused when the model is not the one it was built from."""
from __future__ import annotations

import pytest

from inferrt.cli.main import main
from tests.refit.models import model, retrained

FAST = ("--duration", "0", "--warmUp", "0", "--iterations", "1", "--device", "cpu", "--shapes=x:2x3x16x16")


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("refit")
    a = model("resnet")
    (d / "a.onnx").write_bytes(a)
    (d / "b.onnx").write_bytes(retrained(a))
    return d


def _run(capsys, *argv):
    rc = main(["exec", *FAST, *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_refit_builds_a_refittable_engine_and_refits_it(capsys, onnx_files):
    rc, out, err = _run(capsys, f"--onnx={onnx_files / 'a.onnx'}", "--refit")
    assert rc == 0, err
    assert "Engine refitted from" in out and "weights set" in out


def test_strip_weights_saves_a_smaller_plan_refitted_on_load(capsys, onnx_files, tmp_path):
    full, stripped = tmp_path / "full.plan", tmp_path / "stripped.plan"
    rc, out, err = _run(capsys, f"--onnx={onnx_files / 'a.onnx'}", f"--saveEngine={full}", "--skipInference")
    assert rc == 0, err
    rc, out, err = _run(capsys, f"--onnx={onnx_files / 'a.onnx'}", "--stripWeights", f"--saveEngine={stripped}")
    assert rc == 0, err
    assert stripped.stat().st_size < full.stat().st_size
    rc, out, err = _run(capsys, f"--loadEngine={stripped}", f"--onnx={onnx_files / 'a.onnx'}", "--stripWeights")
    assert rc == 0, err
    assert "Engine refitted from" in out
    # a retrained model does not match the stripped plan's digest (built REFIT_IDENTICAL, as trtexec does)
    rc, out, err = _run(capsys, f"--loadEngine={stripped}", f"--onnx={onnx_files / 'b.onnx'}", "--stripWeights")
    assert rc != 0 and "cannot refit the engine" in err and "digest" in err


def test_loading_a_stripped_plan_without_onnx_refuses_to_run(capsys, onnx_files, tmp_path):
    stripped = tmp_path / "s.plan"
    assert _run(capsys, f"--onnx={onnx_files / 'a.onnx'}", "--stripWeights", f"--saveEngine={stripped}",
                "--skipInference")[0] == 0
    rc, out, err = _run(capsys, f"--loadEngine={stripped}")
    assert rc != 0 and "weight-stripped plan" in err


def test_refit_flags_need_onnx_and_a_refittable_plan(capsys, onnx_files, tmp_path):
    rc, out, err = _run(capsys, "--refit")
    assert rc == 2 and "--refit needs --onnx" in err
    plain = tmp_path / "plain.plan"
    assert _run(capsys, f"--onnx={onnx_files / 'a.onnx'}", f"--saveEngine={plain}", "--skipInference")[0] == 0
    rc, out, err = _run(capsys, f"--loadEngine={plain}", f"--onnx={onnx_files / 'a.onnx'}", "--refit")
    assert rc != 0 and "built without --refit or --stripWeights" in err
