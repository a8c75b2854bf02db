"""GPU: the Triton tactics take their block size and warps from the tuning point (every point matches the generic
implementation), the autotuner times every point, and a GPU build records the chosen points in the plan, the
timing cache and the inspector."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.gpu

import inferrt as trt  # noqa: E402
from inferrt.dtypes import from_torch_dtype  # noqa: E402
from inferrt.ir.graph import Node  # noqa: E402
from inferrt.ops import Spec, get_op  # noqa: E402
from inferrt.ops.base import Attrs  # noqa: E402
from inferrt.tactics import autotune  # noqa: E402
from inferrt.tactics.registry import get_tactic  # noqa: E402
from inferrt.tactics.triton_codegen import POINTWISE_SPACE  # noqa: E402

TRITON = ("triton_pointwise", "cudnn_conv_epilogue", "cublas_matmul_epilogue")
ALL_POINTS = POINTWISE_SPACE.points()
GELU_ADD = [["input", 0], ["input", 1], ["act", "GELU_ERF", 0.0, 0.0, 0], ["binary", "SUM", 2, 1]]


def _spec(t):
    return Spec(from_torch_dtype(t.dtype), tuple(t.shape))


def _pointwise(shapes, dtype=torch.float32, nhwc=False):
    xs = [torch.randn(s, device="cuda").to(dtype) for s in shapes]
    if nhwc:
        xs = [x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x for x in xs]
    node = Node("pw", "pointwise", ["i0", "i1"], ["o"], Attrs(program=GELU_ADD))
    specs = {"i0": _spec(xs[0]), "i1": _spec(xs[1])}
    (specs["o"],) = get_op("pointwise").infer(node.attrs, [specs["i0"], specs["i1"]])
    out = torch.full(specs["o"].shape, float("nan"), device="cuda", dtype=dtype)
    if nhwc:
        out = out.contiguous(memory_format=torch.channels_last)
    return node, specs, xs, out


@pytest.mark.parametrize("point", ALL_POINTS, ids=lambda p: f"B{p['BLOCK']}w{p['num_warps']}")
@pytest.mark.parametrize("shapes,nhwc", [(((3, 1000), (1000,)), False), (((5, 4099), (5, 4099)), False),
                                         (((4, 8, 16, 16), (1, 8, 1, 1)), True)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_triton_pointwise_at_every_point_matches_generic(point, shapes, nhwc, dtype):
    node, specs, xs, out = _pointwise(shapes, dtype, nhwc)
    run = get_tactic("triton_pointwise").prepare(node, torch.device("cuda"), point)
    (launcher,) = run.launchers
    assert (launcher.block, launcher.num_warps) == (point["BLOCK"], point["num_warps"])
    run(xs, [out])
    torch.cuda.synchronize()
    ref = get_op("pointwise").run(node.attrs, [x.double() for x in xs], [None])[0]
    tol = 1e-5 if dtype == torch.float32 else 2e-3
    torch.testing.assert_close(out.double(), ref.to(torch.float64), rtol=tol, atol=tol)
    compiled = launcher.compiled_kernels()
    assert compiled and all(c.metadata.num_warps == point["num_warps"] for c in compiled)


def test_the_node_point_is_used_when_none_is_passed():
    node, specs, xs, out = _pointwise(((3, 1000), (1000,)))
    node.info.tactic_point = {"BLOCK": 512, "num_warps": 8}
    (launcher,) = get_tactic("triton_pointwise").prepare(node, torch.device("cuda")).launchers
    assert (launcher.block, launcher.num_warps) == (512, 8)


@pytest.mark.parametrize("point", [{"BLOCK": 512, "num_warps": 8}, {"BLOCK": 2048, "num_warps": 4}])
def test_conv_epilogue_at_a_point_matches_generic(point):
    x = torch.randn(2, 8, 14, 14, device="cuda")
    w = torch.randn(16, 8, 3, 3, device="cuda") * 0.2
    b = torch.randn(16, device="cuda")
    r = torch.randn(2, 16, 14, 14, device="cuda")
    op = get_op("fused_conv")
    attrs = op.default_attrs()
    attrs.update(num_output_maps=16, kernel_size_nd=(3, 3), pre_padding=(1, 1), post_padding=(1, 1),
                 epilogue=[["add", 3], ["act", "RELU", 0.0, 0.0]])
    node = Node("c", "fused_conv", ["x", "w", "b", "r"], ["o"], attrs)
    specs = {n: _spec(t) for n, t in zip(["x", "w", "b", "r"], [x, w, b, r])}
    (specs["o"],) = op.infer(attrs, [specs[n] for n in ["x", "w", "b", "r"]])
    tactic = get_tactic("cudnn_conv_epilogue")
    assert point in tactic.space.points(node, specs)
    out = torch.full(specs["o"].shape, float("nan"), device="cuda")
    run = tactic.prepare(node, torch.device("cuda"), point)
    assert (run.launchers[0].block, run.launchers[0].num_warps) == (point["BLOCK"], point["num_warps"])
    with _no_tf32():
        run([x, w, b, r], [out])
    ref = op.run(attrs, [t.double() for t in (x, w, b, r)], [None])[0]
    torch.testing.assert_close(out.double(), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("epilogue", [[["act", "GELU_ERF", 0.0, 0.0]], []])
def test_matmul_epilogue_points(epilogue):
    x = torch.randn(2, 64, 96, device="cuda")
    w = torch.randn(96, 128, device="cuda") * 0.1
    b = torch.randn(1, 1, 128, device="cuda")
    op = get_op("fused_matmul")
    attrs = op.default_attrs()
    attrs.update(epilogue=epilogue)
    node = Node("m", "fused_matmul", ["x", "w", "b"], ["o"], attrs)
    specs = {"x": _spec(x), "w": _spec(w), "b": _spec(b)}
    (specs["o"],) = op.infer(attrs, [specs["x"], specs["w"], specs["b"]])
    tactic = get_tactic("cublas_matmul_epilogue")
    points = tactic.space.points(node, specs)
    if not epilogue:  # no kernel of inferrt's runs: nothing to tune
        assert points == [POINTWISE_SPACE.default]
        return
    assert len(points) == POINTWISE_SPACE.size
    ref = op.run(attrs, [t.double() for t in (x, w, b)], [None])[0]
    for point in points:
        out = torch.full(specs["o"].shape, float("nan"), device="cuda")
        run = tactic.prepare(node, torch.device("cuda"), point)
        assert run.launchers[0].block == point["BLOCK"]
        with _no_tf32():
            res = run([x, w, b], [out])
        assert res is None
        torch.testing.assert_close(out.double(), ref, rtol=1e-4, atol=1e-4)


class _no_tf32:
    """IEEE float32 products and convolutions, so the comparison with float64 can be tight."""

    def __enter__(self):
        self.saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False

    def __exit__(self, *exc):
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = self.saved


def test_autotuner_times_every_point():
    node, specs, _, _ = _pointwise(((64, 4096), (64, 4096)))
    tactic = get_tactic("triton_pointwise")
    choices = [(tactic, p) for p in tactic.space.points(node, specs)]
    assert len(choices) == POINTWISE_SPACE.size
    config = trt.Builder(trt.Logger(trt.Logger.ERROR)).create_builder_config()
    log = []
    results = autotune.time_candidates(node, specs, choices, config, lambda s, m: log.append(m))
    assert [p for _, p, _ in results] == [p for _, p in choices], log
    assert all(name == "triton_pointwise" and 0 < ms < float("inf") for name, _, ms in results)


class _PreferTriton(trt.IAlgorithmSelector):
    def select_algorithms(self, name, choices):
        return [c for c in choices if c in TRITON]

    def report_algorithms(self, names, choices):
        pass


def _build_mnist(level, cache_bytes=b""):
    from inferrt.models.mnist import build_mnist_network

    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    network = build_mnist_network(builder.create_network(0))
    config = builder.create_builder_config()
    config.device = "cuda"
    config.builder_optimization_level = level
    config.clear_flag(trt.BuilderFlag.TF32)
    config.algorithm_selector = _PreferTriton()
    config.set_timing_cache(config.create_timing_cache(cache_bytes), False)
    prof = builder.create_optimization_profile()
    prof.set_shape("x", (1, 1, 28, 28), (16, 1, 28, 28), (32, 1, 28, 28))
    config.add_optimization_profile(prof)
    plan = bytes(builder.build(network, config))
    return plan, config.get_timing_cache().serialize()


def test_gpu_build_records_the_chosen_points():
    plan, cache = _build_mnist(3)
    engine = trt.load_engine(plan)
    tuned = [n for n in engine.graph.nodes if n.info.tactic in TRITON]
    assert tuned, [n.info.tactic for n in engine.graph.nodes]
    for n in tuned:
        assert POINTWISE_SPACE.check(n.info.tactic_point) is None, (n.name, n.info.tactic_point)
    entries = [e for e in trt.ITimingCache.deserialize(cache)._entries.values() if e["tactic"] in TRITON]
    assert entries and all(POINTWISE_SPACE.check(e["config"]) is None for e in entries)
    layers = json.loads(engine.create_engine_inspector().get_engine_information(trt.LayerInformationFormat.JSON))
    points = {d["Name"]: d["TacticPoint"] for d in layers["Layers"]}
    assert all(points[n.name] == n.info.tactic_point for n in tuned)
    x = np.random.default_rng(1).standard_normal((16, 1, 28, 28)).astype(np.float32)
    got = engine.create_execution_context().infer({"x": x})["prob"]
    from inferrt.models.mnist import build_mnist_network

    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    ref = trt.build_engine(build_mnist_network(builder.create_network(0)), device="cpu",
                           profiles={"x": [(1, 1, 28, 28), (16, 1, 28, 28), (32, 1, 28, 28)]})
    np.testing.assert_allclose(got, ref.create_execution_context().infer({"x": x})["prob"], rtol=5e-3, atol=1e-4)
    # a warm cache replays the same points without timing
    plan2, _ = _build_mnist(3, cache)
    assert plan2 == plan


def test_level_one_keeps_every_tactic_at_its_first_point():
    """Level 1 times one point per tactic: the default, or the smaller block where the output is too small for it."""
    engine = trt.load_engine(_build_mnist(1)[0])
    tuned = [n for n in engine.graph.nodes if n.info.tactic in TRITON]
    first = ({"BLOCK": 1024, "num_warps": 4}, {"BLOCK": 512, "num_warps": 4})
    assert tuned and all(n.info.tactic_point in first for n in tuned), [n.info.tactic_point for n in tuned]
