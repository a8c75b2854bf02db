"""Shared pieces of the runtime tests: a small two-input network with dynamic batch, its float64 numpy reference,
and buffers with raw addresses (numpy host memory on the CPU, torch CUDA tensors on the GPU)."""
from __future__ import annotations

import numpy as np

import inferrt as trt

RNG = np.random.default_rng(42)
W1 = RNG.standard_normal((8, 16)).astype(np.float32)
B1 = RNG.standard_normal((1, 16)).astype(np.float32)
W2 = RNG.standard_normal((16, 4)).astype(np.float32)


class ListLogger(trt.ILogger):
    def __init__(self):
        self.messages: list[tuple] = []

    def log(self, severity, msg):
        self.messages.append((severity, msg))

    def errors(self):
        return [m for s, m in self.messages if s in (trt.Logger.ERROR, trt.Logger.INTERNAL_ERROR)]

    def warnings(self):
        return [m for s, m in self.messages if s == trt.Logger.WARNING]


def make_network(builder):
    """y = relu(x @ W1 + B1) @ W2 + s, with x[N, 8] and s[N, 4]; layer names l_mm1, l_add, l_relu, l_mm2, l_out."""
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, (-1, 8))
    s = net.add_input("s", trt.float32, (-1, 4))
    names = iter(["w1", "l_mm1", "b1", "l_add", "l_relu", "w2", "l_mm2", "l_out"])

    def named(layer):
        layer.name = next(names)
        return layer.get_output(0)

    w1 = named(net.add_constant(W1.shape, W1))
    h = named(net.add_matrix_multiply(x, trt.MatrixOperation.NONE, w1, trt.MatrixOperation.NONE))
    b1 = named(net.add_constant(B1.shape, B1))
    h = named(net.add_elementwise(h, b1, trt.ElementWiseOperation.SUM))
    h = named(net.add_activation(h, trt.ActivationType.RELU))
    w2 = named(net.add_constant(W2.shape, W2))
    h = named(net.add_matrix_multiply(h, trt.MatrixOperation.NONE, w2, trt.MatrixOperation.NONE))
    out = net.add_elementwise(h, s, trt.ElementWiseOperation.SUM)
    out.name = next(names)
    out.get_output(0).name = "y"
    net.mark_output(out.get_output(0))
    return net


LAYERS = ("l_mm1", "l_add", "l_relu", "l_mm2", "l_out")


def build_cpu_plan() -> bytes:
    """``make_network`` built for the CPU with one profile: batch 1 to 4 (optimum 2)."""
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    config = builder.create_builder_config()
    config.device = "cpu"
    prof = builder.create_optimization_profile()
    prof.set_shape("x", (1, 8), (2, 8), (4, 8))
    prof.set_shape("s", (1, 4), (2, 4), (4, 4))
    config.add_optimization_profile(prof)
    return bytes(builder.build(make_network(builder), config))


def reference(x, s):
    x, s = np.asarray(x, np.float64), np.asarray(s, np.float64)
    return np.maximum(x @ W1.astype(np.float64) + B1, 0) @ W2.astype(np.float64) + s


def build_plan(device, profiles=((1, 4, 16),), logger=None, config_fn=None):
    """Plan bytes; ``profiles``: (min, opt, max) batch sizes per optimization profile. TF32 is cleared (set it again
    in ``config_fn`` to test the default)."""
    builder = trt.Builder(logger or trt.Logger(trt.Logger.ERROR))
    net = make_network(builder)
    config = builder.create_builder_config()
    config.device = device
    config.clear_flag(trt.BuilderFlag.TF32)  # IEEE float32 on the GPU: these tests compare with float64 tightly
    for mn, op, mx in profiles:
        p = builder.create_optimization_profile()
        p.set_shape("x", (mn, 8), (op, 8), (mx, 8))
        p.set_shape("s", (mn, 4), (op, 4), (mx, 4))
        config.add_optimization_profile(p)
    if config_fn:
        config_fn(config)
    plan = builder.build_serialized_network(net, config)
    assert plan is not None
    return plan


def build_engine(device, **kw):
    logger = kw.pop("runtime_logger", None) or trt.Logger(trt.Logger.ERROR)
    engine = trt.Runtime(logger).deserialize_cuda_engine(build_plan(device, **kw))
    assert engine is not None
    return engine


def inputs(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 8)).astype(np.float32), rng.standard_normal((n, 4)).astype(np.float32)


class Buffer:
    """Memory with a raw address: numpy on the CPU, a torch tensor on the GPU."""

    def __init__(self, device, array=None, shape=None, dtype=np.float32):
        import torch

        self.device = device
        if device == "cpu":
            self.host = np.ascontiguousarray(array) if array is not None else np.zeros(shape, dtype)
            self.ptr = self.host.ctypes.data
        else:
            src = torch.from_numpy(np.ascontiguousarray(array)) if array is not None else \
                torch.zeros(shape, dtype=torch.float32)
            self.tensor = src.to("cuda")
            self.ptr = self.tensor.data_ptr()

    def numpy(self):
        if self.device == "cpu":
            return self.host
        import torch

        torch.cuda.synchronize()
        return self.tensor.cpu().numpy()


def bad_plan() -> bytes:
    """A plan with one flipped weight byte (its checksum no longer matches)."""
    b = bytearray(build_plan("cpu"))
    b[-3] ^= 0xFF
    return bytes(b)
