"""The six end-to-end models: exported at opset 17 with a dynamic batch, built, run, compared with onnxruntime
(rtol and atol 1e-4 in FP32 on the CPU; on the GPU under the marker, in IEEE float32 with BuilderFlag.TF32 cleared,
at a looser bound for cuDNN/cuBLAS summation order)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers")
ort = pytest.importorskip("onnxruntime")

import inferrt  # noqa: E402
from tests.models.zoo import MODELS, export  # noqa: E402

_CACHE = {}


def _exported(name):
    if name not in _CACHE:
        _CACHE[name] = export(name)
    return _CACHE[name]


@pytest.mark.parametrize("name", MODELS)
def test_model_matches_onnxruntime(name, device):
    onnx_bytes, feeds, out, profiles = _exported(name)
    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    ref = sess.run([out], feeds)[0]
    config = inferrt.Builder(inferrt.Logger()).create_builder_config()
    config.clear_flag(inferrt.BuilderFlag.TF32)  # IEEE float32 on the GPU too (TF32 is tested on its own)
    engine = inferrt.build_engine(onnx_bytes, device=device, profiles=profiles, config=config)
    got = engine.create_execution_context().infer(feeds)[out]
    # rtol and atol 1e-4, the absolute part scaled by the output's magnitude: random-weight CNNs reach values in
    # the hundreds, where float32 reordering alone (oneDNN vs MLAS) moves the last digits by a few 1e-4
    tol = 1e-4 if device == "cpu" else 2e-3
    scale = max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * scale, err_msg=f"{name} on {device}")
    # a second batch size inside the profile exercises the dynamic batch dimension
    one = {k: v[:1] for k, v in feeds.items()}
    got1 = engine.create_execution_context().infer(one)[out]
    np.testing.assert_allclose(got1, sess.run([out], one)[0], rtol=tol, atol=tol * scale, err_msg=f"{name} batch 1")
