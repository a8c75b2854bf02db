"""The quantized models: valid ONNX at the mode's opset, run in onnxruntime, and agree with the FP32 model within
the error their quantization steps allow."""
from __future__ import annotations

import functools

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import inferrt as trt
from inferrt.quantize import quantize
from tests.helpers import lowest_ir, rel_l2
from tests.quantize.models import matmul_model, ort_run, outlier_activations, resblock_model


@functools.lru_cache(maxsize=None)
def _resnet():
    from tests.passes.onnx_models import resnet_onnx

    return resnet_onnx()


def _init(model, name):
    return numpy_helper.to_array(next(t for t in model.graph.initializer if t.name == name))


def test_int8_gemm_error_is_within_the_quantization_step_bound():
    model = matmul_model(k=64, n=16)
    w = _init(model, "w").astype(np.float64)
    x = np.random.default_rng(1).standard_normal((8, 64)).astype(np.float32)
    r = quantize(model, "int8", "max", calibration_data={"x": x}, progress=False)
    onnx.checker.check_model(r.model, full_check=True)
    got = ort_run(r.model, {"x": x})[0].astype(np.float64)
    sx = np.abs(x).max() / 127.0                         # max calibration: nothing clipped
    sw = np.abs(w).max(0) / 127.0                        # per output channel
    dx, dw = sx / 2, sw[None, :] / 2
    bound = dx * np.abs(w).sum(0) + np.abs(x).astype(np.float64) @ np.broadcast_to(dw, w.shape) + 64 * dx * dw
    err = np.abs(got - x.astype(np.float64) @ w)
    assert np.all(err <= bound * (1 + 1e-4) + 1e-5)
    assert err.max() > 0.05 * bound.max()                # the bound is not vacuous: the error is really there


def test_fp8_gemm_error_is_within_e4m3_rounding():
    model = matmul_model(k=64, n=16)
    w = _init(model, "w").astype(np.float64)
    x = np.random.default_rng(2).standard_normal((8, 64)).astype(np.float32)
    r = quantize(model, "fp8", calibration_data={"x": x}, progress=False)
    assert r.report.opset == 19
    onnx.checker.check_model(r.model, full_check=True)
    got = ort_run(r.model, {"x": x})[0].astype(np.float64)
    sx, sw = np.abs(x).max() / 448.0, np.abs(w).max() / 448.0

    def step(v, s):   # half an E4M3 unit in the last place of v (3 mantissa bits; subnormal step 2^-9)
        return np.maximum(np.abs(v) * 2.0 ** -4, s * 2.0 ** -10)

    dx, dw = step(x.astype(np.float64), sx), step(w, sw)
    bound = dx @ np.abs(w) + np.abs(x) @ dw + dx @ dw
    err = np.abs(got - x.astype(np.float64) @ w)
    assert np.all(err <= bound * (1 + 1e-4) + 1e-5)


@pytest.mark.parametrize("method", ["max", "entropy", "percentile", "mse"])
def test_int8_resnet_each_method_is_close_to_fp32(method):
    rng = np.random.default_rng(3)
    cal = rng.standard_normal((16, 3, 16, 16)).astype(np.float32)
    test = rng.standard_normal((4, 3, 16, 16)).astype(np.float32)
    r = quantize(_resnet(), "int8", method, calibration_data={"x": cal}, batch_size=4, progress=False)
    assert r.report.calibration == "4 feed(s)"
    assert rel_l2(ort_run(r.model, {"x": test})[0], ort_run(_resnet(), {"x": test})[0]) < 2e-2


def test_fp8_resnet_runs_in_onnxruntime_close_to_fp32():
    rng = np.random.default_rng(4)
    cal = rng.standard_normal((8, 3, 16, 16)).astype(np.float32)
    r = quantize(_resnet(), "fp8", calibration_data={"x": cal}, progress=False)
    onnx.checker.check_model(r.model, full_check=True)
    # E4M3 keeps 3 mantissa bits (relative step 1/8, rounding error up to 1/16) on every activation and weight
    from onnx.reference import ReferenceEvaluator

    got = ort_run(r.model, {"x": cal})[0]
    np.testing.assert_allclose(got, ReferenceEvaluator(r.model).run(None, {"x": cal})[0], rtol=1e-5, atol=1e-6)
    assert rel_l2(got, ort_run(_resnet(), {"x": cal})[0]) < 5e-2


def test_awq_lite_beats_round_to_nearest_on_outlier_channels():
    model = matmul_model(k=256, n=16, rows=64)
    x = outlier_activations((64, 256), channels=(3, 40, 200), scale=25.0, seed=5)
    ref = ort_run(model, {"x": x})[0]
    rtn = quantize(model, "int4_rtn", progress=False)
    awq = quantize(model, "int4_awq", calibration_data={"x": x}, progress=False)
    assert awq.report.awq["mm"] > 0                                   # a scale other than plain RTN won
    e_rtn = rel_l2(ort_run(rtn.model, {"x": x})[0], ref)
    e_awq = rel_l2(ort_run(awq.model, {"x": x})[0], ref)
    assert e_awq < 0.8 * e_rtn
    # the activation scale sits before the GEMM, the weight carries diag(s)
    mul = next(n for n in awq.model.graph.node if n.op_type == "Mul")
    assert mul.input[0] == "x"
    onnx.checker.check_model(awq.model, full_check=True)


def test_random_calibration_warns_and_progress_bar_shows(capsys):
    with pytest.warns(UserWarning, match="random inputs"):
        r = quantize(resblock_model(), "int8", "max", progress=True)
    assert r.report.calibration == "random" and any("random inputs" in w for w in r.report.warnings)
    assert "calibrating (max)" in capsys.readouterr().err


@pytest.mark.parametrize("kwargs, err, words", [
    ({"quantize_mode": "int3"}, ValueError, "quantize_mode must be one of"),
    ({"calibration_method": "kl"}, ValueError, "calibration_method must be one of"),
    ({"percentile": 20}, ValueError, "percentile"),
    ({"quantize_mode": "fp8", "opset": 17}, ValueError, "need opset 19"),
    ({"device": "tpu"}, ValueError, "device must be"),
    ({"block_size": 0, "quantize_mode": "int4_rtn"}, ValueError, "block_size"),
])
def test_bad_knobs_are_refused_naming_them(kwargs, err, words):
    with pytest.raises(err, match=words):
        quantize(resblock_model(), progress=False, **kwargs)


def test_calibration_data_that_does_not_fit_is_refused():
    with pytest.raises(trt.ShapeError, match=r"\[2x4x8x8\]"):
        quantize(resblock_model(), calibration_data={"x": np.ones((2, 4, 8, 9), np.float32)}, progress=False)
    with pytest.raises(trt.ParseError, match="does not exist"):
        quantize("/nonexistent/model.onnx")


def test_cuda_calibration_without_a_gpu_says_so():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(trt.BuildError, match="no CUDA GPU.*device='cpu'"):
        quantize(resblock_model(), "int8", "max", device="cuda", progress=False)


@pytest.mark.parametrize("mode, opset, input_ir, written_ir", [
    ("int8", 17, 8, 8),       # IR 8: what opset 17 needs; int8 Q/DQ need nothing newer
    ("int8", 17, 10, 10),     # a higher input IR version is kept, never lowered
    ("fp8", 17, 8, 9),        # converted to opset 19 (IR 9), FLOAT8 (IR 9)
    ("fp8", 19, 9, 9),
    ("int4_rtn", 17, 8, 10),  # converted to opset 21 (IR 10), INT4 (IR 10)
])
def test_the_written_ir_version_is_the_inputs_raised_only_as_the_opset_and_types_need(mode, opset, input_ir,
                                                                                      written_ir):
    """Never the installed onnx's newest IR version (onnx.helper.make_model's default): an onnxruntime older than
    that onnx refuses the model ("Unsupported model IR version: 14, max supported IR version: 13")."""
    src = matmul_model(k=64, n=8) if mode.startswith("int4") else resblock_model(opset=opset)
    if mode.startswith("int4"):
        del src.opset_import[:]
        src.opset_import.append(onnx.helper.make_opsetid("", opset))
    src.ir_version = input_ir
    x = np.random.default_rng(1).standard_normal([8, 64] if mode.startswith("int4") else [2, 4, 8, 8])
    out = quantize(src, mode, "max", calibration_data={"x": x.astype(np.float32)}, progress=False).model
    assert out.ir_version == written_ir
    assert out.ir_version <= max(input_ir, onnx.helper.find_min_ir_version_for(list(out.opset_import)))
    back = onnx.ModelProto.FromString(out.SerializeToString())
    assert back.ir_version == written_ir


def test_the_test_models_carry_the_ir_version_their_opset_needs():
    """The models these tests quantize and run in onnxruntime: IR 8 (opset 17), not the installed onnx's newest."""
    from tests.quantize.models import gemm_model

    assert resblock_model().ir_version == gemm_model().ir_version == matmul_model().ir_version == 8


def test_the_input_model_is_not_modified():
    model = resblock_model()
    before = model.SerializeToString()
    quantize(model, "int8", "max", calibration_data={"x": np.ones((2, 4, 8, 8), np.float32)}, progress=False)
    assert model.SerializeToString() == before


def test_an_already_quantized_model_is_refused():
    r = quantize(resblock_model(), "int8", "max", calibration_data={"x": np.ones((2, 4, 8, 8), np.float32)},
                 progress=False)
    with pytest.raises(trt.BuildError, match="already quantized.*quantize the FP32 model"):
        quantize(r.model, "int8", "max", progress=False)


def test_a_model_without_weighted_ops_is_left_float_with_a_warning():
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="r")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    r = quantize(lowest_ir(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])), "int8", progress=False)
    assert [n.op_type for n in r.model.graph.node] == ["Relu"] and r.report.calibration == "none"
    assert any("no node to quantize" in w for w in r.report.warnings)


def _abort_in_helper(*args, **kwargs):
    from inferrt.onnx import native_worker

    native_worker.call("selftest", {"action": "abort"})


@pytest.mark.parametrize("entry,kwargs,words", [
    ("convert_version", {"opset": 18}, "converting the model from opset 17 to 18"),
    ("infer_shapes", {}, "ONNX shape inference failed on this model"),   # the first use: typing the input model
    ("check_model", {}, "checking the quantized model"),
])
def test_onnx_aborting_is_a_build_error_not_the_end_of_this_process(monkeypatch, entry, kwargs, words):
    """Issue 10: onnx's C++ converter, inference and checker run in the helper process; an abort there (as on some
    malformed models) is a BuildError saying so, and the next quantize works."""
    from inferrt.onnx import native_worker

    monkeypatch.setattr(native_worker, entry, _abort_in_helper)
    with pytest.raises(trt.BuildError, match="SIGABRT") as e:
        quantize(resblock_model(), calibration_data=None, progress=False, **kwargs)
    assert words in str(e.value) and "please report" not in str(e.value)
    monkeypatch.undo()
    assert quantize(resblock_model(), progress=False, **kwargs).model.graph.node
