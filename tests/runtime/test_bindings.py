"""TensorRT-style execution with raw addresses: set_tensor_address + execute_async_v3, execute_v2 bindings, missing
addresses and shapes, and contexts that run in memory the user gives them."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close
from rt_tools import Buffer, ListLogger, build_engine, inputs, reference

import inferrt as trt


def _bind(ctx, device, n, seed=0):
    x, s = inputs(n, seed)
    bufs = {"x": Buffer(device, x), "s": Buffer(device, s), "y": Buffer(device, shape=(n, 4))}
    ctx.set_input_shape("x", (n, 8))
    ctx.set_input_shape("s", (n, 4))
    for name, b in bufs.items():
        assert ctx.set_tensor_address(name, b.ptr)
        assert ctx.get_tensor_address(name) == b.ptr
    return x, s, bufs


def test_set_tensor_address_and_execute_async_v3(device):
    ctx = build_engine(device).create_execution_context()
    for n in (2, 5, 5, 16):   # rebinding new buffers and shapes between runs
        x, s, bufs = _bind(ctx, device, n, seed=n)
        assert ctx.execute_async_v3(0)
        assert_close(bufs["y"].numpy(), reference(x, s))


@pytest.mark.gpu
def test_execute_async_v3_on_a_user_stream():
    import torch

    ctx = build_engine("cuda").create_execution_context()
    x, s, bufs = _bind(ctx, "cuda", 6)
    stream = torch.cuda.Stream()
    assert ctx.execute_async_v3(stream.cuda_stream)
    stream.synchronize()
    assert_close(bufs["y"].numpy(), reference(x, s))


def test_execute_v2_with_host_pointers():
    ctx = build_engine("cpu").create_execution_context()
    x, s = inputs(3)
    y = np.zeros((3, 4), np.float32)
    ctx.set_input_shape("x", x.shape)
    ctx.set_input_shape("s", s.shape)
    assert ctx.execute_v2([x.ctypes.data, s.ctypes.data, y.ctypes.data])
    assert_close(y, reference(x, s))


def test_execute_v2_with_wrong_number_of_bindings():
    logger = ListLogger()
    ctx = build_engine("cpu", runtime_logger=logger).create_execution_context()
    ctx.set_input_shape("x", (1, 8))
    ctx.set_input_shape("s", (1, 4))
    assert ctx.execute_v2([0, 0]) is False
    assert "3 bindings" in logger.errors()[-1] and "'y'" in logger.errors()[-1]


def test_missing_address_is_an_error_naming_the_tensor(device):
    logger = ListLogger()
    ctx = build_engine(device, runtime_logger=logger).create_execution_context()
    x, s, bufs = _bind(ctx, device, 2)
    assert ctx.set_tensor_address("y", 0)
    assert ctx.execute_async_v3(0) is False
    assert "'y'" in logger.errors()[-1] and "set_tensor_address" in logger.errors()[-1]


def test_missing_shape_is_an_error_naming_the_input():
    logger = ListLogger()
    ctx = build_engine("cpu", runtime_logger=logger).create_execution_context()
    x, s = inputs(2)
    y = np.zeros((2, 4), np.float32)
    ctx.set_input_shape("x", (2, 8))
    for name, a in (("x", x), ("s", s), ("y", y)):
        ctx.set_tensor_address(name, a.ctypes.data)
    assert not ctx.all_binding_shapes_specified and ctx.infer_shapes() == ["s"]
    assert ctx.execute_async_v3(0) is False
    assert "'s'" in logger.errors()[-1] and "set_input_shape" in logger.errors()[-1]


def test_set_tensor_address_of_an_unknown_tensor():
    logger = ListLogger()
    ctx = build_engine("cpu", runtime_logger=logger).create_execution_context()
    assert ctx.set_tensor_address("nope", 1234) is False
    assert "'nope'" in logger.errors()[-1]


def test_context_in_user_memory(device):
    import torch

    engine = build_engine(device)
    ctx = engine.create_execution_context_without_device_memory()
    assert ctx.device_memory == 0
    x, s, bufs = _bind(ctx, device, 4)
    with pytest.raises(trt.BindingError, match="device memory"):   # running without memory is an error
        ctx.infer(x=x, s=s)
    memory = torch.zeros(engine.device_memory_size, dtype=torch.uint8, device=device)
    ctx.device_memory = memory.data_ptr()
    assert ctx.device_memory == memory.data_ptr()
    for n in (4, 16, 1):  # shapes up to the profile's max fit in device_memory_size bytes
        x, s, bufs = _bind(ctx, device, n, seed=n)
        assert ctx.execute_async_v3(0)
        assert_close(bufs["y"].numpy(), reference(x, s))
    # the activations live in the user's memory: a run writes into it, and poisoning it between runs is harmless
    memory.zero_()
    assert ctx.execute_async_v3(0)
    assert bool(memory.any())
    memory.fill_(255)
    assert ctx.execute_async_v3(0)
    assert_close(bufs["y"].numpy(), reference(x, s))


def test_user_memory_too_small_is_refused():
    import torch

    logger = ListLogger()
    engine = build_engine("cpu", runtime_logger=logger)
    ctx = engine.create_execution_context(trt.ExecutionContextAllocationStrategy.USER_MANAGED)
    small = torch.zeros(16, dtype=torch.uint8)
    ctx.set_device_memory(small.data_ptr(), 16)
    assert "16 bytes" in logger.errors()[-1] and str(engine.device_memory_size) in logger.errors()[-1]
    assert ctx.device_memory == 0


def test_context_whose_memory_cannot_be_allocated(monkeypatch):
    logger = ListLogger()
    engine = build_engine("cpu", runtime_logger=logger)
    rec = trt.IErrorRecorder()
    engine.error_recorder = rec
    monkeypatch.setattr(type(engine), "device_memory_size", property(lambda self: 1 << 62))
    assert engine.create_execution_context() is None
    msg = logger.errors()[-1]
    assert "cannot create an execution context" in msg and str(1 << 62) in msg
    assert rec.get_error_code(0) == trt.ErrorCode.FAILED_ALLOCATION
    # without device memory it can still be created (the user brings memory)
    assert engine.create_execution_context_without_device_memory() is not None
