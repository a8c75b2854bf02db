"""The reduced-precision range guard: layers whose FLOAT values FP16/BF16 cannot hold stay in FLOAT, logged at INFO
with the value seen; nothing else changes; user-set precisions win; the knob turns it off."""
from __future__ import annotations

import numpy as np
import pytest

import inferrt as trt
from inferrt.builder.lower_network import lower_network
from inferrt.enums import DataType
from inferrt.passes.guard_reduced_precision import guard_reduced_precision, limits
from inferrt.passes.pipeline import PassContext, run_pipeline
from tests.helpers import assert_close
from tests.passes.precision_nets import (EW, Capture, calm_network, fp16_config, kept, lower_for_gpu,
                                        overflow_network, run_graph)

RNG = np.random.default_rng(11)


def _reference(x):
    return np.maximum(np.log((x.astype(np.float64) * 1000) ** 2), 0)


def _plan_graph(builder, network, config):
    return trt.load_engine(builder.build(network, config)).graph


def test_fp16_build_keeps_overflowing_layers_in_float_and_logs_them():
    log = Capture()
    builder, net = overflow_network(log)
    g = _plan_graph(builder, net, fp16_config(builder, passes=[]))
    got = kept(g)
    assert set(got) == {"square", "log"}, got        # the writer and the reader of the ~1e7 value
    info = [m for m in log.of(trt.Severity.INFO) if "range guard: layer" in m]
    assert len(info) == 2 and "'square'" in info[0] and "'log'" in info[1], info
    seen = float(info[0].split("max |value| ")[1].split()[0])
    assert seen > 65504, info[0]
    assert any("2 of 4 layers kept in FLOAT" in m for m in log.of(trt.Severity.INFO))


def test_fused_chain_is_judged_by_the_values_it_computes_inside():
    """After fusion the four layers are one pointwise chain; its output (a log) is small, but the square inside it
    is not, and the chain's generic implementation computes in its input type."""
    log = Capture()
    builder, net = overflow_network(log)
    g = _plan_graph(builder, net, fp16_config(builder))
    layers = [n for n in g.nodes if n.kind != "constant"]
    assert [n.kind for n in layers] == ["pointwise"]
    assert "register" in kept(g)[layers[0].name]
    assert any("square" in m and "kept in FLOAT" in m for m in log.of(trt.Severity.INFO))


@pytest.mark.parametrize("passes", [[], None], ids=["unfused", "fused"])
def test_simulated_fp16_engine_is_finite_with_the_guard_and_not_without(passes):
    builder, net = overflow_network()
    x = RNG.standard_normal((4, 256)).astype(np.float32)
    guarded = lower_for_gpu(net, fp16_config(builder, passes=passes))
    y = run_graph(guarded, {"x": x})["y"]
    assert np.isfinite(y).all()
    assert_close(y, _reference(x), dtype=np.float16, rtol=2e-3, atol=2e-2)
    # layers after the FLOAT island are lowered again
    if passes == []:
        assert guarded.node("relu").info.precision == "HALF"
    _, net2 = overflow_network()
    unguarded = lower_for_gpu(net2, fp16_config(builder, passes=passes), guard=False)
    assert not np.isfinite(run_graph(unguarded, {"x": x})["y"]).all()   # what the guard prevents


def test_network_without_overflow_keeps_every_layer_lowered():
    log = Capture()
    builder, net = calm_network(log)
    g = lower_for_gpu(net, fp16_config(builder, passes=[]), log=log.log)
    assert kept(g) == {}
    layers = [n for n in g.nodes if n.kind not in ("constant", "cast")]
    assert layers and all(n.info.precision == "HALF" for n in layers), [(n.name, n.info) for n in layers]
    assert any("0 of 3 layers kept in FLOAT" in m for m in log.of(trt.Severity.INFO))
    x = RNG.standard_normal((8, 16)).astype(np.float32)
    _, ref_net = calm_network()
    ref = run_graph(lower_network(ref_net), {"x": x})["y"]
    assert_close(run_graph(g, {"x": x})["y"], ref, dtype=np.float16, rtol=2e-2, atol=2e-2)


def _tiny_network():
    """y = (x * 1e-7) * 1e4: the middle value is a few FP16 subnormal steps."""
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, (4, 64))
    small = net.add_elementwise(x, net.add_constant((1, 1), np.full((1, 1), 1e-7, np.float32)).get_output(0),
                                EW.PROD)
    small.name = "shrink"
    big = net.add_elementwise(small.get_output(0),
                              net.add_constant((1, 1), np.full((1, 1), 1e4, np.float32)).get_output(0), EW.PROD)
    big.name = "grow"
    big.get_output(0).name = "y"
    net.mark_output(big.get_output(0))
    return builder, net


def test_values_fp16_cannot_resolve_are_kept_in_float():
    builder, net = _tiny_network()
    g = lower_for_gpu(net, fp16_config(builder, passes=[]))
    got = kept(g)
    assert set(got) == {"shrink", "grow"} and "below" in got["shrink"], got
    consts = {n.name: n for n in g.nodes if n.kind == "constant" and n.info.keep_float is not None}
    assert len(consts) == 1 and all(n.attrs.weights.dtype == np.float32 for n in consts.values())  # 1e-7
    x = RNG.standard_normal((4, 64)).astype(np.float32)
    ref = x.astype(np.float64) * 1e-3
    assert_close(run_graph(g, {"x": x})["y"], ref, dtype=np.float16, rtol=2e-3, atol=1e-6)
    builder, net = _tiny_network()
    lossy = run_graph(lower_for_gpu(net, fp16_config(builder, passes=[]), guard=False), {"x": x})["y"]
    assert np.max(np.abs(lossy - ref)) > 0.05 * np.max(np.abs(ref))   # FP16 subnormals: what the guard prevents


def test_user_set_precision_is_never_overridden():
    log = Capture()
    builder, net = overflow_network(log)
    net.get_layer(2).precision = trt.DataType.HALF      # "square"
    assert net.get_layer(2).name == "square"
    g = _plan_graph(builder, net, fp16_config(builder, passes=[]))
    assert set(kept(g)) == {"log"}
    warn = [m for m in log.of(trt.Severity.WARNING) if "range guard" in m]
    assert len(warn) == 1 and "'square'" in warn[0] and "set by the user" in warn[0], warn


def test_guard_can_be_turned_off():
    log = Capture()
    builder, net = overflow_network(log)
    config = fp16_config(builder, passes=[])
    config.fp16_range_guard = False
    g = _plan_graph(builder, net, config)
    assert kept(g) == {}
    assert any("range guard: off" in m for m in log.of(trt.Severity.INFO))


def test_no_reduced_precision_no_guard():
    log = Capture()
    builder, net = overflow_network(log)
    config = builder.create_builder_config()
    config.device = "cpu"
    assert kept(_plan_graph(builder, net, config)) == {}
    assert not any("range guard" in m for _, m in log.messages)


def _scale_network(factor=1000.0):
    builder = trt.Builder(Capture())
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, (-1, 32))
    s = net.add_elementwise(x, net.add_constant((1, 1), np.full((1, 1), factor, np.float32)).get_output(0), EW.PROD)
    s.name = "scale"
    r = net.add_activation(s.get_output(0), trt.ActivationType.RELU)
    r.name = "relu"
    r.get_output(0).name = "y"
    net.mark_output(r.get_output(0))
    return builder, net


def _profiled(builder, config):
    p = builder.create_optimization_profile()
    p.set_shape("x", (1, 32), (4, 32), (16, 32))
    config.add_optimization_profile(p)
    return config


def test_calibration_data_decides_instead_of_generated_data():
    builder, net = _scale_network()
    assert kept(_plan_graph(builder, net, _profiled(builder, fp16_config(builder, passes=[])))) == {}
    config = _profiled(builder, fp16_config(builder, passes=[]))
    config.calibration_data = [{"x": np.full((2, 32), 100.0, np.float32)}]   # 1e5 after the scale
    got = kept(_plan_graph(builder, net, config))
    assert set(got) == {"scale", "relu"} and "1e+05" in got["scale"], got
    assert any("1 batch(es) from config.calibration_data" in m for m in builder.logger.of(trt.Severity.INFO))


def test_bf16_ignores_fp16_overflow_but_not_float32_extremes():
    builder, net = overflow_network()
    assert kept(_plan_graph(builder, net, fp16_config(builder, passes=[], flag=trt.BuilderFlag.BF16))) == {}
    builder, net = _scale_network(6e37)            # |x| ~ 2 -> ~1.2e38: above BF16's largest value / 4
    got = kept(_plan_graph(builder, net, _profiled(builder, fp16_config(builder, passes=[],
                                                                          flag=trt.BuilderFlag.BF16))))
    assert set(got) == {"scale", "relu"} and "BF16" in got["scale"], got


def test_limits_follow_the_documented_margins():
    over, floor = limits(DataType.HALF)
    assert over == 65504 / 4 and floor == pytest.approx(16 * 2.0 ** -24)
    over, floor = limits(DataType.BF16)
    assert over == pytest.approx(3.3895e38 / 4, rel=1e-4) and floor == pytest.approx(16 * 2.0 ** -133)


def test_time_box_leaves_layers_unchecked_with_a_warning():
    log = Capture()
    builder, net = overflow_network()
    g = lower_network(net)
    run_pipeline(g, PassContext(fp16_config(builder, passes=[]), log.log, "cpu"), [])
    marked = guard_reduced_precision(g, DataType.HALF, [{"x": __import__("torch").ones(4, 256)}], log.log,
                                     time_box_s=0.0)
    assert marked == []
    warn = log.of(trt.Severity.WARNING)
    assert len(warn) == 1 and "time box" in warn[0] and "4 layers were not checked" in warn[0], warn
