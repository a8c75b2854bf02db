"""The pass manager: ordered pipeline, selection knobs, INFO log per pass, debug invariants, names kept."""
import json

import pytest

import inferrt as trt
from inferrt.errors import BuildError
from inferrt.passes.pipeline import PASS_NAMES, PIPELINE, POST_PIPELINE, selected_pipeline
from tests.helpers import CaptureLogger
from tests.passes.nets import (compare_optimized, count, dyn_profile, kinds, optimize, rand, resnet_block_network,
                               transformer_network)


def _build(make, passes=None, debug=False, logger=None, profile=None):
    builder, net = make()
    if logger is not None:
        builder = trt.Builder(logger)
        _, net = make()
        net.builder = builder
    config = builder.create_builder_config()
    config.device = "cpu"
    config.debug_passes = debug
    if passes is not None:
        config.passes = passes
    p = builder.create_optimization_profile()
    for k, v in (profile or {}).items():
        p.set_shape(k, *v)
    config.add_optimization_profile(p)
    plan = builder.build(net, config)
    return trt.Runtime(trt.Logger(trt.Logger.ERROR)).deserialize_cuda_engine(plan), net


RESNET_PROFILE = {"x": ((1, 8, 8, 8), (2, 8, 8, 8), (3, 8, 8, 8))}


def test_pipeline_is_one_ordered_list_of_known_passes():
    names = [p[0] for p in PIPELINE]
    assert names[0] == "fold_constants" and names[-1] == "eliminate_dead_layers"
    assert names.index("fuse_attention") < names.index("fuse_conv_matmul_epilogue") < names.index("fuse_pointwise")
    assert set(names) == set(PASS_NAMES)


def test_config_passes_and_environment_select(monkeypatch):
    class Cfg:
        passes = None

    monkeypatch.delenv("INFERRT_PASSES", raising=False)
    monkeypatch.delenv("INFERRT_DISABLE_PASSES", raising=False)
    assert selected_pipeline(Cfg()) == PIPELINE
    Cfg.passes = []
    assert selected_pipeline(Cfg()) == []
    Cfg.passes = None
    monkeypatch.setenv("INFERRT_PASSES", "none")
    assert selected_pipeline(Cfg()) == []
    monkeypatch.setenv("INFERRT_PASSES", "fuse_gelu, eliminate_dead_layers")
    assert [p[0] for p in selected_pipeline(Cfg())] == ["eliminate_dead_layers", "fuse_gelu", "eliminate_dead_layers"]
    monkeypatch.delenv("INFERRT_PASSES")
    monkeypatch.setenv("INFERRT_DISABLE_PASSES", "fuse_pointwise")
    assert "fuse_pointwise" not in [p[0] for p in selected_pipeline(Cfg())]
    Cfg.passes = ["fuse_everything"]
    with pytest.raises(BuildError, match="fuse_everything.*known passes"):
        selected_pipeline(Cfg())


def test_disabled_pipeline_keeps_every_layer():
    engine, net = _build(resnet_block_network, passes=[], profile=RESNET_PROFILE)
    assert len([n for n in engine.graph.nodes if n.kind != "constant"]) == \
        len([lay for lay in net if lay.type != trt.LayerType.CONSTANT])


def test_info_log_per_pass_and_debug_dumps():
    cap = CaptureLogger()
    _build(resnet_block_network, debug=True, logger=cap, profile=RESNET_PROFILE)
    infos = [m for s, m in cap.messages if s == trt.ILogger.Severity.INFO]
    assert any(m.startswith("fuse_conv_matmul_epilogue: 3 fusions") for m in infos), infos
    assert any(m.startswith("fold_batchnorm_into_weights: 6 scales folded") for m in infos), infos
    dumps = [m for s, m in cap.messages if m.startswith("graph after ")]
    assert len(dumps) == len(PIPELINE) + len(POST_PIPELINE)   # one per pass, both stages


def test_no_layer_name_is_lost_and_the_inspector_shows_origins():
    engine, net = _build(resnet_block_network, profile=RESNET_PROFILE, debug=True)
    names = {lay.name for lay in net}
    origin = {o for n in engine.graph.nodes for o in n.origin}
    assert names <= origin, names - origin
    info = json.loads(engine.create_engine_inspector().get_engine_information(trt.LayerInformationFormat.JSON))
    text = json.dumps(info)
    for n in ("b2_bn_mul", "residual_add", "residual_relu", "relu6_min"):
        assert n in text


def test_full_pipeline_resnet_block_and_transformer():
    g = optimize(resnet_block_network()[1])
    assert kinds(g) == ["fused_conv"] * 3
    for kw in (dict(), dict(kv_heads=2, mask="causal")):
        builder, net = transformer_network(**kw)
        g = optimize(net)
        assert count(g, "attention") == 1 and count(g, "layer_norm") == 2
        assert count(g, "elementwise") == 0 and count(g, "unary") == 0 and count(g, "reduce") == 0
        assert count(g, "fused_matmul") == 4 and count(g, "matrix_multiply") == 0
        ffn1 = [n for n in g.nodes if n.name == "ffn1_matmul"][0]
        assert ffn1.attrs.epilogue == [["act", "GELU_ERF", 0.0, 0.0]]
        names = {lay.name for lay in net}
        assert names <= {o for n in g.nodes for o in n.origin}
        compare_optimized(builder, net, [{"x": rand(2, 8, 32)}, {"x": rand(3, 8, 32)}],
                          profiles=[dyn_profile("x", (1, 8, 32))])


def test_a_failing_pass_is_undone_with_a_warning_and_raises_in_debug():
    from inferrt.builder.lower_network import lower_network
    from inferrt.passes.pipeline import PassContext, run_pipeline

    def broken(graph, ctx):
        graph.nodes[-1].kind = "no_such_kind"
        graph.nodes.pop(0)
        raise RuntimeError("boom")

    class Cfg:
        debug_passes = False

    net = resnet_block_network()[1]
    g = lower_network(net)
    before = [(n.name, n.kind, list(n.inputs)) for n in g.nodes]
    logs = []
    run_pipeline(g, PassContext(Cfg(), lambda s, m: logs.append((s, m))), [("broken", broken)])
    assert [(n.name, n.kind, list(n.inputs)) for n in g.nodes] == before
    assert any(s == trt.ILogger.Severity.WARNING and "broken failed" in m and "boom" in m for s, m in logs)
    Cfg.debug_passes = True
    with pytest.raises(RuntimeError, match="boom"):
        run_pipeline(lower_network(net), PassContext(Cfg()), [("broken", broken)])


def test_post_pipeline_is_the_precision_and_format_stage_in_order():
    assert [name for name, _, _ in POST_PIPELINE] == ["guard_reduced_precision", "assign_precision",
                                                      "assign_formats"]
    assert not set(PASS_NAMES) & {name for name, _, _ in POST_PIPELINE}   # not selectable by config.passes


def test_a_failing_post_pipeline_pass_fails_the_build_instead_of_being_skipped():
    from inferrt.builder.lower_network import lower_network
    from inferrt.passes.pipeline import PassContext, run_pipeline

    def broken(graph, ctx):
        raise RuntimeError("boom")

    class Cfg:
        debug_passes = False

    logs = []
    with pytest.raises(RuntimeError, match="boom"):
        run_pipeline(lower_network(resnet_block_network()[1]), PassContext(Cfg(), lambda s, m: logs.append(m)),
                     [("broken", broken, None)], required=True)
    assert logs == []


def test_the_post_pipeline_runs_with_optimization_off():
    logger = CaptureLogger()
    _, net = resnet_block_network()
    builder = trt.Builder(logger)
    config = builder.create_builder_config()
    config.device = "cpu"
    config.passes = []
    config.set_flag(trt.BuilderFlag.FP16)
    p = builder.create_optimization_profile()
    p.set_shape("x", *RESNET_PROFILE["x"])
    config.add_optimization_profile(p)
    assert builder.build_serialized_network(net, config) is not None, logger.messages
    assert any(m.startswith("HALF range guard: ") for _, m in logger.messages), logger.messages
