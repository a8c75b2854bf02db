"""ONNX random generators: RandomNormal(Like), RandomUniform(Like), Bernoulli, Multinomial.

A ``seed`` makes every run produce the same values (a fresh generator seeded from the float seed's bits);
without one, PyTorch's global generator is used. These ops never fold to constants at build time.
"""
from __future__ import annotations

import numpy as np
import torch

from ..dtypes import FLOAT_TYPES as _FLOATS, torch_dtype
from ..enums import DataType
from .base import DTYPE, FLOAT, INT, INTS, STR, OpDef, OpError, Spec, register


def generator(seed, device):
    if seed is None:
        return None
    g = torch.Generator(device=device)
    g.manual_seed(int(np.array(seed, np.float32).view(np.int32)) & 0x7FFFFFFF)
    return g


def _device(ins, outs):
    for t in list(ins) + list(outs or []):
        if t is not None:
            return t.device
    return torch.device("cpu")


class _Random(OpDef):
    def foldable(self, a):
        return False


@register
class RandomTensor(_Random):
    """RandomNormal / RandomUniform (shape from ``shape``) and their *Like forms (shape from the input)."""

    kind = "random"
    attrs = {"distribution": (STR, "normal"), "a": (FLOAT, 0.0), "b": (FLOAT, 1.0), "seed": (FLOAT, None),
             "shape": (INTS, ()), "to_type": (DTYPE, DataType.FLOAT)}
    inputs = ("like",)
    min_inputs = 0

    def infer(self, a, ins):
        if a.distribution not in ("normal", "uniform"):
            raise OpError(f"distribution {a.distribution!r} must be 'normal' (mean a, scale b) or 'uniform' "
                          f"(low a, high b)")
        if a.to_type not in _FLOATS:
            raise OpError(f"random values must be FLOAT, HALF or BF16, not {a.to_type.name}")
        like = ins[0] if ins else None
        shape = tuple(like.shape) if like is not None else tuple(a.shape)
        if any(d < -1 for d in shape):
            raise OpError(f"shape {shape} is invalid")
        return [Spec(a.to_type, shape)]

    def run(self, a, ins, outs):
        like = ins[0] if ins else None
        shape = tuple(like.shape) if like is not None else tuple(a.shape)
        dev = _device(ins, outs)
        g = generator(a.seed, dev)
        if a.distribution == "normal":
            y = torch.randn(shape, generator=g, device=dev, dtype=torch.float32) * a.b + a.a
        else:
            y = torch.rand(shape, generator=g, device=dev, dtype=torch.float32) * (a.b - a.a) + a.a
        return [y.to(torch_dtype(a.to_type))]


@register
class Bernoulli(_Random):
    """Bernoulli: 1 with probability ``input`` (elementwise), else 0."""

    kind = "bernoulli"
    attrs = {"seed": (FLOAT, None), "to_type": (DTYPE, DataType.FLOAT)}

    def infer(self, a, ins):
        if ins[0].dtype not in _FLOATS:
            raise OpError(f"probabilities must be floating point, got {ins[0].dtype.name}")
        return [Spec(a.to_type, ins[0].shape)]

    def run(self, a, ins, outs):
        p = ins[0].to(torch.float32)
        u = torch.rand(p.shape, generator=generator(a.seed, p.device), device=p.device)
        return [(u < p).to(torch_dtype(a.to_type))]


@register
class Multinomial(_Random):
    """Multinomial: ``sample_size`` class indices per batch row, drawn with replacement from softmax(input)."""

    kind = "multinomial"
    attrs = {"sample_size": (INT, 1), "seed": (FLOAT, None), "to_type": (DTYPE, DataType.INT32)}

    def infer(self, a, ins):
        x = ins[0]
        if x.dtype not in _FLOATS or x.rank != 2:
            raise OpError(f"input must be floating-point [batch, classes] log-probabilities, got {x.dtype.name} "
                          f"{x.shape}")
        if a.to_type not in (DataType.INT32, DataType.INT64) or a.sample_size < 1:
            raise OpError("dtype must be INT32 or INT64 and sample_size positive")
        return [Spec(a.to_type, (x.shape[0], a.sample_size))]

    def run(self, a, ins, outs):
        x = ins[0].to(torch.float32)
        probs = torch.softmax(x, dim=1)
        y = torch.multinomial(probs, a.sample_size, replacement=True, generator=generator(a.seed, x.device))
        return [y.to(torch_dtype(a.to_type))]
