"""Device placement on real GPUs: a plan built on one GPU runs on another of its kind, each engine's weights,
activation memory, streams and CUDA graphs stay on its GPU whatever the calling thread's current device, and engines
of one plan on different GPUs run concurrently with the results of one GPU. ``gpu``: one GPU is enough;
``multigpu``: needs two of one kind (skipped otherwise). The simulated-host versions: test_device_placement.py."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import inferrt as trt
from inferrt.errors import BindingError
from tests.helpers import assert_close
from tests.runtime.rt_tools import ListLogger, build_plan, inputs, reference

GPUS = torch.cuda.device_count() if torch.cuda.is_available() else 0
multigpu = [pytest.mark.gpu, pytest.mark.multigpu,
            pytest.mark.skipif(GPUS < 2, reason="needs two CUDA GPUs of one kind")]


def _same_kind(a: int, b: int) -> bool:
    return (torch.cuda.get_device_name(a), torch.cuda.get_device_capability(a)) == \
        (torch.cuda.get_device_name(b), torch.cuda.get_device_capability(b))


def _placed(load, gpus=(0, 1)):
    """``load()``'s result and the bytes it left allocated on each GPU of ``gpus`` (PyTorch's allocator)."""
    import gc

    gc.collect()
    before = [torch.cuda.memory_allocated(g) for g in gpus]
    out = load()
    return out, {g: torch.cuda.memory_allocated(g) - b for g, b in zip(gpus, before)}


def _mnist_plan(device: str, max_batch: int = 64, config_fn=None) -> bytes:
    from inferrt.models.mnist import build_mnist_network

    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    config = builder.create_builder_config()
    config.device = device
    config.clear_flag(trt.BuilderFlag.TF32)
    prof = builder.create_optimization_profile()
    prof.set_shape("x", (1, 1, 28, 28), (max_batch, 1, 28, 28), (max_batch, 1, 28, 28))
    config.add_optimization_profile(prof)
    if config_fn:
        config_fn(config)
    return bytes(builder.build(build_mnist_network(builder.create_network(0)), config))


# ------------------------------------------------------------------------------------------------ one GPU
@pytest.mark.gpu
def test_device_argument_and_current_gpu():
    plan = build_plan("cuda:0")
    for engine in (trt.load_engine(plan, device=0), trt.load_engine(plan, device="cuda:0"),
                   trt.Runtime(trt.Logger(trt.Logger.ERROR)).deserialize_cuda_engine(plan)):
        assert engine.device == torch.device("cuda", 0)
        x, s = inputs(3)
        assert_close(engine.create_execution_context().infer(x=x, s=s)["y"], reference(x, s), np.float32)


@pytest.mark.gpu
def test_device_index_beyond_the_host_is_refused():
    with pytest.raises(trt.PlanError, match=rf"device={GPUS}: there (is|are) {GPUS} CUDA device\(s\)"):
        trt.load_engine(build_plan("cuda"), device=GPUS)


# ------------------------------------------------------------------------------------------------ two GPUs
def _multigpu(fn):
    for m in multigpu:
        fn = m(fn)
    return fn


def _require_same_kind():
    if not _same_kind(0, 1):
        pytest.skip("GPUs 0 and 1 are of different kinds")


@_multigpu
@pytest.mark.parametrize("how", ["device_argument", "current_device"])
def test_build_on_gpu0_load_on_gpu1(how):
    _require_same_kind()
    plan = build_plan("cuda:0")
    e0 = trt.load_engine(plan, device=0)

    def load():
        if how == "device_argument":
            return trt.load_engine(plan, device=1)
        with torch.cuda.device(1):   # TensorRT: the engine belongs to the device current at deserialization
            return trt.Runtime(trt.Logger(trt.Logger.ERROR)).deserialize_cuda_engine(plan)

    e1, grew = _placed(load)
    assert torch.cuda.current_device() == 0
    assert e1.device == torch.device("cuda", 1)
    assert grew[1] > 0 and grew[0] <= 0, grew        # its weights are on GPU 1, nothing new on GPU 0
    ctx1, grew = _placed(e1.create_execution_context)
    assert ctx1._arena.device == torch.device("cuda", 1) and grew[0] <= 0, grew
    x, s = inputs(5, seed=3)
    y0 = e0.create_execution_context().infer(x=x, s=s)["y"]
    y1 = ctx1.infer(x=x, s=s)["y"]
    assert_close(y1, reference(x, s), np.float32)
    np.testing.assert_array_equal(y1, y0)   # one kind of GPU, one plan: the same kernels, the same results


@_multigpu
def test_engine_on_gpu1_from_a_thread_whose_current_gpu_is_0():
    """Tensors on GPU 0 in, outputs on GPU 1; the CUDA graph is captured on GPU 1; the current device is left at 0."""
    _require_same_kind()
    engine = trt.load_engine(build_plan("cuda:0"), device=1)
    ctx = engine.create_execution_context()
    x, s = inputs(4, seed=5)
    tx, ts = torch.from_numpy(x).to("cuda:0"), torch.from_numpy(s).to("cuda:0")
    for _ in range(4):   # warm-up, capture, replays
        out = ctx.infer(x=tx, s=ts)["y"]
        assert out.device == torch.device("cuda", 1)
        assert_close(out.cpu().numpy(), reference(x, s), np.float32)
    assert torch.cuda.current_device() == 0
    assert ctx._graphs is not None and ctx._graphs.captures == 1 and ctx._graphs.device.index == 1


@_multigpu
def test_raw_addresses_and_stream_of_gpu1():
    _require_same_kind()
    engine = trt.load_engine(build_plan("cuda:0"), device=1)
    ctx = engine.create_execution_context()
    x, s = inputs(4, seed=6)
    dx, ds = torch.from_numpy(x).to("cuda:1"), torch.from_numpy(s).to("cuda:1")
    dy = torch.empty((4, 4), device="cuda:1")
    stream = torch.cuda.Stream(device=1)
    logger = ListLogger()
    engine.logger = ctx.logger = logger
    on_gpu0 = torch.empty((4, 8), device="cuda:0")
    assert ctx.set_tensor_address("x", on_gpu0.data_ptr()) is False     # a kernel on GPU 1 would fault on it
    assert "is memory of GPU 0 but the engine runs on GPU 1" in logger.errors()[-1]
    for name, t in (("x", dx), ("s", ds), ("y", dy)):
        assert ctx.set_tensor_address(name, t.data_ptr())
    assert ctx.set_input_shape("x", (4, 8)) and ctx.set_input_shape("s", (4, 4))
    for _ in range(3):
        assert ctx.execute_async_v3(stream.cuda_stream)
    stream.synchronize()
    assert_close(dy.cpu().numpy(), reference(x, s), np.float32)
    with pytest.raises(BindingError, match=r"stream of cuda:0 but the engine runs on cuda:1"):
        ctx.infer(x=x, s=s, stream=torch.cuda.Stream(device=0))


@_multigpu
def test_timing_cache_of_one_gpu_serves_another_of_its_kind():
    """Timing cache entries are keyed by the GPU's kind, not its index: a build on GPU 0 with the cache GPU 1 filled
    needs no timing (ERROR_ON_TIMING_CACHE_MISS would fail it otherwise)."""
    _require_same_kind()
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    cache = builder.create_builder_config().create_timing_cache(b"")

    def with_cache(config, strict=False):
        config.set_timing_cache(cache, ignore_mismatch=False)
        if strict:
            config.set_flag(trt.BuilderFlag.ERROR_ON_TIMING_CACHE_MISS)

    _mnist_plan("cuda:1", config_fn=with_cache)
    if len(cache) == 0:
        pytest.skip("no layer of the network had several tactics to time on this GPU")
    plan = _mnist_plan("cuda:0", config_fn=lambda c: with_cache(c, strict=True))
    assert trt.load_engine(plan, device=0).device.index == 0


@_multigpu
def test_concurrent_gpus_match_one_gpu():
    """One plan, one engine per GPU, each driven by its own thread on its own stream at the same time: every
    result equals the one GPU 0 gives alone."""
    _require_same_kind()
    plan = _mnist_plan("cuda:0")
    rng = np.random.default_rng(11)
    batches = [rng.standard_normal((64, 1, 28, 28)).astype(np.float32) for _ in range(12)]
    alone = trt.load_engine(plan, device=0).create_execution_context()
    expected = [alone.infer(x=b)["prob"] for b in batches]
    engines = [trt.load_engine(plan, device=i) for i in (0, 1)]
    results: dict = {}
    errors: list = []
    start = threading.Barrier(2)

    def drive(i):
        try:
            ctx = engines[i].create_execution_context()
            stream = torch.cuda.Stream(device=i)
            feeds = [torch.from_numpy(b).to(f"cuda:{i}") for b in batches]
            start.wait()
            outs = []
            for _ in range(5):   # warm-up, capture, then replays, overlapping with the other GPU's
                outs = [ctx.infer(x=f, stream=stream)["prob"] for f in feeds]   # fresh tensors, made on `stream`
            stream.synchronize()
            results[i] = [o.cpu().numpy() for o in outs]
        except BaseException as e:  # noqa: BLE001 - reported on the test's thread
            errors.append(e)
            start.abort()

    threads = [threading.Thread(target=drive, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for i in (0, 1):
        for got, want in zip(results[i], expected):
            np.testing.assert_array_equal(got, want)
