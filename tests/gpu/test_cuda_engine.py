"""GPU engine behaviour: CUDA graph replay across address changes, external streams, concurrent contexts, FP16."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import inferrt as trt

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.gpu


def _mnist_engine(fp16=False):
    from inferrt.models.mnist import build_mnist_network

    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    network = build_mnist_network(builder.create_network(0))
    config = builder.create_builder_config()
    config.device = "cuda"
    config.clear_flag(trt.BuilderFlag.TF32)  # IEEE float32, so comparisons with the reference can be tight
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    prof = builder.create_optimization_profile()
    prof.set_shape("x", (1, 1, 28, 28), (8, 1, 28, 28), (32, 1, 28, 28))
    config.add_optimization_profile(prof)
    plan = builder.build(network, config)
    return trt.Runtime(logger).deserialize_cuda_engine(plan)


def _cpu_reference(x):
    """The same network built and run on the CPU in float32 (an independent implementation path)."""
    from inferrt.models.mnist import build_mnist_network

    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    network = build_mnist_network(builder.create_network(0))
    return trt.build_engine(network, device="cpu",
                            profiles={"x": [(1, 1, 28, 28), (8, 1, 28, 28), (32, 1, 28, 28)]}) \
        .create_execution_context().infer({"x": x})["prob"]


def _run(ctx, x, out, stream):
    ctx.set_input_shape("x", tuple(x.shape))
    ctx.set_tensor_address("x", x.data_ptr())
    ctx.set_tensor_address("prob", out.data_ptr())
    assert ctx.execute_async_v3(stream.cuda_stream)
    stream.synchronize()
    return out


def test_cuda_graph_replay_correct_after_address_changes():
    """Graphs are keyed by shapes and bound addresses: A, A (capture), A (replay), B, B (capture), A (replay of
    A's graph), B with a new shape: every output must be right, with fresh inputs each time."""
    engine = _mnist_engine()
    ctx = engine.create_execution_context()
    stream = torch.cuda.Stream()
    bufs = {"A": (torch.empty(8, 1, 28, 28, device="cuda"), torch.empty(8, 10, device="cuda")),
            "B": (torch.empty(8, 1, 28, 28, device="cuda"), torch.empty(8, 10, device="cuda")),
            "C": (torch.empty(4, 1, 28, 28, device="cuda"), torch.empty(4, 10, device="cuda"))}
    for which in ["A", "A", "A", "B", "B", "A", "B", "C", "C", "C"]:
        x, out = bufs[which]
        x.copy_(torch.randn_like(x))
        out.fill_(float("nan"))
        _run(ctx, x, out, stream)
        ref = _cpu_reference(x.cpu().numpy())
        # TF32 convolutions (on by default, as in TensorRT) differ from the float64 reference by ~1e-3; a stale or
        # unwritten output (NaN-filled above, fresh inputs each call) would be off by far more
        np.testing.assert_allclose(out.cpu().numpy(), ref, rtol=1e-2, atol=1e-3, err_msg=which)
    assert ctx._graph_cache().captures >= 3


def test_execute_on_external_stream_handles():
    engine = _mnist_engine()
    ctx = engine.create_execution_context()
    x = torch.randn(8, 1, 28, 28, device="cuda")
    outs = []
    for _ in range(3):
        s = torch.cuda.Stream()
        out = torch.empty(8, 10, device="cuda")
        outs.append(_run(ctx, x, out, s).cpu())
    for o in outs[1:]:
        torch.testing.assert_close(o, outs[0])


def test_concurrent_contexts_on_different_streams():
    engine = _mnist_engine()
    x = torch.randn(16, 1, 28, 28, device="cuda")
    single = _run(engine.create_execution_context(), x, torch.empty(16, 10, device="cuda"),
                  torch.cuda.Stream()).cpu()
    results, errors = [], []

    def worker():
        try:
            ctx = engine.create_execution_context()
            s = torch.cuda.Stream()
            for _ in range(20):
                out = torch.empty(16, 10, device="cuda")
                results.append(_run(ctx, x, out, s).cpu())
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 60
    for r in results:
        torch.testing.assert_close(r, single)


def test_fp16_engine_keeps_float32_io_and_is_accurate():
    engine = _mnist_engine(fp16=True)
    assert engine.get_tensor_dtype("x") == trt.float32
    assert engine.get_tensor_dtype("prob") == trt.float32
    x = np.random.default_rng(0).standard_normal((8, 1, 28, 28)).astype(np.float32)
    got = engine.create_execution_context().infer({"x": x})["prob"]
    ref = _cpu_reference(x)
    assert np.linalg.norm(got - ref) / np.linalg.norm(ref) < 1e-2
    precisions = {n.info.precision for n in engine.graph.nodes if n.kind in ("convolution", "fused_conv")}
    assert precisions == {"HALF"}


def test_gpu_plan_refused_on_other_device_kind():
    engine = _mnist_engine()
    plan = bytes(engine.serialize())
    import json

    from inferrt.plan.format import read_plan, write_plan, BlobWriter

    manifest, blobs = read_plan(plan)
    manifest = dict(manifest, device={"kind": "cuda", "name": "Some Other GPU", "capability": "sm_75"})
    bw = BlobWriter()
    for i in range(len(blobs)):
        bw.add(blobs.get(i))
    manifest.pop("blobs")
    bad = write_plan(manifest, bw)
    with pytest.raises(trt.PlanError, match="Some Other GPU"):
        trt.load_engine(bad)
    json.dumps(manifest)
