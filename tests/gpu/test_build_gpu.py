"""GPU build: timing-cache replay is byte-identical; a loaded plan's first inference compiles no Triton kernel."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import inferrt as trt

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.gpu


class _Capture(trt.ILogger):
    def __init__(self):
        self.lines = []

    def log(self, severity, msg):
        self.lines.append(msg)


class _PreferTriton(trt.IAlgorithmSelector):
    """Keep only the tactics that run generated Triton kernels, where a layer has one."""

    def select_algorithms(self, name, choices):
        return [c for c in choices if c in ("triton_pointwise", "cudnn_conv_epilogue", "cublas_matmul_epilogue")]

    def report_algorithms(self, names, choices):
        pass


def _build(cache_bytes=b"", fp16=True, selector=None):
    from inferrt.models.mnist import build_mnist_network

    logger = _Capture()
    builder = trt.Builder(logger)
    network = build_mnist_network(builder.create_network(0))
    config = builder.create_builder_config()
    config.device = "cuda"
    config.clear_flag(trt.BuilderFlag.TF32)  # IEEE float32, so comparisons with the reference can be tight
    if selector is not None:
        config.algorithm_selector = selector
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, False)
    prof = builder.create_optimization_profile()
    prof.set_shape("x", (1, 1, 28, 28), (16, 1, 28, 28), (32, 1, 28, 28))
    config.add_optimization_profile(prof)
    plan = builder.build(network, config)
    return bytes(plan), config.get_timing_cache().serialize(), logger.lines


def test_timing_cache_replay_gives_identical_plan():
    plan1, cache, log1 = _build()
    assert any("layers timed" in line for line in log1)
    plan2, cache2, log2 = _build(cache)
    assert plan1 == plan2
    timed = [line for line in log2 if "layers timed" in line]
    assert timed and timed[0].startswith("tactic selection: 0 layers timed"), timed
    assert trt.ITimingCache.deserialize(cache2).queryKeys() == trt.ITimingCache.deserialize(cache).queryKeys()


def test_fast_tactics_chosen_and_correct():
    plan, _, _ = _build(fp16=False)
    engine = trt.load_engine(plan)
    tactics = {n.info.tactic for n in engine.graph.nodes if n.kind != "constant"}
    assert tactics - {"generic"}, f"only generic tactics were chosen: {tactics}"
    x = np.random.default_rng(1).standard_normal((16, 1, 28, 28)).astype(np.float32)
    got = engine.create_execution_context().infer({"x": x})["prob"]
    from inferrt.models.mnist import build_mnist_network

    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    ref_engine = trt.build_engine(build_mnist_network(builder.create_network(0)), device="cpu",
                                  profiles={"x": [(1, 1, 28, 28), (16, 1, 28, 28), (32, 1, 28, 28)]})
    ref = ref_engine.create_execution_context().infer({"x": x})["prob"]
    np.testing.assert_allclose(got, ref, rtol=5e-3, atol=1e-4)


def test_first_inference_after_load_compiles_nothing(tmp_path):
    plan, _, _ = _build(fp16=False, selector=_PreferTriton())
    from inferrt.plan.format import read_plan

    assert read_plan(plan)[0]["kernels"], "the plan carries no compiled kernels"
    path = tmp_path / "m.plan"
    path.write_bytes(plan)
    cache_dir = tmp_path / "triton_cache"
    script = textwrap.dedent(f"""
        import os, time, numpy as np
        import triton
        from triton import knobs
        compiled = []
        knobs.compilation.listener = lambda **kw: None if kw.get("cache_hit") else compiled.append(kw.get("src"))
        import inferrt
        t0 = time.perf_counter()
        engine = inferrt.load_engine({str(path)!r})
        out = engine.create_execution_context().infer({{"x": np.ones((16, 1, 28, 28), np.float32)}})
        assert np.isfinite(out["prob"]).all()
        print("SECONDS", time.perf_counter() - t0)
        print("COMPILED", len(compiled), [getattr(getattr(c, "fn", None), "__name__", str(c))[:60] for c in compiled])
        print("ENTRIES", len(os.listdir({str(cache_dir)!r})) if os.path.isdir({str(cache_dir)!r}) else 0)
    """)
    env = dict(os.environ, TRITON_CACHE_DIR=str(cache_dir), INFERRT_CACHE=str(tmp_path / "irt"))
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in res.stdout.splitlines() if " " in line)
    assert int(lines["ENTRIES"]) > 0
    assert int(lines["COMPILED"].split()[0]) == 0, res.stdout
    print(res.stdout)


@pytest.mark.parametrize("tf32", [True, False])
def test_tf32_flag_sets_float32_product_precision(tf32):
    """BuilderFlag.TF32 (on by default) lets FLOAT matrix products use TF32; cleared, they run in IEEE float32.
    The process-wide PyTorch switches are restored after each execution."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((1024, 256)).astype(np.float32)
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, (64, 1024))
    mm = net.add_matrix_multiply(x, trt.MatrixOperation.NONE, net.add_constant(w.shape, w).get_output(0),
                                 trt.MatrixOperation.NONE)
    mm.get_output(0).name = "y"
    net.mark_output(mm.get_output(0))
    config = builder.create_builder_config()
    config.device = "cuda"
    if not tf32:
        config.clear_flag(trt.BuilderFlag.TF32)
    engine = trt.Runtime(builder.logger).deserialize_cuda_engine(builder.build(net, config))
    assert engine.tf32 == tf32
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    xv = rng.standard_normal((64, 1024)).astype(np.float32)
    got = engine.create_execution_context().infer({"x": xv})["y"].astype(np.float64)
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before
    ref = xv.astype(np.float64) @ w.astype(np.float64)
    err = np.abs(got - ref).max() / np.abs(ref).max()
    if tf32:
        assert 1e-5 < err < 1e-2, err   # TF32 keeps 10 mantissa bits
    else:
        assert err < 1e-5, err
