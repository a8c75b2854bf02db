"""OnnxParserRefitter on the ResNet-style (convolution + BatchNorm) and BERT-style models: refitting from a
retrained model equals a fresh build of it; a stripped plan refits from the ONNX file in a fresh process."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import inferrt as trt

from tests.refit.models import build, feed, model, retrained, run

LOGGER = trt.Logger(trt.Logger.ERROR)


@pytest.fixture(scope="module")
def models():
    return {kind: model(kind) for kind in ("resnet", "bert")}


@pytest.mark.parametrize("kind", ["resnet", "bert"])
def test_refit_from_retrained_model_equals_fresh_build(models, kind, device):
    a = models[kind]
    b = retrained(a)
    rt = trt.Runtime(LOGGER)
    engine = rt.deserialize_cuda_engine(build(a, kind, device, [trt.BuilderFlag.REFIT]))
    if kind == "bert":   # Q, K and V products merged into one: the refit recomputes the concatenated weights
        assert any(n.name.endswith("[merged kernel]") for n in engine.graph.nodes)
    x = feed(kind)
    before = run(engine, x)
    refitter = trt.Refitter(engine, LOGGER)
    assert trt.OnnxParserRefitter(refitter, LOGGER).refit_from_bytes(b)
    assert refitter.refit_cuda_engine()
    assert refitter.changed_weights
    after = run(engine, x)
    fresh = run(rt.deserialize_cuda_engine(build(b, kind, device)), x)
    for k in fresh:
        if device == "cpu":
            np.testing.assert_array_equal(after[k], fresh[k])
        else:   # the same kernels and constants; GPU reductions may order sums differently run to run
            np.testing.assert_allclose(after[k], fresh[k], rtol=1e-4, atol=1e-5)
        assert not np.allclose(before[k], fresh[k], rtol=1e-3, atol=1e-3)


def test_refit_from_other_model_is_refused(models):
    log = []

    class L(trt.ILogger):
        def log(self, severity, msg):
            log.append(msg)

    engine = trt.Runtime(LOGGER).deserialize_cuda_engine(build(models["resnet"], "resnet",
                                                                flags=[trt.BuilderFlag.REFIT]))
    before = run(engine, feed("resnet"))
    parser_refitter = trt.OnnxParserRefitter(trt.Refitter(engine, L()), L())
    assert parser_refitter.refit_from_bytes(models["bert"]) is False
    assert "has no weights named" in log[-1]
    np.testing.assert_array_equal(run(engine, feed("resnet"))["y"], before["y"])


FRESH = textwrap.dedent("""
    import sys, numpy as np, inferrt as trt
    from tests.refit.models import feed, run
    plan, onnx_path, out, identical = sys.argv[1:5]
    logger = trt.Logger(trt.Logger.ERROR)
    engine = trt.Runtime(logger).deserialize_cuda_engine(open(plan, "rb").read())
    refitter = trt.Refitter(engine, logger)
    ok = trt.OnnxParserRefitter(refitter, logger).refit_from_file(onnx_path) and refitter.refit_cuda_engine()
    if not ok:
        print("REFUSED", engine.missing_weights[:1]); sys.exit(3)
    np.save(out, run(engine, feed("resnet"))["y"])
""")


def test_stripped_plan_refits_from_onnx_file_in_fresh_process(models, tmp_path):
    a = models["resnet"]
    full = build(a, "resnet")
    stripped = build(a, "resnet", flags=[trt.BuilderFlag.STRIP_PLAN])   # alone: REFIT_IDENTICAL, as trtexec
    assert len(stripped) < len(full)
    (tmp_path / "m.plan").write_bytes(stripped)
    (tmp_path / "a.onnx").write_bytes(a)
    (tmp_path / "b.onnx").write_bytes(retrained(a))
    cmd = [sys.executable, "-c", FRESH, str(tmp_path / "m.plan")]
    done = subprocess.run(cmd + [str(tmp_path / "a.onnx"), str(tmp_path / "y.npy"), "1"], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    expected = run(trt.Runtime(LOGGER).deserialize_cuda_engine(full), feed("resnet"))["y"]
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)
    # a retrained model does not match the digest of a REFIT_IDENTICAL plan: refused, the engine does not run
    done = subprocess.run(cmd + [str(tmp_path / "b.onnx"), str(tmp_path / "z.npy"), "1"], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 3 and "REFUSED" in done.stdout, done.stdout + done.stderr
