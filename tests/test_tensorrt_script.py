"""Acceptance: a script written only against TensorRT's documented Python API runs unchanged on inferrt.

The script below imports ``tensorrt``; the test substitutes ``inferrt`` for that module, runs it, and checks its
outputs against a float64 numpy implementation of the same network. Memory management is handed to the script the
way TensorRT samples do it with cuda-python/pycuda (allocate, copy host->device, copy device->host, a stream): numpy
host memory on the CPU, torch CUDA tensors and a torch stream's ``cuda_stream`` handle on the GPU.
"""
from __future__ import annotations

import ctypes
import sys

import numpy as np
import pytest
from helpers import default_config_tolerance

import inferrt

SCRIPT = '''
import numpy as np
import tensorrt as trt

TRT_LOGGER = trt.Logger(trt.Logger.WARNING)


def build_engine(weights, max_batch):
    builder = trt.Builder(TRT_LOGGER)
    network = builder.create_network(0)
    inp = network.add_input(name="input", dtype=trt.float32, shape=(-1, 3, 16, 16))
    conv = network.add_convolution_nd(input=inp, num_output_maps=8, kernel_shape=(3, 3),
                                      kernel=trt.Weights(weights["conv_w"]), bias=trt.Weights(weights["conv_b"]))
    conv.stride_nd = (1, 1)
    conv.padding_nd = (1, 1)
    conv.name = "conv"
    relu = network.add_activation(input=conv.get_output(0), type=trt.ActivationType.RELU)
    pool = network.add_pooling_nd(input=relu.get_output(0), type=trt.PoolingType.MAX, window_size=(2, 2))
    pool.stride_nd = (2, 2)
    flatten = network.add_shuffle(pool.get_output(0))
    flatten.reshape_dims = (0, -1)
    fc_w = network.add_constant((512, 10), trt.Weights(weights["fc_w"]))
    fc = network.add_matrix_multiply(flatten.get_output(0), trt.MatrixOperation.NONE,
                                     fc_w.get_output(0), trt.MatrixOperation.NONE)
    fc_b = network.add_constant((1, 10), trt.Weights(weights["fc_b"]))
    logits = network.add_elementwise(fc.get_output(0), fc_b.get_output(0), trt.ElementWiseOperation.SUM)
    softmax = network.add_softmax(logits.get_output(0))
    softmax.axes = 1 << 1
    softmax.get_output(0).name = "probs"
    network.mark_output(softmax.get_output(0))
    top = network.add_reduce(logits.get_output(0), trt.ReduceOperation.MAX, 1 << 1, False)
    top.get_output(0).name = "max_logit"
    network.mark_output(top.get_output(0))

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 28)
    profile = builder.create_optimization_profile()
    profile.set_shape("input", (1, 3, 16, 16), (max_batch // 2, 3, 16, 16), (max_batch, 3, 16, 16))
    config.add_optimization_profile(profile)
    serialized_engine = builder.build_serialized_network(network, config)
    if serialized_engine is None:
        raise RuntimeError("build failed")
    runtime = trt.Runtime(TRT_LOGGER)
    return runtime.deserialize_cuda_engine(serialized_engine)


def describe(engine):
    rows = []
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        rows.append((name, engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT,
                     tuple(engine.get_tensor_shape(name)), trt.nptype(engine.get_tensor_dtype(name))))
    return rows


def infer(engine, batch, memory):
    """memory: alloc(nbytes) -> ptr, h2d(ptr, array), d2h(array, ptr), stream (handle), synchronize()."""
    context = engine.create_execution_context()
    context.set_input_shape("input", batch.shape)
    host, device = {}, {}
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        shape = context.get_tensor_shape(name)
        dtype = trt.nptype(engine.get_tensor_dtype(name))
        size = trt.volume(shape)
        host[name] = np.empty(size, dtype=dtype)
        device[name] = memory.alloc(host[name].nbytes)
        context.set_tensor_address(name, device[name])
        if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
            host[name][:] = batch.ravel()
            memory.h2d(device[name], host[name])
    if not context.execute_async_v3(stream_handle=memory.stream):
        raise RuntimeError("execution failed")
    outputs = {}
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        if engine.get_tensor_mode(name) == trt.TensorIOMode.OUTPUT:
            memory.d2h(host[name], device[name])
            outputs[name] = host[name].reshape(tuple(context.get_tensor_shape(name)))
    memory.synchronize()
    return outputs
'''


class HostMemory:
    """What the script's memory helper is on the CPU: numpy allocations and memcpy, stream 0."""

    stream = 0

    def __init__(self):
        self._keep = {}

    def alloc(self, nbytes):
        buf = np.zeros(max(nbytes, 1), np.uint8)
        self._keep[buf.ctypes.data] = buf
        return buf.ctypes.data

    def h2d(self, ptr, array):
        ctypes.memmove(ptr, array.ctypes.data, array.nbytes)

    def d2h(self, array, ptr):
        ctypes.memmove(array.ctypes.data, ptr, array.nbytes)

    def synchronize(self):
        pass


class CudaMemory:
    """On the GPU: torch CUDA tensors as device memory and a torch stream's raw handle."""

    def __init__(self):
        import torch

        self.torch = torch
        self._stream = torch.cuda.Stream()
        self.stream = self._stream.cuda_stream
        self._keep = {}

    def alloc(self, nbytes):
        t = self.torch.empty(max(nbytes, 1), dtype=self.torch.uint8, device="cuda")
        self._keep[t.data_ptr()] = t
        return t.data_ptr()

    def h2d(self, ptr, array):
        with self.torch.cuda.stream(self._stream):
            self._keep[ptr][:array.nbytes].copy_(self.torch.from_numpy(array.view(np.uint8)))

    def d2h(self, array, ptr):
        self._stream.synchronize()
        array.view(np.uint8)[:] = self._keep[ptr][:array.nbytes].cpu().numpy()

    def synchronize(self):
        self._stream.synchronize()


def _weights():
    rng = np.random.default_rng(3)
    return {"conv_w": (rng.standard_normal((8, 3, 3, 3)) / 5).astype(np.float32),
            "conv_b": rng.standard_normal(8).astype(np.float32),
            "fc_w": (rng.standard_normal((512, 10)) / 20).astype(np.float32),
            "fc_b": rng.standard_normal(10).astype(np.float32)}


def _reference(w, x):
    """The network in float64 numpy: conv 3x3 pad 1 + bias, ReLU, 2x2 max pool, flatten, FC, softmax / max."""
    x = x.astype(np.float64)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))      # n, c, 16, 16, 3, 3
    y = np.einsum("nchwij,ocij->nohw", win, w["conv_w"].astype(np.float64)) + w["conv_b"][None, :, None, None]
    y = np.maximum(y, 0)
    n = y.shape[0]
    y = y.reshape(n, 8, 8, 2, 8, 2).max(axis=(3, 5))
    logits = y.reshape(n, -1) @ w["fc_w"].astype(np.float64) + w["fc_b"]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True), logits.max(axis=1)


@pytest.fixture
def script(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", inferrt)
    ns = {"__name__": "trt_user_script"}
    exec(compile(SCRIPT, "trt_user_script.py", "exec"), ns)  # noqa: S102 - the script is this file's constant
    assert ns["trt"] is inferrt
    return ns


def test_tensorrt_script_runs_on_inferrt(script, device, monkeypatch):
    monkeypatch.setenv("INFERRT_DEVICE", device)
    w = _weights()
    engine = script["build_engine"](w, max_batch=8)
    assert engine is not None
    rows = script["describe"](engine)
    assert rows == [("input", True, (-1, 3, 16, 16), np.float32), ("probs", False, (-1, 10), np.float32),
                    ("max_logit", False, (-1,), np.float32)]
    memory = HostMemory() if device == "cpu" else CudaMemory()
    for n in (1, 3, 8):
        x = np.random.default_rng(n).standard_normal((n, 3, 16, 16)).astype(np.float32)
        out = script["infer"](engine, x, memory)
        probs, top = _reference(w, x)
        # the script keeps TensorRT's default config (TF32 on): its tolerance on the GPU
        rtol, atol = default_config_tolerance(device)
        np.testing.assert_allclose(out["probs"], probs, rtol=rtol, atol=max(atol, 1e-5))
        np.testing.assert_allclose(out["max_logit"], top, rtol=rtol, atol=max(atol, 1e-4))


def test_tensorrt_script_volume_and_nptype(script):
    trt = script["trt"]
    assert trt.volume((2, 3, 4)) == 24 and trt.volume(trt.Dims((5,))) == 5
    assert trt.nptype(trt.float32) == np.float32 and trt.nptype(trt.int32) == np.int32
    assert trt.nptype(trt.float16) == np.float16 and trt.nptype(trt.bool) == np.bool_
