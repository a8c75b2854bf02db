"""Refitter on a network-API convolution + BatchNorm (Scale) network: new weights give what a fresh build gives,
bad input is a logged False that leaves the engine unchanged, stripped and REFIT_IDENTICAL plans."""
from __future__ import annotations

import numpy as np
import pytest

import inferrt as trt


class Log(trt.ILogger):
    def __init__(self):
        super().__init__()
        self.errors = []
        self.infos = []

    def log(self, severity, msg):
        if severity <= trt.Logger.ERROR:
            self.errors.append(msg)
        elif severity == trt.Logger.INFO:
            self.infos.append(msg)


def weights(seed, c=8):
    rng = np.random.default_rng(seed)
    return {"conv.weight": rng.standard_normal((c, 3, 3, 3)).astype(np.float32),
            "conv.bias": rng.standard_normal(c).astype(np.float32),
            "bn.shift": rng.standard_normal(c).astype(np.float32),
            "bn.scale": rng.uniform(0.5, 1.5, c).astype(np.float32)}


def build(w, device, flags=(), logger=None):
    builder = trt.Builder(logger or trt.Logger(trt.Logger.ERROR))
    n = builder.create_network(0)
    x = n.add_input("x", trt.float32, (2, 3, 12, 12))
    conv = n.add_convolution_nd(x, w["conv.weight"].shape[0], (3, 3), w["conv.weight"], w["conv.bias"])
    conv.name = "conv"
    conv.padding_nd = (1, 1)
    bn = n.add_scale(conv.get_output(0), trt.ScaleMode.CHANNEL, w["bn.shift"], w["bn.scale"], None)
    bn.name = "bn"
    for name, arr in w.items():
        assert n.set_weights_name(arr, name)
    relu = n.add_activation(bn.get_output(0), trt.ActivationType.RELU)
    n.mark_output(relu.get_output(0))
    config = builder.create_builder_config()
    config.device = device
    config.clear_flag(trt.BuilderFlag.TF32)
    for f in flags:
        config.set_flag(f)
    plan = builder.build_serialized_network(n, config)
    assert plan is not None
    return bytes(plan)


def load(plan, logger=None):
    return trt.Runtime(logger or trt.Logger(trt.Logger.ERROR)).deserialize_cuda_engine(plan)


X = np.random.default_rng(7).standard_normal((2, 3, 12, 12)).astype(np.float32)


def run(engine, ctx=None):
    ctx = ctx or engine.create_execution_context()
    out = ctx.infer({"x": X})
    (v,) = out.values()
    return np.asarray(v.cpu() if hasattr(v, "cpu") else v)


def reference(w):
    """float64 conv + scale + relu (independent of inferrt)."""
    import torch

    t = {k: torch.from_numpy(v.astype(np.float64)) for k, v in w.items()}
    y = torch.nn.functional.conv2d(torch.from_numpy(X.astype(np.float64)), t["conv.weight"], t["conv.bias"],
                                   padding=1)
    y = y * t["bn.scale"].view(1, -1, 1, 1) + t["bn.shift"].view(1, -1, 1, 1)
    return torch.relu(y).numpy()


def test_refit_equals_fresh_build(device):
    log = Log()
    old, new = weights(0), weights(1)
    engine = load(build(old, device, [trt.BuilderFlag.REFIT]), log)
    assert engine.refittable
    # the Scale (BatchNorm) layer was folded into the convolution: its weights live in the conv's constants
    kinds = [n.kind for n in engine.graph.nodes]
    assert "fused_conv" in kinds and "scale" not in kinds
    ctx = engine.create_execution_context()
    before = run(engine, ctx)
    refitter = trt.Refitter(engine, log)
    assert sorted(refitter.get_all_weights()) == sorted(old)
    assert refitter.get_missing_weights() == []
    for name, arr in new.items():
        assert refitter.set_named_weights(name, arr)
    assert refitter.refit_cuda_engine(), log.errors
    assert sorted(refitter.changed_weights) == sorted(new)
    assert any("4 of 4 weights changed" in m for m in log.infos)
    after = run(engine, ctx)  # the same context: its plans (and CUDA graphs) see the new weights
    fresh = run(load(build(new, device)))
    if device == "cpu":
        np.testing.assert_array_equal(after, fresh)
    else:   # tactics are timed per build: the fresh build may pick another kernel for the same constants
        np.testing.assert_allclose(after, fresh, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(after, reference(new), rtol=1e-4, atol=1e-4)
    assert not np.allclose(before, after)
    # the refitted engine serializes with its new weights
    np.testing.assert_array_equal(run(load(bytes(engine.serialize()))), after)


def test_partial_refit_keeps_other_weights():
    old, new = weights(0), weights(1)
    engine = load(build(old, "cpu", [trt.BuilderFlag.REFIT]))
    refitter = trt.Refitter(engine, trt.Logger(trt.Logger.ERROR))
    assert refitter.set_named_weights("bn.scale", new["bn.scale"])
    assert refitter.refit_cuda_engine()
    assert refitter.changed_weights == ["bn.scale"]
    np.testing.assert_allclose(run(engine), reference({**old, "bn.scale": new["bn.scale"]}), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(refitter.get_named_weights("bn.scale").numpy(), new["bn.scale"])


@pytest.mark.parametrize("case", ["unknown", "shape", "dtype", "nan", "not_refittable"])
def test_bad_input_is_false_and_leaves_engine_usable(case):
    log = Log()
    old = weights(0)
    engine = load(build(old, "cpu", [] if case == "not_refittable" else [trt.BuilderFlag.REFIT]), log)
    before = run(engine)
    refitter = trt.Refitter(engine, log)
    arg = {"unknown": ("conv.wieght", old["conv.weight"]), "shape": ("conv.weight", old["conv.weight"][:2]),
           "dtype": ("conv.weight", old["conv.weight"].astype(np.float16)),
           "nan": ("bn.scale", np.full(8, np.nan, np.float32)),
           "not_refittable": ("conv.weight", old["conv.weight"])}[case]
    assert refitter.set_named_weights(*arg) is False
    assert log.errors
    want = {"unknown": "no refittable weights named 'conv.wieght'", "shape": "shape (8, 3, 3, 3)",
            "dtype": "float16 but the weights are float32", "nan": "NaN", "not_refittable": "without BuilderFlag.REFIT"}
    assert want[case] in log.errors[-1]
    if case == "not_refittable":
        assert not engine.refittable and refitter.refit_cuda_engine() is False
    np.testing.assert_array_equal(run(engine), before)


def test_stripped_plan_is_smaller_and_refuses_to_run_until_refitted():
    big = weights(0, c=256)
    refit = build(big, "cpu", [trt.BuilderFlag.REFIT])
    plain = build(big, "cpu")
    stripped = build(big, "cpu", [trt.BuilderFlag.REFIT, trt.BuilderFlag.STRIP_PLAN])
    nbytes = sum(a.nbytes for a in big.values())
    assert len(refit) - len(stripped) >= 1.5 * nbytes   # originals and engine constants both leave
    assert len(stripped) <= len(plain) - 0.8 * nbytes
    log = Log()
    engine = load(stripped, log)
    assert engine.refittable and sorted(engine.missing_weights) == sorted(big)
    ctx = engine.create_execution_context()
    assert tuple(ctx.get_tensor_shape(engine.output_names[0])) == (2, 256, 12, 12)   # metadata works
    assert not log.errors
    with pytest.raises(trt.ExecutionError, match="weight-stripped plan"):
        ctx.infer({"x": X})
    import torch

    y = torch.empty((2, 256, 12, 12))
    ctx.set_tensor_address("x", torch.from_numpy(X).data_ptr())
    ctx.set_tensor_address(engine.output_names[0], y.data_ptr())
    assert ctx.execute_async_v3(0) is False and "have not been refitted" in log.errors[-1]
    refitter = trt.Refitter(engine, log)
    assert refitter.set_named_weights("conv.weight", big["conv.weight"])
    assert refitter.refit_cuda_engine() is False
    assert "3 weights are missing" in log.errors[-1] and "bn.scale" in log.errors[-1]
    assert sorted(refitter.get_missing_weights()) == ["bn.scale", "bn.shift", "conv.bias"]
    for name in ("bn.scale", "bn.shift", "conv.bias"):
        assert refitter.set_named_weights(name, big[name])
    assert refitter.refit_cuda_engine(), log.errors
    assert engine.missing_weights == []
    np.testing.assert_array_equal(run(engine, ctx), run(load(plain)))
    # serialized again, the plan stays stripped
    assert len(bytes(engine.serialize())) < len(plain)


def test_refit_identical_refuses_other_weights():
    log = Log()
    old, new = weights(0), weights(1)
    engine = load(build(old, "cpu", [trt.BuilderFlag.REFIT_IDENTICAL, trt.BuilderFlag.STRIP_PLAN]), log)
    refitter = trt.Refitter(engine, log)
    for name, arr in new.items():
        assert refitter.set_named_weights(name, arr)
    assert refitter.refit_cuda_engine() is False
    assert "REFIT_IDENTICAL" in log.errors[-1] and "differ from the plan's digest" in log.errors[-1]
    assert sorted(engine.missing_weights) == sorted(old)   # unchanged
    for name, arr in old.items():
        assert refitter.set_named_weights(name, arr)
    assert refitter.refit_cuda_engine(), log.errors
    np.testing.assert_allclose(run(engine), reference(old), rtol=1e-4, atol=1e-4)


def test_refit_individual_only_marked_weights():
    old, new = weights(0), weights(1)
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    # marks live on the network: build by hand with one weight marked
    n = builder.create_network(0)
    x = n.add_input("x", trt.float32, (2, 3, 12, 12))
    conv = n.add_convolution_nd(x, 8, (3, 3), old["conv.weight"], old["conv.bias"])
    conv.padding_nd = (1, 1)
    assert n.set_weights_name(old["conv.weight"], "conv.weight")
    assert n.mark_weights_refittable("conv.weight") and n.are_weights_marked_refittable("conv.weight")
    assert not n.mark_weights_refittable("nope")
    n.mark_output(conv.get_output(0))
    config = builder.create_builder_config()
    config.device = "cpu"
    config.set_flag(trt.BuilderFlag.REFIT_INDIVIDUAL)
    engine = load(bytes(builder.build_serialized_network(n, config)))
    refitter = trt.Refitter(engine, trt.Logger(trt.Logger.ERROR))
    assert refitter.get_all_weights() == ["conv.weight"]
    assert refitter.set_named_weights("conv.bias", new["conv.bias"]) is False
    assert refitter.set_named_weights("conv.weight", new["conv.weight"]) and refitter.refit_cuda_engine()


def _affine(gamma, beta, gamma2, flags):
    """y = (x * gamma + beta) * gamma2: built with gamma = gamma2 = ones and beta = zeros, the value-based rewrites
    would drop the products and the sum and merge the two equal constants."""
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    n = builder.create_network(0)
    x = n.add_input("x", trt.float32, (2, 4))
    consts = []
    for name, arr in (("gamma", gamma), ("beta", beta), ("gamma2", gamma2)):
        layer = n.add_constant((1, 4), arr)
        layer.name = name
        assert n.set_weights_name(arr, name)
        consts.append(layer.get_output(0))
    y = n.add_elementwise(x, consts[0], trt.ElementWiseOperation.PROD).get_output(0)
    y = n.add_elementwise(y, consts[1], trt.ElementWiseOperation.SUM).get_output(0)
    y = n.add_elementwise(y, consts[2], trt.ElementWiseOperation.PROD).get_output(0)
    n.mark_output(y)
    config = builder.create_builder_config()
    config.device = "cpu"
    for f in flags:
        config.set_flag(f)
    return bytes(builder.build_serialized_network(n, config))


def test_value_based_rewrites_leave_refittable_weights_alone():
    ones, zeros = np.ones(4, np.float32), np.zeros(4, np.float32)
    engine = load(_affine(ones, zeros, ones.copy(), [trt.BuilderFlag.REFIT]))
    assert sum(n.kind == "constant" for n in engine.graph.nodes) == 3   # none dropped, none merged
    g, b, g2 = (np.arange(4, dtype=np.float32) + k for k in (1, 5, 9))
    refitter = trt.Refitter(engine, trt.Logger(trt.Logger.ERROR))
    for name, arr in (("gamma", g), ("beta", b), ("gamma2", g2)):
        assert refitter.set_named_weights(name, arr)
    assert refitter.refit_cuda_engine()
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    (y,) = engine.create_execution_context().infer({"x": x}).values()
    np.testing.assert_allclose(np.asarray(y), (x.astype(np.float64) * g + b) * g2, rtol=1e-6)
    # without REFIT (and with REFIT_IDENTICAL, which promises the same values) the rewrites apply
    for flags in ([], [trt.BuilderFlag.REFIT_IDENTICAL]):
        plain = load(_affine(ones, zeros, ones.copy(), flags))
        assert sum(n.kind == "constant" for n in plain.graph.nodes) < 3


def test_refit_that_changes_the_optimized_network_is_refused():
    """A single-value weight stays visible to the optimizer (fusions match such scalars); with REFIT_IDENTICAL all
    rewrites apply, so a refit of other values that would change the network is refused, engine unchanged."""
    log = Log()
    w = weights(0)
    engine = load(build(w, "cpu", [trt.BuilderFlag.REFIT]), log)
    before = run(engine)
    refitter = trt.Refitter(engine, log)
    # the structure check itself: recompute a graph with a scalar weight folded into an attribute
    from inferrt.refit.recompute import StructureChanged, same_structure
    import copy

    other = copy.deepcopy(engine.graph)
    fused = next(n for n in other.nodes if n.kind != "constant")
    key = next(k for k, v in fused.attrs.items() if isinstance(v, (int, float)) and not isinstance(v, bool))
    fused.attrs[key] = fused.attrs[key] + 1
    with pytest.raises(StructureChanged, match=repr(fused.name)):
        same_structure(other, engine.graph)
    np.testing.assert_array_equal(run(engine), before)
    assert refitter.get_missing_weights() == []


@pytest.mark.gpu
def test_cuda_graphs_are_recaptured_after_refit():
    """Fixed buffers make the context capture a CUDA graph (second run) and replay it; after a refit the graph
    holding the old constants and kernels is dropped and a new one captured."""
    import torch

    old, new = weights(0), weights(1)
    engine = load(build(old, "cuda", [trt.BuilderFlag.REFIT]))
    ctx = engine.create_execution_context()
    x = torch.from_numpy(X).cuda()
    y = torch.empty((2, 8, 12, 12), device="cuda")
    ctx.set_input_shape("x", tuple(x.shape))
    ctx.set_tensor_address("x", x.data_ptr())
    ctx.set_tensor_address(engine.output_names[0], y.data_ptr())
    stream = torch.cuda.current_stream()
    for _ in range(3):
        assert ctx.execute_async_v3(stream.cuda_stream)
    stream.synchronize()
    assert ctx._graph_cache().captures == 1
    np.testing.assert_allclose(y.cpu().numpy(), reference(old), rtol=2e-3, atol=2e-3)
    refitter = trt.Refitter(engine, trt.Logger(trt.Logger.ERROR))
    for name, arr in new.items():
        assert refitter.set_named_weights(name, arr)
    assert refitter.refit_cuda_engine_async(stream.cuda_stream)
    for _ in range(3):
        assert ctx.execute_async_v3(stream.cuda_stream)
    stream.synchronize()
    assert ctx._graph_cache().captures == 2   # the old graph dropped by the refit, a new one captured
    np.testing.assert_allclose(y.cpu().numpy(), reference(new), rtol=2e-3, atol=2e-3)


@pytest.mark.gpu
def test_fp16_engine_refit_recasts_the_weights():
    """FP16 builds cast the folded weights to FLOAT16 (assign_precision): a refit casts the new ones the same way."""
    old, new = weights(0), weights(1)
    engine = load(build(old, "cuda", [trt.BuilderFlag.REFIT, trt.BuilderFlag.FP16]))
    refitter = trt.Refitter(engine, trt.Logger(trt.Logger.ERROR))
    for name, arr in new.items():
        assert refitter.set_named_weights(name, arr)
    assert refitter.refit_cuda_engine()
    fresh = load(build(new, "cuda", [trt.BuilderFlag.FP16]))
    half = {n.name: np.asarray(n.attrs.weights) for n in fresh.graph.nodes
            if n.kind == "constant" and str(n.attrs.weights.dtype) == "float16"}
    assert half   # the fresh build holds FP16 weights, and the refitted engine holds the same values
    mine = {n.name: np.asarray(n.attrs.weights) for n in engine.graph.nodes if n.name in half}
    assert mine   # (the range guard's choices, kept from the first build, could differ for a few layers)
    for name, arr in mine.items():
        np.testing.assert_array_equal(arr.reshape(-1), half[name].reshape(-1))
    from tests.helpers import FP16_ENGINE_REL_L2, rel_l2

    assert rel_l2(run(engine), reference(new)) < FP16_ENGINE_REL_L2


def test_serialization_config_exclude_weights():
    big = weights(0, c=64)
    plan = build(big, "cpu", [trt.BuilderFlag.REFIT])
    engine = load(plan)
    expected = run(engine)
    assert len(bytes(engine.serialize())) == len(plan)
    config = engine.create_serialization_config()
    config.set_flag(trt.SerializationFlag.EXCLUDE_WEIGHTS)
    assert config.get_flag(trt.SerializationFlag.EXCLUDE_WEIGHTS)
    stripped = bytes(engine.serialize_with_config(config))
    assert len(stripped) < len(plan) - 1.5 * sum(a.nbytes for a in big.values())
    again = load(stripped)
    assert sorted(again.missing_weights) == sorted(big)
    refitter = trt.Refitter(again, trt.Logger(trt.Logger.ERROR))
    for name, arr in big.items():
        assert refitter.set_named_weights(name, arr)
    assert refitter.refit_cuda_engine()
    np.testing.assert_array_equal(run(again), expected)
    # a refitted engine's plan stores each weight once, as the build did
    assert len(bytes(again.serialize())) == len(stripped)
    log = Log()
    plain = load(build(big, "cpu"), log)
    assert plain.serialize_with_config(config) is None and "needs an engine built with" in log.errors[-1]


def test_refitted_plan_stores_shared_weights_once():
    old, new = weights(0, c=64), weights(1, c=64)
    plan = build(old, "cpu", [trt.BuilderFlag.REFIT])
    engine = load(plan)
    refitter = trt.Refitter(engine, trt.Logger(trt.Logger.ERROR))
    for name, arr in new.items():
        assert refitter.set_named_weights(name, arr)
    assert refitter.refit_cuda_engine()
    assert abs(len(bytes(engine.serialize())) - len(build(new, "cpu", [trt.BuilderFlag.REFIT]))) <= 4096


@pytest.mark.parametrize("config", [None, "EXCLUDE_WEIGHTS", trt.SerializationFlag.EXCLUDE_WEIGHTS])
def test_serialize_with_config_takes_only_a_serialization_config(config):
    engine = load(build(weights(0), "cpu", [trt.BuilderFlag.REFIT]))
    with pytest.raises(TypeError, match="create_serialization_config"):
        engine.serialize_with_config(config)


def test_weights_no_output_uses_are_not_refittable():
    """A named constant nothing reads is not refittable: setting it is an error, never a refit that reports success
    and changes nothing."""
    log = Log()
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    n = builder.create_network(0)
    x = n.add_input("x", trt.float32, (2, 4))
    used, unused = np.arange(4, dtype=np.float32).reshape(1, 4), np.ones((1, 4), np.float32)
    consts = {}
    for name, arr in (("used", used), ("unused", unused)):
        consts[name] = n.add_constant((1, 4), arr)
        assert n.set_weights_name(arr, name)
    y = n.add_elementwise(x, consts["used"].get_output(0), trt.ElementWiseOperation.SUM)
    n.mark_output(y.get_output(0))
    config = builder.create_builder_config()
    config.device = "cpu"
    config.set_flag(trt.BuilderFlag.REFIT)
    engine = load(bytes(builder.build_serialized_network(n, config)))
    refitter = trt.Refitter(engine, log)
    assert refitter.get_all_weights() == ["used"]
    assert refitter.set_named_weights("unused", unused * 2) is False
    assert "no refittable weights named 'unused'" in log.errors[-1]


def test_fp16_refit_graph_compares_equal_to_the_plan_graph_without_a_gpu():
    """The GPU build's graph (device "cuda": assign_precision casts the input to HALF) as the plan stores it, and the
    graph a refit recomputes from new weights, have the same layers and attributes: the inserted casts carry only
    ``to_type`` when a pass makes them, every attribute of the cast op once the plan is read (Graph.from_json starts
    from the op's defaults). Seen on the GPU as "layer 'x [half]' has other attributes with the new weights". The
    passes run without a GPU (the range guard, which would run the graph on the device, is off)."""
    from inferrt.builder.lower_network import lower_network
    from inferrt.ir.graph import Graph
    from inferrt.ir.kinds import Kind
    from inferrt.passes.pipeline import POST_PIPELINE, PassContext, run_pipeline, selected_pipeline
    from inferrt.plan.format import BlobWriter, read_plan, write_plan
    from inferrt.refit.recompute import changed_nodes, recompute
    from inferrt.refit.record import RefitRecorder
    from inferrt.refit.state import RefitState

    old, new = weights(0), weights(1)
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    n = builder.create_network(0)
    x = n.add_input("x", trt.float32, (2, 3, 12, 12))
    conv = n.add_convolution_nd(x, 8, (3, 3), old["conv.weight"], old["conv.bias"])
    conv.name, conv.padding_nd = "conv", (1, 1)
    bn = n.add_scale(conv.get_output(0), trt.ScaleMode.CHANNEL, old["bn.shift"], old["bn.scale"], None)
    bn.name = "bn"
    for name, arr in old.items():
        assert n.set_weights_name(arr, name)
    n.mark_output(n.add_activation(bn.get_output(0), trt.ActivationType.RELU).get_output(0))
    config = builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.REFIT)
    config.set_flag(trt.BuilderFlag.FP16)
    config.fp16_range_guard = False
    graph = lower_network(n)
    recorder = RefitRecorder(n, graph, config, lambda sev, msg: None)
    ctx = PassContext(config, lambda sev, msg: None, "cuda", [{}])
    passes = selected_pipeline(config)
    run_pipeline(graph, ctx, passes)
    run_pipeline(graph, ctx, POST_PIPELINE, required=True)
    casts = [m for m in graph.nodes if m.kind == Kind.CAST and m.info.inserted == "precision"]
    assert casts and any(set(m.attrs) != set(m.op.default_attrs()) for m in casts)   # what made the GPU fail
    blobs = BlobWriter()
    manifest = {"graph": graph.to_json(blobs), "refit": recorder.section(graph, blobs, [p[0] for p in passes])}
    manifest, reader = read_plan(write_plan(manifest, blobs))
    engine_graph = Graph.from_json(manifest["graph"], reader)
    state = RefitState(manifest["refit"], reader, 1 << 30)
    by_node = {state.weights[name]["node"]: arr for name, arr in new.items()}
    refit = recompute(state, engine_graph, by_node, "cuda", [{}], lambda sev, msg: None)   # raised StructureChanged
    updates = changed_nodes(refit, engine_graph)
    assert updates and all(engine_graph.nodes[[m.name for m in engine_graph.nodes].index(k)].kind == Kind.CONSTANT
                           for k in updates)
    for k, attrs in updates.items():
        assert str(attrs.weights.dtype) == "float16"


def test_refused_refit_names_the_layer_and_the_weights_it_changed():
    """A single-value weight of 1 lets the build drop ``x * scale`` (fusions and no-op removal see scalars); with
    another value the passes fuse the product into the sum instead, so the refit is refused, the engine unchanged,
    and the error names the layer, how it would be built, and the weights the refit set."""
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    n = builder.create_network(0)
    x = n.add_input("x", trt.float32, (2, 4))
    arrays = {"scale": np.ones((1, 1), np.float32), "bias": np.arange(4, dtype=np.float32).reshape(1, 4)}
    consts = {}
    for name, arr in arrays.items():
        layer = n.add_constant(arr.shape, arr)
        layer.name = name
        assert n.set_weights_name(arr, name)
        consts[name] = layer.get_output(0)
    y = n.add_elementwise(x, consts["scale"], trt.ElementWiseOperation.PROD)
    y.name = "mul"
    y = n.add_elementwise(y.get_output(0), consts["bias"], trt.ElementWiseOperation.SUM)
    y.name = "add"
    n.mark_output(y.get_output(0))
    config = builder.create_builder_config()
    config.device = "cpu"
    config.set_flag(trt.BuilderFlag.REFIT)
    log = Log()
    engine = load(bytes(builder.build_serialized_network(n, config)), log)
    refitter = trt.Refitter(engine, log)
    assert refitter.set_named_weights("scale", np.full((1, 1), 2.0, np.float32))
    assert not refitter.refit_cuda_engine()
    (msg,) = log.errors
    assert "refit_cuda_engine failed, the engine is unchanged: layer 'add'" in msg, msg
    assert "it would be pointwise" in msg and "not elementwise" in msg, msg   # x * 2 + bias, one fused layer
    assert "(weights changed by this refit: scale)" in msg, msg
    np.testing.assert_array_equal(engine.create_execution_context().infer(
        {"x": np.ones((2, 4), np.float32)})[engine.output_names[0]], 1 + arrays["bias"].repeat(2, 0))


def test_plans_written_again_carry_the_engines_gpu_kernels():
    """A GPU plan's kernel entries name blobs by index; a plan written again from the engine (a stripped plan, or a
    refitted engine's plan) numbers its blobs anew, so the entries must be written again with their files (they
    named weight tensors: the engine cache's stripped GPU entries were refused as corrupt, and every hit rebuilt).
    On the CPU the engine is given the entries a CUDA engine keeps at load (kernel_store.entries_of)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "tactics"))
    from kernel_tools import CUBIN, Blobs, entry

    from inferrt.plan.format import read_plan
    from inferrt.tactics import kernel_store

    items = []
    entries = [entry(items), entry(items, cubin=CUBIN + b"2")]
    checked = kernel_store.validate(entries, Blobs(items), 64 << 20)
    engine = load(build(weights(0), "cpu", [trt.BuilderFlag.REFIT]))
    engine.kernel_entries = kernel_store.entries_of(checked)
    config = engine.create_serialization_config()
    config.set_flag(trt.SerializationFlag.EXCLUDE_WEIGHTS)
    stripped = bytes(engine.serialize_with_config(config))
    refitter = trt.Refitter(engine, trt.Logger(trt.Logger.ERROR))
    for name, arr in weights(1).items():
        assert refitter.set_named_weights(name, arr)
    assert refitter.refit_cuda_engine()
    for plan in (stripped, bytes(engine.serialize())):
        manifest, blobs = read_plan(plan)
        assert kernel_store.validate(manifest["kernels"], blobs, len(plan)) == checked
