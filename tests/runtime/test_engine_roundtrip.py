"""Engine round trip, concurrency, device memory, and the Pythonic ``context.infer`` inputs."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from helpers import assert_close
from rt_tools import build_engine, build_plan, inputs, reference

import inferrt as trt


def test_build_serialize_deserialize_gives_identical_outputs(device):
    plan = build_plan(device)
    engine = trt.Runtime(trt.Logger(trt.Logger.ERROR)).deserialize_cuda_engine(plan)
    again = trt.Runtime(trt.Logger(trt.Logger.ERROR)).deserialize_cuda_engine(engine.serialize())
    assert bytes(engine.serialize()) == bytes(plan)
    assert isinstance(engine.serialize(), trt.IHostMemory) and engine.serialize().nbytes == len(plan)
    x, s = inputs(3)
    a = engine.create_execution_context().infer(x=x, s=s)["y"]
    b = again.create_execution_context().infer(x=x, s=s)["y"]
    np.testing.assert_array_equal(a, b)
    assert_close(a, reference(x, s))


def test_building_twice_gives_the_same_plan():
    assert bytes(build_plan("cpu")) == bytes(build_plan("cpu"))


def test_engine_io_metadata():
    engine = build_engine("cpu")
    assert engine.num_io_tensors == 3
    assert [engine.get_tensor_name(i) for i in range(3)] == ["x", "s", "y"]
    assert engine.get_tensor_mode("x") == trt.TensorIOMode.INPUT
    assert engine.get_tensor_mode("y") == trt.TensorIOMode.OUTPUT
    assert engine.get_tensor_mode("nope") == trt.TensorIOMode.NONE
    assert tuple(engine.get_tensor_shape("x")) == (-1, 8)
    assert tuple(engine.get_tensor_shape("y")) == (-1, 4)
    assert engine.get_tensor_dtype("y") == trt.float32
    assert [tuple(d) for d in engine.get_tensor_profile_shape("x", 0)] == [(1, 8), (4, 8), (16, 8)]
    assert engine.num_optimization_profiles == 1
    assert 1 <= engine.num_layers <= 5   # fusion may merge layers
    with pytest.raises(IndexError):
        engine.get_tensor_name(3)


def test_two_contexts_in_two_threads_match_one(device):
    engine = build_engine(device)
    feeds = [inputs(1 + i % 7, seed=i) for i in range(40)]
    single = engine.create_execution_context()
    expected = [single.infer(x=x, s=s)["y"] for x, s in feeds]
    errors, results = [], {0: [], 1: []}

    def work(k):
        ctx = engine.create_execution_context()
        try:
            for _ in range(5):
                results[k].append([ctx.infer(x=x, s=s)["y"] for x, s in feeds])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a context thread hung"
    assert not errors, errors
    for k in (0, 1):
        assert len(results[k]) == 5
        for run in results[k]:
            for got, want in zip(run, expected):
                np.testing.assert_array_equal(got, want)


def test_device_memory_size_is_what_a_context_allocates(device):
    engine = build_engine(device)
    size = engine.device_memory_size
    assert size > 0
    assert engine.get_device_memory_size_for_profile(0) == size
    ctx = engine.create_execution_context()
    assert ctx.device_memory != 0
    assert ctx._arena.numel() == size  # the activation arena, allocated once at creation
    # running at the profile's largest shape needs no more memory than that
    x, s = inputs(16)
    ctx.infer(x=x, s=s)
    assert ctx._arena.numel() == size and ctx.update_device_memory_size_for_shapes() <= size


def test_device_memory_size_covers_every_profile():
    engine = build_engine("cpu", profiles=((1, 2, 4), (8, 32, 64)))
    sizes = [engine.get_device_memory_size_for_profile(i) for i in range(2)]
    assert sizes[1] > sizes[0] > 0 and engine.device_memory_size == max(sizes)


def test_infer_accepts_numpy_torch_and_dlpack(device):
    engine = build_engine(device)
    ctx = engine.create_execution_context()
    x, s = inputs(5)
    want = reference(x, s)
    out_np = ctx.infer({"x": x, "s": s})["y"]
    assert isinstance(out_np, np.ndarray)
    assert_close(out_np, want)
    out_t = ctx.infer(x=torch.from_numpy(x), s=torch.from_numpy(s))["y"]
    assert isinstance(out_t, torch.Tensor) and out_t.device.type == device
    assert_close(out_t.cpu().numpy(), want)

    class DLPackOnly:  # an array from another framework: only the DLPack protocol
        def __init__(self, a):
            self._t = torch.from_numpy(a)

        def __dlpack__(self, **kw):
            return self._t.__dlpack__(**kw)

        def __dlpack_device__(self):
            return self._t.__dlpack_device__()

    out_d = ctx.infer(x=DLPackOnly(x), s=DLPackOnly(s))["y"]
    assert_close(np.asarray(out_d.cpu() if isinstance(out_d, torch.Tensor) else out_d), want)
    assert_close(ctx.infer([x, s])["y"], want)                      # positional, in input order
    assert_close(ctx.infer(x=x.astype(np.float64), s=s)["y"], want)  # float64 is converted for FLOAT inputs


def test_infer_errors_name_the_tensor():
    ctx = build_engine("cpu").create_execution_context()
    x, s = inputs(2)
    with pytest.raises(trt.BindingError, match="missing input.*'s'"):
        ctx.infer(x=x)
    with pytest.raises(trt.BindingError, match="unknown input.*'z'"):
        ctx.infer(x=x, s=s, z=s)
    with pytest.raises(trt.BindingError, match="'x'.*int32"):
        ctx.infer(x=x.astype(np.int32), s=s)
    with pytest.raises(trt.ShapeError, match="'s'.*dimension 1"):
        ctx.infer(x=x, s=np.zeros((2, 5), np.float32))
    with pytest.raises(trt.ShapeError, match="'x'.*rank"):
        ctx.infer(x=x[0], s=s)
    with pytest.raises(trt.BindingError, match="'x'"):
        ctx.infer(x=object(), s=s)
