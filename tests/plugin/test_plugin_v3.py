"""IPluginV3 plugins through the network API on the CPU: build, run against numpy, tactics timed through the
autotuner, plan round trip in a fresh process, unregistered plugins refused, bad shape/type answers named."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_close

import inferrt as trt
from inferrt.errors import BuildError, PlanError

sys.path.insert(0, str(Path(__file__).parent))
from plugins_for_tests import ScaledPadPlugin, register_scaled_pad  # noqa: E402

HERE = Path(__file__).parent
ROOT = HERE.parents[1]


def _network(plugin, shape=(-1, 3, 4)):
    builder = trt.Builder(trt.Logger())
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, shape)
    layer = net.add_plugin_v3([x], [], plugin)
    layer.name = "pad_plugin"
    net.mark_output(layer.get_output(0))
    return builder, net, layer


def _build(builder, net, lo=(1, 3, 4), opt=(2, 3, 4), hi=(4, 3, 4)):
    cfg = builder.create_builder_config()
    p = builder.create_optimization_profile()
    p.set_shape("x", lo, opt, hi)
    cfg.add_optimization_profile(p)
    return builder.build_serialized_network(net, cfg)


def _reference(x, scale, pad):
    return np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad))) * scale


def test_v3_plugin_shapes_build_and_run():
    register_scaled_pad()
    ScaledPadPlugin.calls.clear()
    builder, net, layer = _network(ScaledPadPlugin(1.5, 2))
    assert isinstance(layer, trt.IPluginV3Layer) and layer.type == trt.LayerType.PLUGIN_V3
    assert tuple(layer.get_output(0).shape) == (-1, 3, 8)  # symbolic batch, 4 + 2 * pad
    assert layer.get_plugin().scale == 1.5
    plan = _build(builder, net)
    assert plan is not None
    engine = trt.Runtime(trt.Logger()).deserialize_cuda_engine(plan)
    ctx = engine.create_execution_context()
    for n in (1, 3):
        x = np.random.default_rng(n).standard_normal((n, 3, 4)).astype(np.float32)
        out = ctx.infer({"x": x})
        assert_close(list(out.values())[0], _reference(x, 1.5, 2))
    shapes = [d for k, d in ScaledPadPlugin.calls if k == "on_shape_change"]
    assert shapes == [(1, 3, 4), (3, 3, 4)]  # called on each new shape, before enqueue
    assert ("set_tactic", 7) in ScaledPadPlugin.calls  # untimed (CPU): the first valid tactic


def test_plan_records_plugin_and_loads_in_fresh_process(tmp_path):
    register_scaled_pad()
    builder, net, _ = _network(ScaledPadPlugin(0.5, 1))
    plan = bytes(_build(builder, net))
    path = tmp_path / "pad.plan"
    path.write_bytes(plan)
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        sys.path.insert(0, {str(HERE)!r})
        import inferrt as trt
        from plugins_for_tests import register_scaled_pad
        register_scaled_pad()   # what a loading process does: register the creator (here, by importing it)
        engine = trt.Runtime(trt.Logger()).deserialize_cuda_engine(open({str(path)!r}, "rb").read())
        out = engine.create_execution_context().infer({{"x": np.load({str(tmp_path / 'x.npy')!r})}})
        np.save({str(tmp_path / 'y.npy')!r}, list(out.values())[0])
    """)
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr[-2000:]
    assert_close(np.load(tmp_path / "y.npy"), _reference(x, 0.5, 1))


def test_unregistered_plugin_is_refused_with_its_name_and_the_fix():
    creator = register_scaled_pad()
    builder, net, _ = _network(ScaledPadPlugin(2.0, 1))
    plan = _build(builder, net)
    reg = trt.get_plugin_registry()
    assert reg.deregister_creator(creator)
    try:
        with pytest.raises(PlanError) as e:
            trt.load_engine(bytes(plan))
        msg = str(e.value)
        assert "tests::ScaledPad (version 1)" in msg and "register_creator" in msg and "not registered" in msg
        # TensorRT's API: None, and the error logged
        assert trt.Runtime(trt.Logger()).deserialize_cuda_engine(plan) is None
    finally:
        assert reg.register_creator(creator, "tests")


def test_tactic_selection_times_every_valid_tactic():
    """The autotuner times the plugin's get_valid_tactics like any tactic's points, and the plan keeps the winner."""
    from inferrt.builder.lower_network import lower_network
    from inferrt.tactics.select import select_tactics

    register_scaled_pad()
    builder, net, _ = _network(ScaledPadPlugin(1.0, 1), shape=(2, 3, 4))
    graph = lower_network(net)
    specs = graph.infer()
    timed = []

    def timer(node, specs, choices, config, log, nhwc):
        timed.extend((t.name, p) for t, p in choices)
        return [(t.name, p, {7: 2.0, 3: 1.0}[p["tactic"]]) for t, p in choices]

    cfg = builder.create_builder_config()
    select_tactics(graph, specs, "cuda", cfg, lambda *a: None, timer=timer, device_name="test-device")
    node = next(n for n in graph.nodes if n.kind == "plugin_v3")
    assert timed == [("plugin", {"tactic": 7}), ("plugin", {"tactic": 3})]
    assert node.info.tactic == "plugin" and node.info.tactic_point == {"tactic": 3}
    from inferrt.tactics.registry import get_tactic

    ScaledPadPlugin.calls.clear()
    get_tactic("plugin").prepare(node, "cpu")
    assert ("set_tactic", 3) in ScaledPadPlugin.calls


class _BadPlugin(ScaledPadPlugin):
    def __init__(self, mode):
        super().__init__()
        self.plugin_name = "Bad"
        self.mode = mode

    def clone(self):
        return _BadPlugin(self.mode)

    def get_output_data_types(self, input_types):
        return ["not a type"] if self.mode == "dtype" else [trt.float32, trt.float32] if self.mode == "count" \
            else [input_types[0]]

    def get_output_shapes(self, inputs, shape_inputs, expr_builder):
        if self.mode == "negative":
            return [trt.DimsExprs([expr_builder.constant(-3)])]
        if self.mode == "raises":
            raise RuntimeError("shape rule exploded")
        return super().get_output_shapes(inputs, shape_inputs, expr_builder)


@pytest.mark.parametrize("mode,expect", [
    ("dtype", "get_output_data_types returned a value that is not a DataType"),
    ("count", "returned 2 type(s) for its 1 output(s)"),
    ("negative", "dim 0 of output 0 is -3"),
    ("raises", "get_output_shapes failed: RuntimeError: shape rule exploded"),
])
def test_bad_shape_or_type_answers_name_the_layer_and_plugin(mode, expect):
    builder, net, layer = _network(_BadPlugin(mode))
    errors = net.internal.layer_errors()
    assert len(errors) == 1 and "'pad_plugin'" in errors[0] and "tests::Bad" in errors[0] and expect in errors[0]
    assert _build(builder, net) is None  # TensorRT's API: None and the error logged
    with pytest.raises(BuildError, match="pad_plugin"):
        trt.build_engine(net)


def test_format_combination_rejection_names_the_position():
    builder = trt.Builder(trt.Logger())
    net = builder.create_network(0)
    x = net.add_input("x", trt.float16, (2, 3, 4))   # ScaledPad accepts FLOAT only
    layer = net.add_plugin_v3([x], [], ScaledPadPlugin())
    err = net.internal.layer_error(layer)
    assert err is not None and "rejects input 0 as HALF LINEAR" in err


def test_add_plugin_v3_rejects_a_non_plugin():
    builder = trt.Builder(trt.Logger())
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, (2, 3))
    assert net.add_plugin_v3([x], [], object()) is None
    assert any("IPluginV3" in e for e in net.internal.logged_errors())


def test_shape_inputs_feed_the_shape_function_only():
    from plugins_for_tests import RepeatRowsPlugin, register_repeat_rows

    register_repeat_rows()
    builder = trt.Builder(trt.Logger())
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, (-1, 2))
    reps = net.add_constant((1,), np.array([3], np.int32)).get_output(0)
    layer = net.add_plugin_v3([x], [reps], RepeatRowsPlugin())
    assert layer.num_inputs == 2 and tuple(layer.get_output(0).shape) == (-1, 2)
    net.mark_output(layer.get_output(0))
    engine = trt.build_engine(net, profiles={"x": ((1, 2), (2, 2), (4, 2))})
    xv = np.arange(4, dtype=np.float32).reshape(2, 2)
    out = list(engine.create_execution_context().infer({"x": xv}).values())[0]
    assert_close(out, np.tile(xv, (3, 1)))


class _FailingEnqueue(ScaledPadPlugin):
    def __init__(self, scale=2.0, pad=1):
        super().__init__(scale, pad)
        self.plugin_name = "FailingPad"

    def clone(self):
        return _FailingEnqueue(self.scale, self.pad)

    def enqueue(self, input_desc, output_desc, inputs, outputs, workspace, stream):
        raise RuntimeError("kernel launch failed")


def test_enqueue_failure_names_the_layer():
    from inferrt.errors import ExecutionError

    class Creator(trt.IPluginCreatorV3One):
        name, plugin_version, plugin_namespace = "FailingPad", "1", "tests"

        def create_plugin(self, name, fc, phase):
            return _FailingEnqueue()

    reg = trt.get_plugin_registry()
    if reg.get_creator("FailingPad", "1", "tests") is None:
        assert reg.register_creator(Creator(), "tests")
    builder, net, _ = _network(_FailingEnqueue(), shape=(1, 3, 4))
    engine = trt.build_engine(net)
    with pytest.raises(ExecutionError, match=r"'pad_plugin'.*kernel launch failed"):
        engine.create_execution_context().infer({"x": np.zeros((1, 3, 4), np.float32)})


def test_creator_failing_on_the_plans_fields_is_a_plan_error():
    creator = register_scaled_pad()
    builder, net, _ = _network(ScaledPadPlugin(), shape=(1, 3, 4))
    plan = bytes(_build(builder, net, (1, 3, 4), (1, 3, 4), (1, 3, 4)))
    original = creator.create_plugin
    creator.create_plugin = lambda name, fc, phase: (_ for _ in ()).throw(ValueError("bad scale"))
    try:
        with pytest.raises(PlanError, match=r"creator of plugin tests::ScaledPad.*\['scale', 'pad'\].*bad scale"):
            trt.load_engine(plan)
    finally:
        creator.create_plugin = original
