"""Networks and a calibrator for the INT8 calibration tests: a small conv net with a residual add, its values in
torch, batches, a calibrator of any kind that hands out numpy arrays, torch tensors or addresses, and a reader of
TensorRT's text cache that does not use inferrt's."""
from __future__ import annotations

import re
import struct

import numpy as np
import torch

import inferrt as trt

SHAPE = (2, 3, 8, 8)
TENSORS = ("x", "c1", "r", "c2", "y")


def Calibrator(base=trt.IInt8EntropyCalibrator2, batches=(), as_="numpy", cache=None, quantile=0.999, cutoff=0.0):
    """A calibrator of kind ``base`` over ``batches`` (numpy), handing them out as numpy arrays, torch tensors or
    CPU addresses (``as_``); it counts get_batch calls and keeps what write_calibration_cache receives."""

    class Cal(base):
        def __init__(self):
            base.__init__(self)
            self.batches, self.calls, self.written, self._alive = list(batches), 0, None, []

        def get_batch_size(self):
            return SHAPE[0]

        def get_batch(self, names):
            self.calls += 1
            if self.calls > len(self.batches):
                return None
            x = self.batches[self.calls - 1]
            if as_ == "torch":
                return [torch.from_numpy(x)]
            if as_ in ("pointer", "cuda"):
                t = torch.from_numpy(x.copy()).to("cuda" if as_ == "cuda" else "cpu")
                self._alive.append(t)
                return [t.data_ptr()]
            return [x]

        def read_calibration_cache(self):
            return cache

        def write_calibration_cache(self, data):
            self.written = data.tobytes()      # as Polygraphy's calibrator reads it

        def get_quantile(self):
            return quantile

        def get_regression_cutoff(self):
            return cutoff

    return Cal()


def conv_weights():
    rng = np.random.default_rng(5)
    return (rng.normal(0, 0.4, (4, 3, 3, 3)).astype(np.float32), rng.normal(0, 0.2, 4).astype(np.float32),
            rng.normal(0, 0.3, (4, 4, 3, 3)).astype(np.float32))


def conv_net(logger=None, strongly_typed=False):
    """x -> c1 (conv + bias) -> r (relu) -> c2 (conv) ; y = c2 + r"""
    w1, b1, w2 = conv_weights()
    builder = trt.Builder(logger or trt.Logger(trt.Logger.ERROR))
    net = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if strongly_typed else 0)
    x = net.add_input("x", trt.float32, SHAPE)
    c1 = net.add_convolution_nd(x, 4, (3, 3), w1, b1)
    c1.padding_nd = (1, 1)
    r = net.add_activation(c1.get_output(0), trt.ActivationType.RELU)
    c2 = net.add_convolution_nd(r.get_output(0), 4, (3, 3), w2, None)
    c2.padding_nd = (1, 1)
    y = net.add_elementwise(c2.get_output(0), r.get_output(0), trt.ElementWiseOperation.SUM)
    for layer, name in ((c1, "c1"), (r, "r"), (c2, "c2"), (y, "y")):
        layer.name = name
        layer.get_output(0).name = name
    net.mark_output(y.get_output(0))
    return builder, net


def reference_values(x):
    """Every tensor of conv_net in float32 torch, as the engine's generic layers compute them."""
    w1, b1, w2 = (torch.from_numpy(a) for a in conv_weights())
    xt = torch.from_numpy(x)
    c1 = torch.nn.functional.conv2d(xt, w1, b1, padding=1)
    r = torch.relu(c1)
    c2 = torch.nn.functional.conv2d(r, w2, None, padding=1)
    return {"x": xt.numpy(), "c1": c1.numpy(), "r": r.numpy(), "c2": c2.numpy(), "y": (c2 + r).numpy()}


def batches(n=3, seed=7):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(SHAPE).astype(np.float32) * (1 + k) for k in range(n)]


def build(builder, net, calibrator=None, flags=(trt.BuilderFlag.INT8,), device="cpu"):
    config = builder.create_builder_config()
    config.device = device
    config.clear_flag(trt.BuilderFlag.TF32)
    for f in flags:
        config.set_flag(f)
    config.int8_calibrator = calibrator
    plan = builder.build(net, config)
    return trt.Runtime(builder.logger).deserialize_cuda_engine(plan)


def read_cache(data: bytes) -> tuple[str, dict]:
    """(header, {tensor: amax}) of TensorRT's text cache, parsed independently of inferrt."""
    lines = data.decode().splitlines()
    amax = {}
    for line in lines[1:]:
        name, hexval = line.rsplit(": ", 1)
        assert re.fullmatch(r"[0-9a-f]{8}", hexval), line
        amax[name] = struct.unpack(">f", bytes.fromhex(hexval))[0] * 127.0
    return lines[0], amax


def fake_quant(v, amax):
    s = np.float32(amax / 127.0)
    return np.clip(np.round(v / s), -128, 127) * s
