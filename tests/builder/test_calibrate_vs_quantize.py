"""A TensorRT 10 INT8 build (FP32 ONNX parsed, BuilderFlag.INT8 + a calibrator) and inferrt.quantize's Q/DQ ONNX of
the same model, calibrated on the same batches with the same method, quantize the same tensors with the same ranges
and agree within one quantization step on every quantized activation (the ONNX model run in onnxruntime)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest

import inferrt as trt
from inferrt.quantize import quantize
from tests.builder.calibration_nets import Calibrator, fake_quant, read_cache
from tests.helpers import rel_l2
from tests.quantize.models import ort_run, resblock_model


def _dq_of(model) -> dict:
    """{activation: the DequantizeLinear output that stands for it} in a quantized model."""
    prod = {o: n for n in model.graph.node for o in n.output}
    inits = {t.name for t in model.graph.initializer}
    out = {}
    for n in model.graph.node:
        if n.op_type == "DequantizeLinear" and n.input[0] not in inits:
            out[prod[n.input[0]].input[0]] = n.output[0]
    return out


def _int8_network(model, calibrator, extra_outputs, device):
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    net = builder.create_network(0)
    assert trt.OnnxParser(net, builder.logger).parse(model.SerializeToString())
    tensors = {net.get_layer(i).get_output(j).name: net.get_layer(i).get_output(j)
               for i in range(net.num_layers) for j in range(net.get_layer(i).num_outputs)}
    for name in extra_outputs:
        net.mark_output(tensors[name])
    config = builder.create_builder_config()
    config.device = device
    config.clear_flag(trt.BuilderFlag.TF32)
    config.set_flag(trt.BuilderFlag.INT8)
    config.int8_calibrator = calibrator
    return trt.Runtime(builder.logger).deserialize_cuda_engine(builder.build(net, config))


@pytest.mark.parametrize("kind, method", [(trt.IInt8MinMaxCalibrator, "max"),
                                          (trt.IInt8EntropyCalibrator2, "entropy")])
def test_int8_build_matches_inferrt_quantize_in_onnxruntime_within_one_step(device, kind, method):
    rng = np.random.default_rng(31)
    data = [rng.standard_normal((2, 4, 8, 8)).astype(np.float32) for _ in range(4)]
    src = resblock_model()
    q = quantize(src, "int8", method, calibration_data=[{"x": b} for b in data], device="cpu", progress=False)
    sites = q.report.activations
    assert set(sites) == {"x", "a", "r1o", "flato"}       # conv inputs, the residual input, the Gemm input

    cal = Calibrator(kind, data)
    watched = [t for t in sites if t != "x"]
    engine = _int8_network(src, cal, watched, device)
    _, amax = read_cache(cal.written)
    for t, a in sites.items():
        # the same method on the same values (histograms: the same bins; ORT's and the engine's float32 math
        # may move a value across a bin edge)
        assert amax[t] == pytest.approx(a, rel=1e-6 if method == "max" else 2e-3), t

    x = rng.standard_normal((2, 4, 8, 8)).astype(np.float32)
    got = engine.create_execution_context().infer({"x": x})
    got = {k: np.asarray(v.cpu() if hasattr(v, "cpu") else v) for k, v in got.items()}
    probe = onnx.ModelProto()
    probe.CopyFrom(q.model)
    dq = _dq_of(probe)
    for t in watched:
        probe.graph.output.append(onnx.ValueInfoProto(name=dq[t]))
    from inferrt.onnx.model_tools import fill_output_types

    fill_output_types(probe)
    names = ["y"] + [dq[t] for t in watched]
    want = dict(zip(names, ort_run(probe, {"x": x}, names)))
    for t in watched:
        step = np.float32(amax[t] / 127.0)
        diff = np.abs(fake_quant(got[t], amax[t]).astype(np.float64) - want[dq[t]])
        assert np.all(diff <= step * (1 + 1e-5)), (t, diff.max(), step)
        assert np.count_nonzero(diff > step / 2) <= max(2, 0.01 * diff.size), t
    assert rel_l2(got["y"], want["y"]) < 1e-2
    if method == "max":   # (entropy clips the Gemm input, 8 values per batch, far: the same in both paths)
        assert rel_l2(got["y"], ort_run(src, {"x": x})[0]) < 3e-2


def test_an_explicitly_quantized_network_keeps_its_scales_and_skips_the_calibrator():
    """TensorRT 10 builds a Q/DQ model with BuilderFlag.INT8; a calibrator set too is not used."""
    from tests.passes.precision_nets import Capture

    rng = np.random.default_rng(33)
    data = [rng.standard_normal((2, 4, 8, 8)).astype(np.float32)]
    q = quantize(resblock_model(), "int8", "max", calibration_data={"x": data[0]}, device="cpu", progress=False)
    log = Capture()
    builder = trt.Builder(log)
    net = builder.create_network(0)
    assert trt.OnnxParser(net, log).parse(q.model.SerializeToString())
    config = builder.create_builder_config()
    config.device = "cpu"
    config.set_flag(trt.BuilderFlag.INT8)
    cal = Calibrator(trt.IInt8MinMaxCalibrator, data)
    config.int8_calibrator = cal
    engine = trt.Runtime(log).deserialize_cuda_engine(builder.build(net, config))
    assert cal.calls == 0 and cal.written is None
    assert any("explicitly quantized" in m for m in log.of(trt.Severity.WARNING))
    x = rng.standard_normal((2, 4, 8, 8)).astype(np.float32)
    got = engine.create_execution_context().infer({"x": x})["y"]
    np.testing.assert_allclose(got, ort_run(q.model, {"x": x})[0], rtol=1e-4, atol=1e-4)
