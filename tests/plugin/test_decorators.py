"""TensorRT's decorator plugins (inferrt.plugin as trtp) on the CPU: JIT impl built and run against numpy,
autotune's tactics and type combinations, AOT/JIT selection and its errors, shape-function failures named."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_close

import inferrt as trt
import inferrt.plugin as trtp
from inferrt.errors import BuildError

sys.path.insert(0, str(Path(__file__).parent))
import plugins_for_tests  # noqa: E402,F401 - registers tests::clip_mul

if "tests::tuned_add" not in trtp.QDP_REGISTRY:
    SEEN = []

    @trtp.register("tests::tuned_add")
    def _tuned_add_desc(a: trtp.TensorDesc, offset: float) -> trtp.TensorDesc:
        return a.like()

    @trtp.autotune("tests::tuned_add")
    def _tuned_add_autotune(a: trtp.TensorDesc, outputs) -> list:
        return [trtp.AutoTuneCombination("FP32, FP32", "LINEAR", [11, 12])]

    @trtp.impl("tests::tuned_add")
    def _tuned_add_impl(a: trtp.Tensor, offset: float, outputs, stream, tactic) -> None:
        SEEN.append(tactic)
        torch.from_dlpack(outputs[0]).copy_(torch.from_dlpack(a) + offset)

    @trtp.register("tests::aot_only")
    def _aot_only_desc(a: trtp.TensorDesc) -> trtp.TensorDesc:
        return a.like()

    @trtp.aot_impl("tests::aot_only")
    def _aot_only_impl(a: trtp.TensorDesc, outputs, tactic):
        raise AssertionError("never compiled on the CPU")
else:
    SEEN = sys.modules[__name__].SEEN


def _net(flags=0):
    builder = trt.Builder(trt.Logger())
    return builder, builder.create_network(flags)


def test_jit_decorator_plugin_runs_and_matches_numpy():
    builder, net = _net()
    x = net.add_input("x", trt.float32, (2, 3, 4))
    y = net.add_input("y", trt.float32, (2, 3, 4))
    layer = net.add_plugin(trtp.op.tests.clip_mul(x, y, limit=0.5, repeat=3))
    assert tuple(layer.get_output(0).shape) == (2, 3, 12)
    net.mark_output(layer.get_output(0))
    engine = trt.build_engine(net)
    rng = np.random.default_rng(0)
    xv, yv = rng.standard_normal((2, 3, 4)).astype(np.float32), rng.standard_normal((2, 3, 4)).astype(np.float32)
    out = list(engine.create_execution_context().infer({"x": xv, "y": yv}).values())[0]
    ref = np.clip(xv.astype(np.float64) * yv, -0.5, 0.5)
    assert_close(out, np.concatenate([ref] * 3, axis=-1))


def test_autotune_tactics_reach_the_impl_and_types_are_checked():
    from inferrt.tactics.registry import get_tactic

    builder, net = _net()
    x = net.add_input("x", trt.float32, (5,))
    layer = net.add_plugin(trtp.op.tests.tuned_add(x, offset=2.0))
    net.mark_output(layer.get_output(0))
    assert layer.get_plugin().get_valid_tactics() == [11, 12]
    engine = trt.build_engine(net)
    SEEN.clear()
    out = list(engine.create_execution_context().infer({"x": np.arange(5, dtype=np.float32)}).values())[0]
    assert_close(out, np.arange(5) + 2.0)
    assert SEEN == [11]   # the first valid tactic on an untimed (CPU) build
    del get_tactic
    # FP16 is not in the AutoTuneCombination: the layer is refused, naming the plugin and the position
    builder, net = _net()
    h = net.add_input("h", trt.float16, (5,))
    bad = net.add_plugin(trtp.op.tests.tuned_add(h, offset=1.0))
    err = net.internal.layer_error(bad)
    assert err is not None and "tests::tuned_add" in err and "rejects input 0 as HALF LINEAR" in err


def test_shape_function_errors_name_the_layer():
    builder, net = _net()
    x = net.add_input("x", trt.float32, (2, 4))
    y = net.add_input("y", trt.int32, (2, 4))
    layer = net.add_plugin(trtp.op.tests.clip_mul(x, y, limit=1.0, repeat=1))
    layer.name = "mixed"
    err = net.internal.layer_error(layer)
    assert "'mixed'" in err and "tests::clip_mul" in err and "must have one type" in err
    with pytest.raises(BuildError, match="mixed"):
        trt.build_engine(net)


def test_attribute_and_selection_errors():
    builder, net = _net()
    x = net.add_input("x", trt.float32, (2,))
    assert net.add_plugin(trtp.op.tests.tuned_add(x, offst=1.0)) is None
    assert any("no attribute 'offst'" in e for e in net.internal.logged_errors())
    assert net.add_plugin(trtp.op.tests.aot_only(x), aot=False) is None
    assert any("aot=False but it has no @impl" in e for e in net.internal.logged_errors())
    with pytest.raises(AttributeError, match="no plugin tests::missing"):
        trtp.op.tests.missing
    with pytest.raises(ValueError, match="not registered"):
        trtp.impl("tests::never")(lambda: None)


def test_aot_only_plugin_on_the_cpu_is_a_build_error():
    builder, net = _net()
    x = net.add_input("x", trt.float32, (4,))
    layer = net.add_plugin(trtp.op.tests.aot_only(x))
    layer.name = "aot_layer"
    net.mark_output(layer.get_output(0))
    with pytest.raises(BuildError, match=r"aot_layer.*only an @aot_impl.*targets the CPU"):
        trt.build_engine(net, device="cpu")


def test_shape_exprs_and_launch_params_are_symbolic():
    d = trtp.TensorDesc([trtp.ShapeExpr(("d", 0, 0), None), 8])
    n = d.shape_expr.numel()
    assert not n.is_constant()
    g = trtp.cdiv(n, 256)
    from inferrt.plugin.exprs import evaluate

    assert evaluate(g.tree, [[1000, 8]]) == 32 and evaluate(trtp.max(n, 10).tree, [[1, 8]]) == 10
    c = trtp.cdiv(trtp.ShapeExpr(("c", 10), 10), 4)
    assert c.is_constant() and c.get_constant_value() == 3


def test_lazy_register_joins_the_registry_on_first_use():
    reg = trt.get_plugin_registry()
    if "tests::lazy_neg" not in trtp.QDP_REGISTRY:
        @trtp.register("tests::lazy_neg", lazy_register=True)
        def _lazy_desc(x: trtp.TensorDesc) -> trtp.TensorDesc:
            return x.like()

        assert reg.get_creator("lazy_neg", "1", "tests") is None   # not yet used
    trtp.op.tests.lazy_neg
    assert reg.get_creator("lazy_neg", "1", "tests") is trtp.QDP_REGISTRY["tests::lazy_neg"].creator


def test_autotune_combination_positions():
    c = trtp.AutoTuneCombination("FP32|FP16, FP32|FP16", "LINEAR", [1])
    assert c.allows(0, trt.float16, trt.TensorFormat.LINEAR) and not c.allows(1, trt.int32, trt.TensorFormat.LINEAR)
    c = trtp.AutoTuneCombination("FP32").pos(1, "INT32|INT64")
    assert c.allows(0, trt.float32, trt.TensorFormat.LINEAR) and c.allows(1, trt.int64, trt.TensorFormat.LINEAR)
    assert not c.allows(1, trt.float32, trt.TensorFormat.LINEAR)
