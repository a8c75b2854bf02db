"""SmoothQuant: the migrated scales fold into the weights (and a LayerNorm's affine parameters or a Mul), so the
smoothed FP32 model computes the original function; quantized, it loses less to activation outliers."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from inferrt.quantize import quantize
from inferrt.quantize.insert_qdq import Names
from inferrt.quantize.options import make_options
from inferrt.quantize.placement import GraphIndex
from inferrt.quantize.smoothquant import apply_smoothquant, smooth_scales, smoothable_groups
from tests.helpers import rel_l2
from tests.quantize.models import gemm_model, ort_run, outlier_activations


def _smooth(model, x, alpha=0.5):
    """(smoothed copy, {activation: scales}, {activation: "fold" | Mul name}) with scales from x's h."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.append(onnx.ValueInfoProto(name="h"))
    hv = ort_run(probe, {"x": x})[-1]
    opts = make_options("int8", "max", smoothquant=True, smoothquant_alpha=alpha)
    groups = smoothable_groups(GraphIndex(m.graph), opts)
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    scales = {a: smooth_scales(np.abs(hv).reshape(-1, hv.shape[-1]).max(0), [inits[w.weight] for w in g],
                               [w.reduce_axis for w in g], alpha) for a, g in groups.items()}
    done = apply_smoothquant(lambda: GraphIndex(m.graph), Names(m.graph), scales, opts)
    onnx.checker.check_model(m)
    return m, scales, done, hv


@pytest.mark.parametrize("decomposed", [False, True])
def test_smoothing_preserves_the_fp32_function_and_folds_into_the_layernorm(decomposed):
    model = gemm_model(decomposed_ln=decomposed)
    x = outlier_activations((3, 4, 16), channels=(2, 5), scale=20.0)
    m, scales, done, _ = _smooth(model, x)
    assert done == {"h": "fold"}
    assert not any(n.op_type == "Mul" and n.name.endswith("_smooth_Mul") for n in m.graph.node)
    assert not np.allclose(scales["h"], 1.0)
    for a, b in zip(ort_run(model, {"x": x}), ort_run(m, {"x": x})):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
    # the weights' rows carry s: W' = diag(s) W
    w0 = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    w1 = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    np.testing.assert_allclose(w1["wq"], w0["wq"] * scales["h"][:, None], rtol=1e-6)


def test_smoothing_a_shared_activation_inserts_a_mul_for_the_gemms_only():
    model = gemm_model()
    model.graph.output.append(helper.make_tensor_value_info("h", onnx.TensorProto.FLOAT, ["B", 4, 16]))
    x = outlier_activations((3, 4, 16))
    m, scales, done, _ = _smooth(model, x)
    mul = next(n for n in m.graph.node if n.name == done["h"])
    assert mul.op_type == "Mul" and mul.input[0] == "h"
    readers = [n.name for n in m.graph.node if mul.output[0] in n.input]
    assert sorted(readers) == ["k", "out", "q"]
    for a, b in zip(ort_run(model, {"x": x}), ort_run(m, {"x": x})):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)


def test_scales_follow_the_smoothquant_formula():
    rng = np.random.default_rng(3)
    act = np.array([4.0, 0.5, 0.0, 9.0])
    w1, w2 = rng.normal(size=(4, 3)), rng.normal(size=(3, 4))        # [K, N] and (Gemm transB) [N, K]
    s = smooth_scales(act, [w1, w2], [0, 1], 0.5)
    wmax = np.maximum(np.abs(w1).max(1), np.abs(w2).max(0))
    expect = np.sqrt(act) / np.sqrt(wmax)
    expect[2] = 1.0                                                   # never nonzero: unscaled
    np.testing.assert_allclose(s, expect.astype(np.float32), rtol=1e-6)
    np.testing.assert_allclose(smooth_scales(act, [w1], [0], 1.0)[[0, 1, 3]], act[[0, 1, 3]], rtol=1e-6)


def test_smoothquant_lowers_int8_error_on_outlier_channels():
    model = gemm_model()
    gamma = next(t for t in model.graph.initializer if t.name == "gamma")
    g = numpy_helper.to_array(gamma).copy()
    g[[1, 9]] *= 40.0                      # LLM-style outlier channels after the LayerNorm
    gamma.CopyFrom(numpy_helper.from_array(g, "gamma"))
    x = np.random.default_rng(4).standard_normal((16, 4, 16)).astype(np.float32)
    ref = ort_run(model, {"x": x})[1]
    errs = {}
    for sq in (False, True):
        r = quantize(model, "int8", "max", calibration_data={"x": x}, smoothquant=sq, progress=False)
        errs[sq] = rel_l2(ort_run(r.model, {"x": x})[1], ref)
    assert r.report.smoothquant == {"h": "fold"}
    assert errs[True] < 0.5 * errs[False]


def test_smoothquant_is_refused_for_weight_only_int4():
    with pytest.raises(ValueError, match="smoothquant applies to int8 and fp8"):
        quantize(gemm_model(), "int4_rtn", smoothquant=True)
