"""TensorRT 10's INT8 calibrators, dynamic ranges and calibration cache on the Q/DQ machinery (builder/calibrate.py):
each calibrator kind measures its method's range of every tensor (checked against numpy), the cache is TensorRT's
text layout and a cached build never calls get_batch, set_dynamic_range needs no calibrator, and the INT8 engine
agrees with FP32 within quantization error and with inferrt.quantize's ONNX in onnxruntime within one step."""
from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

import inferrt as trt
from inferrt.quantize.calibrators import entropy_amax
from tests.builder.calibration_nets import (SHAPE, TENSORS, Calibrator, conv_weights, batches, build, conv_net, fake_quant,
                                           read_cache, reference_values)
from tests.helpers import rel_l2
from tests.passes.precision_nets import Capture

BINS = 2048
def numpy_histogram(values):
    """|x| counts in 2048 bins: the range of the first batch, doubled (bins merged pairwise) when a later batch
    exceeds it (the binning TensorRT's calibrators and inferrt.quantize use)."""
    counts, width = None, 0.0
    for v in values:
        a = np.abs(v).ravel()
        m = float(a.max())
        if counts is None:
            width, counts = m / BINS, np.zeros(BINS)
        while m > width * BINS:
            counts = np.concatenate([counts.reshape(-1, 2).sum(1), np.zeros(BINS // 2)])
            width *= 2.0
        counts += np.bincount(np.minimum((a / np.float32(width)).astype(np.int64), BINS - 1), minlength=BINS)
    return counts, width


def expected_amax(kind, values, quantile=0.999, cutoff=0.0):
    """(lowest, highest) amax the method may give: max exactly; entropy to one bin of the histogram; the legacy
    quantile between the order statistics around it (to one bin: the histogram interpolates inside a bin)."""
    big = max(float(np.abs(v).max()) for v in values)
    if kind is trt.IInt8MinMaxCalibrator:
        return big, big
    counts, width = numpy_histogram(values)
    if kind is trt.IInt8LegacyCalibrator:
        a = np.sort(np.concatenate([np.abs(v).ravel() for v in values]))
        k = quantile * (a.size - 1)
        lo, hi = a[max(int(np.floor(k)) - 1, 0)] - width, a[min(int(np.ceil(k)) + 1, a.size - 1)] + width
        return min(max(lo, cutoff * big), big), min(max(hi, cutoff * big), big)
    e = min(entropy_amax(counts, width), big)
    return e - width, e + width


@pytest.mark.parametrize("kind", [trt.IInt8EntropyCalibrator2, trt.IInt8EntropyCalibrator, trt.IInt8MinMaxCalibrator,
                                  trt.IInt8LegacyCalibrator], ids=lambda k: k.__name__)
def test_each_calibrator_measures_its_method_on_every_tensor(kind):
    data = batches()
    cal = Calibrator(kind, data, quantile=0.99, cutoff=0.5)
    builder, net = conv_net()
    build(builder, net, cal)
    assert cal.calls == len(data) + 1                  # until get_batch returns None
    header, got = read_cache(cal.written)
    algo = {trt.IInt8EntropyCalibrator2: "EntropyCalibration2", trt.IInt8EntropyCalibrator: "EntropyCalibration",
            trt.IInt8MinMaxCalibrator: "MinMaxCalibration", trt.IInt8LegacyCalibrator: "LegacyCalibration"}[kind]
    assert header == f"TRT-101600-{algo}"
    assert set(got) == set(TENSORS)
    refs = [reference_values(x) for x in data]
    for name in TENSORS:
        lo, hi = expected_amax(kind, [r[name] for r in refs], 0.99, 0.5)
        assert lo * (1 - 1e-6) <= got[name] <= hi * (1 + 1e-6), (name, got[name], lo, hi)


@pytest.mark.parametrize("as_", ["torch", "pointer"])
def test_batches_may_be_torch_tensors_or_addresses(as_):
    data = batches()
    ref = Calibrator(trt.IInt8MinMaxCalibrator, data)
    cal = Calibrator(trt.IInt8MinMaxCalibrator, data, as_=as_)
    for c in (ref, cal):
        builder, net = conv_net()
        build(builder, net, c)
    assert read_cache(cal.written) == read_cache(ref.written)


def test_the_cache_round_trips_and_a_cached_build_never_calls_get_batch():
    data = batches()
    first = Calibrator(trt.IInt8EntropyCalibrator2, data)
    builder, net = conv_net()
    engine = build(builder, net, first)
    x = data[0]
    want = engine.create_execution_context().infer({"x": x})["y"]

    cached = Calibrator(trt.IInt8EntropyCalibrator2, data, cache=first.written)
    log = Capture()
    builder, net = conv_net(log)
    engine = build(builder, net, cached)
    assert cached.calls == 0 and cached.written is None
    assert any("from the calibration cache" in m for m in log.of(trt.Severity.INFO))
    np.testing.assert_array_equal(engine.create_execution_context().infer({"x": x})["y"], want)


def test_a_dynamic_range_wins_over_the_calibrator():
    """x's range set by the user replaces the calibrated one: the same engine as the calibrated cache with x's
    entry set to that range (the written cache keeps what calibration measured, as TensorRT's does)."""
    data = batches()
    builder, net = conv_net()
    net.get_input(0).set_dynamic_range(-100.0, 100.0)
    cal = Calibrator(trt.IInt8MinMaxCalibrator, data)
    engine = build(builder, net, cal)
    header, amax = read_cache(cal.written)
    assert amax["x"] == pytest.approx(max(float(np.abs(b).max()) for b in data), rel=1e-6)
    amax["x"] = 100.0
    edited = "\n".join([header] + [f"{k}: {struct.pack('>f', v / 127.0).hex()}" for k, v in amax.items()])
    builder, net = conv_net()
    cached = build(builder, net, Calibrator(trt.IInt8MinMaxCalibrator, data, cache=edited))
    x = data[1]
    np.testing.assert_array_equal(engine.create_execution_context().infer({"x": x})["y"],
                                  cached.create_execution_context().infer({"x": x})["y"])


def test_a_cache_of_another_algorithm_is_recalibrated_with_a_warning():
    data = batches()
    first = Calibrator(trt.IInt8MinMaxCalibrator, data)
    builder, net = conv_net()
    build(builder, net, first)
    log = Capture()
    other = Calibrator(trt.IInt8EntropyCalibrator2, data, cache=first.written)
    builder, net = conv_net(log)
    build(builder, net, other)
    assert other.calls == len(data) + 1 and other.written.startswith(b"TRT-101600-EntropyCalibration2\n")
    assert any("made by MinMaxCalibration but the calibrator is EntropyCalibration2" in m
               for m in log.of(trt.Severity.WARNING))


def test_a_malformed_cache_is_named_and_recalibrated():
    log = Capture()
    cal = Calibrator(trt.IInt8MinMaxCalibrator, batches(), cache=b"TRT-101600-MinMaxCalibration\nx: 3c01\n")
    builder, net = conv_net(log)
    build(builder, net, cal)
    assert cal.calls == 4
    assert any("line 2 'x: 3c01' is not '<tensor>: <8 hex digits>'" in m for m in log.of(trt.Severity.WARNING))


def test_set_dynamic_range_quantizes_without_a_calibrator():
    """Ranges on x and r: Q/DQ on conv1's and conv2's inputs and on the residual input r, weights per channel."""
    builder, net = conv_net()
    tensors = {net.get_layer(i).get_output(0).name: net.get_layer(i).get_output(0) for i in range(net.num_layers)}
    assert net.get_input(0).set_dynamic_range(-2.0, 2.0) and tensors["r"].set_dynamic_range(-1.5, 1.5)
    assert net.get_input(0).dynamic_range == (-2.0, 2.0)
    assert not tensors["r"].set_dynamic_range(1.0, -1.0)          # min > max: refused, range kept
    x = batches(1)[0]
    got = build(builder, net).create_execution_context().infer({"x": x})["y"]

    from inferrt.quantize.weights import int8_per_channel

    w1, b1, w2 = conv_weights()
    dq = [torch.from_numpy(q.astype(np.float32) * s[:, None, None, None]) for q, s in
          (int8_per_channel(w1, 0), int8_per_channel(w2, 0))]
    xq = torch.from_numpy(fake_quant(x, 2.0))
    r = torch.relu(torch.nn.functional.conv2d(xq, dq[0], torch.from_numpy(b1), padding=1)).numpy()
    rq = torch.from_numpy(fake_quant(r, 1.5))
    want = (torch.nn.functional.conv2d(rq, dq[1], None, padding=1) + rq).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    fp32 = reference_values(x)["y"]
    assert rel_l2(got, fp32) > 1e-3          # quantization did happen


def test_int8_engine_agrees_with_fp32_within_quantization_error():
    data = batches()
    builder, net = conv_net()
    int8 = build(builder, net, Calibrator(trt.IInt8EntropyCalibrator2, data))
    builder, net = conv_net()
    fp32 = build(builder, net, flags=())
    x = np.random.default_rng(9).standard_normal(SHAPE).astype(np.float32) * 2
    a = int8.create_execution_context().infer({"x": x})["y"]
    b = fp32.create_execution_context().infer({"x": x})["y"]
    np.testing.assert_allclose(b, reference_values(x)["y"], rtol=1e-5, atol=1e-5)
    # 8-bit activations and weights: ~1/254 of the range per rounding, a few roundings deep
    assert 1e-3 < rel_l2(a, b) < 3e-2


def test_int8_without_calibrator_or_ranges_warns_and_builds_fp32():
    log = Capture()
    builder, net = conv_net(log)
    engine = build(builder, net)
    x = batches(1)[0]
    np.testing.assert_allclose(engine.create_execution_context().infer({"x": x})["y"], reference_values(x)["y"],
                               rtol=1e-5, atol=1e-5)
    assert any("no layer is quantized" in m for m in log.of(trt.Severity.WARNING))


def test_no_batch_at_all_fails_the_build_naming_get_batch():
    builder, net = conv_net()
    with pytest.raises(trt.BuildError, match=r"get_batch returned no batch"):
        build(builder, net, Calibrator(trt.IInt8EntropyCalibrator2, []))


def test_a_get_batch_of_the_wrong_length_is_refused():
    class Two(trt.IInt8MinMaxCalibrator):
        def get_batch(self, names):
            return [batches(1)[0]] * 2

    builder, net = conv_net()
    with pytest.raises(trt.BuildError, match=r"returned 2 buffers for the 1 inputs \['x'\]"):
        build(builder, net, Two())


def test_legacy_parameters_are_checked():
    builder, net = conv_net()
    with pytest.raises(trt.BuildError, match=r"get_quantile\(\) returned 1.5; it must be in \(0, 1\]"):
        build(builder, net, Calibrator(trt.IInt8LegacyCalibrator, batches(), quantile=1.5))


def test_the_base_calibrator_names_the_missing_method():
    builder, net = conv_net()
    with pytest.raises(trt.BuildError, match=r"IInt8EntropyCalibrator2.get_batch\(names\) is not implemented"):
        build(builder, net, trt.IInt8EntropyCalibrator2())
    assert trt.IInt8Calibrator().get_algorithm() == trt.CalibrationAlgoType.ENTROPY_CALIBRATION_2
    assert trt.IInt8LegacyCalibrator().get_algorithm() == trt.CalibrationAlgoType.LEGACY_CALIBRATION


def _deprecations(log):
    return [m for m in log.of(trt.Severity.WARNING) if "weak typing is deprecated" in m]


def test_one_deprecation_line_per_build_naming_what_is_used_and_the_strongly_typed_way():
    log = Capture()
    builder, net = conv_net(log)
    net.get_layer(0).precision = trt.float32
    net.get_input(0).set_dynamic_range(-2, 2)
    build(builder, net, Calibrator(trt.IInt8EntropyCalibrator2, batches()),
          flags=(trt.BuilderFlag.INT8, trt.BuilderFlag.FP16, trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS))
    (line,) = _deprecations(log)
    for used in ("BuilderFlag.FP16", "BuilderFlag.INT8", "BuilderFlag.OBEY_PRECISION_CONSTRAINTS",
                 "IInt8EntropyCalibrator2", "ITensor.set_dynamic_range", "ILayer.precision", "inferrt.autocast",
                 "inferrt.quantize", "NetworkDefinitionCreationFlag.STRONGLY_TYPED"):
        assert used in line, used
    assert "\n" not in line

    for flags in ((), (trt.BuilderFlag.FP16,)):
        log = Capture()
        builder, net = conv_net(log)
        build(builder, net, flags=flags)
        assert len(_deprecations(log)) == len(flags)
    log = Capture()
    builder, net = conv_net(log, strongly_typed=True)
    build(builder, net, flags=())
    assert _deprecations(log) == []


def test_fp16_flag_on_a_weakly_typed_network_keeps_building():
    log = Capture()
    builder, net = conv_net(log)
    engine = build(builder, net, flags=(trt.BuilderFlag.FP16,))
    x = batches(1)[0]
    np.testing.assert_allclose(engine.create_execution_context().infer({"x": x})["y"], reference_values(x)["y"],
                               rtol=1e-5, atol=1e-5)     # the CPU has no FP16 layers: FLOAT, as before
    assert any("BuilderFlag.FP16" in m and "CPU" in m for m in log.of(trt.Severity.WARNING))
    assert len(_deprecations(log)) == 1


def test_addresses_are_read_at_the_calibration_profiles_opt_shape():
    """A dynamic batch: profile 0's opt is 1, the calibration profile's opt is 3, so get_batch's addresses hold
    batches of 3."""
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, (-1, 4))
    r = net.add_activation(x, trt.ActivationType.RELU)
    r.get_output(0).name = "r"
    net.mark_output(r.get_output(0))
    config = builder.create_builder_config()
    config.device = "cpu"
    config.set_flag(trt.BuilderFlag.INT8)
    profile = builder.create_optimization_profile()
    profile.set_shape("x", (1, 4), (1, 4), (4, 4))
    config.add_optimization_profile(profile)
    cal_profile = builder.create_optimization_profile()
    cal_profile.set_shape("x", (3, 4), (3, 4), (3, 4))
    assert config.set_calibration_profile(cal_profile) and config.get_calibration_profile() is cal_profile
    data = np.arange(12, dtype=np.float32).reshape(3, 4) - 2.0        # |x| reaches 9 only in the third row
    config.int8_calibrator = Calibrator(trt.IInt8MinMaxCalibrator, [data], as_="pointer")
    builder.build(net, config)
    _, amax = read_cache(config.int8_calibrator.written)
    assert amax["x"] == pytest.approx(9.0, rel=1e-6) and amax["r"] == pytest.approx(9.0, rel=1e-6)


@pytest.mark.gpu
def test_calibration_on_the_gpu_reads_device_pointers_and_matches_the_cpu():
    data = batches()
    for kind, rel in ((trt.IInt8MinMaxCalibrator, 1e-5), (trt.IInt8EntropyCalibrator2, 2e-3)):
        cpu, gpu = Calibrator(kind, data), Calibrator(kind, data, as_="cuda")
        builder, net = conv_net()
        build(builder, net, cpu)
        builder, net = conv_net()
        build(builder, net, gpu, device="cuda")
        want, got = read_cache(cpu.written)[1], read_cache(gpu.written)[1]
        assert got.keys() == want.keys()
        for k in want:
            assert got[k] == pytest.approx(want[k], rel=rel), (kind.__name__, k)


@pytest.mark.gpu
def test_int8_with_fp16_on_the_gpu_stays_within_quantization_error():
    data = batches()
    builder, net = conv_net()
    engine = build(builder, net, Calibrator(trt.IInt8EntropyCalibrator2, data),
                   flags=(trt.BuilderFlag.INT8, trt.BuilderFlag.FP16), device="cuda")
    x = np.random.default_rng(9).standard_normal(SHAPE).astype(np.float32) * 2
    got = engine.create_execution_context().infer({"x": x})["y"]
    assert rel_l2(got, reference_values(x)["y"]) < 3e-2
