"""Refit on transformers' BertModel (a 2-layer config and BERT-base, random weights made in code, exported to ONNX)
and on the convolution + BatchNorm ResNet-style model, on the CPU and the GPU: refitting from a retrained model gives
what a fresh build of it gives (and what onnxruntime gives); a weight-stripped plan is smaller by the weights' size
and refits from the ONNX file in a fresh process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import inferrt as trt
from inferrt.plan import schema
from inferrt.plan.format import read_plan

from tests.refit.models import (build, engine_differences, feed, float_weight_bytes, model, onnxruntime_outputs,
                                retrained, run)

ROOT = Path(__file__).parents[2]
LOGGER = trt.Logger(trt.Logger.ERROR)
BERTS = ["hf-bert-small", pytest.param("hf-bert-base", marks=pytest.mark.slow)]
#: against onnxruntime, as tests/onnx/test_parser_logging.py compares BERT: a dozen layers of float32 sums in
#: another order (TF32 is cleared in these builds)
ORT_TOL = dict(rtol=1e-3, atol=1e-4)


def _load(plan: bytes):
    return trt.Runtime(LOGGER).deserialize_cuda_engine(plan)


def _assert_same_as_fresh(after: dict, fresh: dict, device: str):
    """Outputs of a refitted engine and of a fresh build. On the CPU both engines hold the same kernels and the same
    constants bit for bit (``engine_differences``, checked by the callers); their outputs are compared at float32
    tolerance because two engines loaded from one BERT-base plan in one process already differ in the last bits
    (up to 8e-6 seen on the CPU; the smaller models agree exactly). Each GPU build times its tactics: the fresh
    build may pick another kernel."""
    for k in fresh:
        if device == "cpu":
            np.testing.assert_allclose(after[k], fresh[k], rtol=1e-4, atol=1e-5, err_msg=k)
        else:
            np.testing.assert_allclose(after[k], fresh[k], rtol=1e-4, atol=1e-4, err_msg=k)


def _learned_weights(data: bytes) -> set:
    """Names of the float initializers of more than one value: the weights ``retrained`` changes."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load_from_string(data)
    return {i.name for i in m.graph.initializer
            if i.data_type == onnx.TensorProto.FLOAT and numpy_helper.to_array(i).size > 1}


@pytest.mark.parametrize("kind", BERTS)
def test_bert_refit_equals_fresh_build(kind, device):
    a = model(kind)
    b = retrained(a)
    engine = _load(build(a, kind, device, [trt.BuilderFlag.REFIT]))
    assert engine.refittable
    x = feed(kind)
    before = run(engine, x)
    refitter = trt.Refitter(engine, LOGGER)
    # TensorRT's naming: each weight under its initializer's name (bert.encoder.layer.0.attention.self.query.bias)
    assert _learned_weights(a) <= set(refitter.get_all_weights())
    assert trt.OnnxParserRefitter(refitter, LOGGER).refit_from_bytes(b)
    assert refitter.get_missing_weights() == []
    assert refitter.refit_cuda_engine()
    # every learned weight (each initializer the retraining changed feeds at least one engine weight) changed
    assert len(refitter.changed_weights) >= len(_learned_weights(b))
    after = run(engine, x)
    fresh_engine = _load(build(b, kind, device))
    if device == "cpu":   # CPU tactics are not timed: the same graph, kernels and constants as the fresh build
        assert engine_differences(engine, fresh_engine) == []
    fresh = run(fresh_engine, x)
    _assert_same_as_fresh(after, fresh, device)
    reference = onnxruntime_outputs(b, x)
    for k in reference:
        np.testing.assert_allclose(after[k], reference[k], **ORT_TOL, err_msg=k)
        assert not np.allclose(before[k], after[k], rtol=1e-3, atol=1e-3)


def _sizes(plan: bytes) -> tuple[int, int]:
    """(the plan's size, the bytes of its data blobs), both without the compiled kernels a GPU plan carries (each
    build times its own tactics, so two GPU plans may carry different kernels)."""
    manifest, _ = read_plan(plan)
    kernel_blobs = {i for k in manifest.get(schema.KERNELS) or [] for _, i in k["files"]}
    kernels = sum(b["nbytes"] for i, b in enumerate(manifest[schema.BLOBS]) if i in kernel_blobs)
    data = sum(b["nbytes"] for i, b in enumerate(manifest[schema.BLOBS]) if i not in kernel_blobs)
    return len(plan) - kernels, data


FRESH = """
import json, sys
import numpy as np
import inferrt as trt
from tests.refit.models import engine_differences, feed, run
plan, onnx_path, kind, out, fresh_plan, fresh_out = sys.argv[1:7]
logger = trt.Logger(trt.Logger.ERROR)
engine = trt.Runtime(logger).deserialize_cuda_engine(open(plan, "rb").read())
missing = len(engine.missing_weights)
try:
    run(engine, feed(kind))
    refused = False
except trt.ExecutionError:
    refused = True
refitter = trt.Refitter(engine, logger)
ok = trt.OnnxParserRefitter(refitter, logger).refit_from_file(onnx_path) and refitter.refit_cuda_engine()
differences = None
if ok:
    np.savez(out, **run(engine, feed(kind)))
    fresh = trt.Runtime(logger).deserialize_cuda_engine(open(fresh_plan, "rb").read())
    np.savez(fresh_out, **run(fresh, feed(kind)))
    differences = engine_differences(engine, fresh)
print(json.dumps({"missing_before": missing, "refused_before": refused, "refitted": bool(ok),
                  "missing_after": len(engine.missing_weights), "differences": differences}))
"""


@pytest.mark.parametrize("kind", ["resnet"] + BERTS)
def test_stripped_plan_is_smaller_by_the_weights_and_refits_from_onnx_file(kind, device, tmp_path):
    a = model(kind)
    b = retrained(a)
    weights = float_weight_bytes(a)
    stripped = build(a, kind, device, [trt.BuilderFlag.REFIT, trt.BuilderFlag.STRIP_PLAN])
    refittable = build(a, kind, device, [trt.BuilderFlag.REFIT])
    (stripped_size, stripped_data), (refittable_size, _) = _sizes(stripped), _sizes(refittable)
    # the stripped plan stores none of the weights: its data blobs are the integer constants (shapes, indices) ...
    assert stripped_data <= 0.01 * weights
    # ... and it is smaller than the refittable plan it strips by more than the weights' size (the originals and the
    # engine constants made from them both leave)
    assert refittable_size - stripped_size >= weights
    del refittable
    fresh_plan = build(b, kind, device)
    if kind == "hf-bert-base":   # against a plain plan too, where the refit recipe (a graph in JSON) is negligible
        assert _sizes(fresh_plan)[0] - stripped_size >= 0.99 * weights
    (tmp_path / "m.plan").write_bytes(stripped)
    (tmp_path / "b.onnx").write_bytes(b)
    (tmp_path / "fresh.plan").write_bytes(fresh_plan)
    del fresh_plan, stripped
    done = subprocess.run([sys.executable, "-c", FRESH, str(tmp_path / "m.plan"), str(tmp_path / "b.onnx"), kind,
                           str(tmp_path / "out.npz"), str(tmp_path / "fresh.plan"), str(tmp_path / "fresh.npz")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["refitted"], done.stderr[-3000:]
    assert seen["missing_before"] >= len(_learned_weights(a))   # every weight left the plan
    assert seen["refused_before"] and seen["refitted"] and seen["missing_after"] == 0
    if device == "cpu":   # the refitted engine holds what the fresh build of the retrained model holds
        assert seen["differences"] == []
    with np.load(tmp_path / "out.npz") as f, np.load(tmp_path / "fresh.npz") as g:
        after, fresh = dict(f), dict(g)
    _assert_same_as_fresh(after, fresh, device)
    reference = onnxruntime_outputs(b, feed(kind))
    for k in reference:
        np.testing.assert_allclose(after[k], reference[k], **ORT_TOL, err_msg=k)
