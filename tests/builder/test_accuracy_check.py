"""The build's accuracy guard (``config.accuracy_check = AccuracyCheck(...)``, builder/accuracy_check.py): the plan
and an FP32 reference run on sample data, per-layer errors are tabled and the first layer over tolerance is named;
a failure warns or fails the build as asked."""
from __future__ import annotations

import numpy as np
import pytest

import inferrt as trt
from inferrt.api import network_from
from inferrt.autocast import autocast
from inferrt.builder.accuracy_check import tensor_error
from tests.accuracy.models import BROKEN_LAYER, overflow_model, sample
from tests.helpers import CaptureLogger


def _build(model, check, device="cpu", fp16=False):
    log = CaptureLogger()
    builder = trt.Builder(log)
    network = network_from(model, builder, log)
    config = builder.create_builder_config()
    config.device = device
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    config.accuracy_check = check
    return builder, network, config, log


def _fp16_overflowing():
    """AutoCast with its range rule off: ``ss`` runs in FP16 and overflows."""
    return autocast(overflow_model(), calibration_data=sample(), keep_io_types=True, data_max=float("inf")).model


def test_fp32_plan_matches_its_reference_and_tables_every_layer():
    check = trt.AccuracyCheck(inputs=[sample(1), sample(2)])
    builder, network, config, log = _build(overflow_model(), check)
    plan = builder.build(network, config)
    assert plan is not None and check.report.passed
    rep = check.report
    assert [e.name for e in rep.outputs] == ["energy", "logits"]
    assert {"h1", "r1", "h2"} <= {e.name for e in rep.layers}
    assert all(e.rel_l2 < 1e-6 and e.passed for e in rep.layers + rep.outputs)
    assert rep.first_failing_layer is None
    assert any(s == trt.Severity.INFO and "accuracy check" in m and "PASSED" in m for s, m in log.messages)
    # the user's network is left as it was: no debug tensor stays marked
    assert not any(network.is_debug_tensor(network.get_layer(i).get_output(0)) for i in range(network.num_layers))


def test_fp16_overflow_is_named_and_warns():
    check = trt.AccuracyCheck(inputs=[sample(1)], reference=overflow_model())
    builder, network, config, log = _build(_fp16_overflowing(), check)
    assert builder.build(network, config) is not None          # "warn": the plan is still returned
    rep = check.report
    assert not rep.passed
    bad = rep.first_failing_layer
    assert bad.name == "energy" and bad.layer.startswith(BROKEN_LAYER) and bad.layer_type == "REDUCE"
    assert bad.rel_l2 == float("inf")
    # the layers before it are in FP16 and within tolerance, with a real (nonzero) FP16 error
    before = {e.name: e for e in rep.layers}
    assert all(before[n].passed and 0 < before[n].rel_l2 < 1e-2 for n in ("h1", "r1", "h2"))
    logits = next(e for e in rep.outputs if e.name == "logits")
    assert logits.passed and 0 < logits.rel_l2 < 1e-2
    warnings = [m for s, m in log.messages if s == trt.Severity.WARNING and "accuracy check" in m]
    assert warnings and f"first layer over tolerance: '{bad.layer}'" in warnings[0]


def test_on_failure_fail_fails_the_build():
    check = trt.AccuracyCheck(inputs=[sample(1)], reference=overflow_model(), on_failure="fail", per_layer=False)
    builder, network, config, log = _build(_fp16_overflowing(), check)
    with pytest.raises(trt.BuildError) as e:
        builder.build(network, config)
    assert "energy" in str(e.value) and "debug precision" in str(e.value)
    assert builder.build_serialized_network(network, config) is None
    assert any(s == trt.Severity.ERROR and "outside AccuracyCheck's tolerance" in m for s, m in log.messages)


def test_autocast_default_rules_pass_the_guard():
    """AutoCast's own range rule keeps ``ss`` in FP32: the guard passes, with FP16-sized errors elsewhere."""
    model = autocast(overflow_model(), calibration_data=sample(), keep_io_types=True).model
    check = trt.AccuracyCheck(inputs=[sample(1)], reference=overflow_model(), on_failure="fail")
    builder, network, config, _ = _build(model, check)
    builder.build(network, config)
    assert check.report.passed
    assert max(e.rel_l2 for e in check.report.outputs) > 0


def test_elementwise_tolerances_count_mismatches():
    model = autocast(overflow_model(), calibration_data=sample(), keep_io_types=True).model
    check = trt.AccuracyCheck(inputs=[sample(1)], reference=overflow_model(), atol=1e-7, rtol=1e-7,
                              per_layer=False)
    builder, network, config, _ = _build(model, check)
    builder.build(network, config)
    assert not check.report.passed and check.report.outputs[1].mismatches > 0


def test_int8_qdq_network_against_its_fp32_model():
    from inferrt.quantize import quantize

    q = quantize(overflow_model(), "int8", "max", calibration_data=sample(), progress=False).model
    check = trt.AccuracyCheck(inputs=[sample(1)], reference=overflow_model(), max_rel_l2=0.1)
    builder, network, config, _ = _build(q, check)
    builder.build(network, config)
    outs = {e.name: e for e in check.report.outputs}
    assert 0 < outs["logits"].rel_l2 < 0.1      # INT8 weights and activations: a few % on 4 rows of data
    assert {"h1", "r1"} <= {e.name for e in check.report.layers}


def test_reduced_network_without_reference_is_refused():
    check = trt.AccuracyCheck(inputs=[sample(1)])
    builder, network, config, _ = _build(_fp16_overflowing(), check)
    with pytest.raises(trt.BuildError, match="reference="):
        builder.build(network, config)


def test_generated_sample_data_when_no_inputs():
    check = trt.AccuracyCheck(per_layer=False)
    builder, network, config, _ = _build(overflow_model(), check)
    builder.build(network, config)
    assert "generated" in check.report.batches and check.report.passed


@pytest.mark.parametrize("kwargs, word", [({"max_rel_l2": -1}, "max_rel_l2"), ({"atol": 1e-3}, "together"),
                                          ({"on_failure": "raise"}, "on_failure")])
def test_bad_knobs(kwargs, word):
    with pytest.raises(ValueError, match=word):
        trt.AccuracyCheck(**kwargs)


def test_bad_inputs_name_the_batch():
    check = trt.AccuracyCheck(inputs=[{"y": np.zeros((4, 16), np.float32)}])
    builder, network, config, _ = _build(overflow_model(), check)
    with pytest.raises(trt.BuildError, match=r"batch 0 has no value for the inputs \['x'\]"):
        builder.build(network, config)


def test_tensor_error():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0])
    rel, worst = tensor_error([a], [b])
    assert rel == pytest.approx(1 / np.sqrt(21)) and worst == 1.0
    assert tensor_error([np.array([np.inf])], [np.array([1.0])]) == (float("inf"), float("inf"))
    assert tensor_error([np.array([np.nan, 1.0])], [np.array([np.nan, 1.0])]) == (0.0, 0.0)


@pytest.mark.gpu
def test_fp16_flag_overflow_is_named_on_gpu():
    """TensorRT 10's way: an FP32 network built with BuilderFlag.FP16; the FP16 range guard is off so ``ss`` runs in
    FP16 and overflows; the check names it."""
    check = trt.AccuracyCheck(inputs=[sample(1)])
    builder, network, config, _ = _build(overflow_model(), check, device="cuda", fp16=True)
    config.fp16_range_guard = False
    builder.build(network, config)
    bad = check.report.first_failing_layer
    assert bad is not None and bad.layer.startswith(BROKEN_LAYER), check.report.format_table()


def test_int8_flag_with_a_caching_calibrator():
    """TensorRT 10's INT8: BuilderFlag.INT8 and a calibrator that keeps its cache (TensorRT's usual pattern: return
    what write_calibration_cache got); the per-layer builds reuse the cache instead of asking for batches again."""
    if not hasattr(trt, "IInt8MinMaxCalibrator"):
        pytest.skip("this inferrt has no TensorRT 10 INT8 calibrators yet")
    rows = np.random.default_rng(0).standard_normal((32, 16)).astype(np.float32)

    class Cal(trt.IInt8MinMaxCalibrator):
        def __init__(self):
            trt.IInt8MinMaxCalibrator.__init__(self)
            self.batches, self.cache, self.calls = [rows[i:i + 4] for i in range(0, 32, 4)], None, 0

        def get_batch_size(self):
            return 4

        def get_batch(self, names):
            self.calls += 1
            return [self.batches.pop()] if self.batches else None

        def read_calibration_cache(self):
            return self.cache

        def write_calibration_cache(self, cache):
            self.cache = cache.tobytes() if hasattr(cache, "tobytes") else bytes(cache)

    check = trt.AccuracyCheck(inputs=[sample(1)], max_rel_l2=0.1)
    builder, network, config, _ = _build(overflow_model(), check)
    config.set_flag(trt.BuilderFlag.INT8)
    config.int8_calibrator = cal = Cal()
    builder.build(network, config)
    rep = check.report
    assert not rep.layers_skipped, rep.layers_skipped
    outs = {e.name: e for e in rep.outputs}
    assert 0 < outs["logits"].rel_l2 < 0.1            # INT8 ran (nonzero error) and stays near FP32
    assert {"h1", "r1", "h2"} <= {e.name for e in rep.layers}
    assert cal.calls == 9                              # 8 batches and the None that ends them: calibrated once
