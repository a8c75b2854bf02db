"""Generators (no data input): Fill (LINSPACE / RANDOM_UNIFORM / RANDOM_NORMAL) and the ONNX random ops
``random`` (RandomNormal(Like), RandomUniform(Like)), ``bernoulli`` and ``multinomial``.

A ``seed`` makes every run produce the same values (a fresh generator seeded from the float seed's bits);
without one, PyTorch's global generator is used. The random ops never fold to constants at build time.
"""
from __future__ import annotations

import numpy as np
import torch

from ..dtypes import FLOAT_TYPES as _FLOATS, torch_dtype
from ..enums import DataType, FillOperation, LayerType
from .base import DTYPE, FLOAT, INT, INTS, Choice, Enum, OpDef, OpError, Spec, register
from .indexing import INDEX_TYPES, opt, scalar_like


# ----------------------------------------------------------------------------------------------- Fill
_LINSPACE_TYPES = (*_FLOATS, DataType.INT32, DataType.INT64)

_RANDOM_TYPES = _FLOATS


@register
class Fill(OpDef):
    kind = "fill"
    host_inputs = (0,)
    layer_type = LayerType.FILL
    attrs = {"shape": (INTS, ()), "operation": (Enum(FillOperation), FillOperation.LINSPACE),
             "alpha": (FLOAT, 0.0), "beta": (FLOAT, 1.0), "to_type": (DTYPE, DataType.FLOAT),
             "seed": (INT, 0)}   # seed: inferrt extension, makes RANDOM_* reproducible
    inputs = ("shape", "alpha", "beta")
    min_inputs = 0

    def infer(self, a, ins):
        s, al, be = opt(ins, 0), opt(ins, 1), opt(ins, 2)
        lin = a.operation == FillOperation.LINSPACE
        allowed = _LINSPACE_TYPES if lin else _RANDOM_TYPES
        if a.to_type not in allowed:
            raise OpError(f"{a.operation.name} cannot produce {a.to_type.name}; use one of "
                          f"{[t.name for t in allowed]}")
        if s is not None:
            if s.dtype not in INDEX_TYPES or len(s.shape) != 1 or s.shape[0] < 0:
                raise OpError(f"the shape input must be a 1-D INT32/INT64 tensor of known length, got "
                              f"{s.dtype.name} {s.shape}")
            shape = (-1,) * s.shape[0] if s.value is None else tuple(int(v) for v in np.asarray(s.value))
        else:
            shape = tuple(a.shape)
        if any(d < -1 for d in shape) or (s is None and any(d < 0 for d in shape)):
            raise OpError(f"the output shape {shape} has negative dimensions")
        if (al is None) != (be is None):
            raise OpError("alpha and beta must both be static or both be inputs (set_input(1) and set_input(2))")
        if al is not None:
            if not scalar_like(al):
                raise OpError(f"the alpha input must be a scalar, got shape {al.shape}")
            want_vec = lin and len(shape) > 1
            if want_vec and tuple(be.shape) not in ((len(shape),), (-1,)):
                raise OpError(f"for LINSPACE the beta input must have shape [{len(shape)}] (one delta per output "
                              f"dimension), got {tuple(be.shape)}")
            if not want_vec and not (scalar_like(be) or tuple(be.shape) == (len(shape),)):
                raise OpError(f"the beta input must be a scalar, got shape {be.shape}")
        elif lin and len(shape) > 1:
            raise OpError(f"a static beta is one delta, which only defines LINSPACE for 1-D outputs; for the "
                          f"{len(shape)}-D shape {shape} give a beta tensor of shape [{len(shape)}] with "
                          f"set_input(2) (and alpha with set_input(1))")
        return [Spec(a.to_type, shape)]

    def foldable(self, a):
        return a.operation == FillOperation.LINSPACE

    def run(self, a, ins, outs):
        s, al, be = opt(ins, 0), opt(ins, 1), opt(ins, 2)
        if outs and outs[0] is not None:
            shape = tuple(outs[0].shape)
            dev = outs[0].device
        else:
            shape = tuple(int(v) for v in s.tolist()) if s is not None else tuple(a.shape)
            dev = s.device if s is not None else torch.device("cpu")
        dt = torch_dtype(a.to_type)
        if a.operation == FillOperation.LINSPACE:
            ints = a.to_type in (DataType.INT32, DataType.INT64) and (
                (al is None and float(a.alpha).is_integer() and float(a.beta).is_integer())
                or (al is not None and not al.is_floating_point() and not be.is_floating_point()))
            acc = torch.int64 if ints else torch.float64
            alpha = al.reshape(()).to(acc) if al is not None else torch.tensor(a.alpha, dtype=acc, device=dev)
            beta = be.reshape(-1).to(acc) if be is not None else torch.tensor([a.beta], dtype=acc, device=dev)
            res = alpha.expand(shape).clone()
            for k, n in enumerate(shape):
                view = [1] * len(shape)
                view[k] = n
                step = beta[k] if beta.numel() > 1 else beta[0]
                res = res + step * torch.arange(n, dtype=acc, device=dev).reshape(view)
            return [res.to(dt)]
        gen = torch.Generator().manual_seed(a.seed)
        alpha = al.reshape(()).double() if al is not None else a.alpha
        beta = be.reshape(()).double() if be is not None else a.beta
        if a.operation == FillOperation.RANDOM_UNIFORM:
            r = torch.rand(shape, generator=gen, dtype=torch.float64).to(dev)
            res = alpha + (beta - alpha) * r
        else:
            r = torch.randn(shape, generator=gen, dtype=torch.float64).to(dev)
            res = alpha + beta * r
        return [res.to(dt)]


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
    attrs = {"distribution": (Choice("normal", "uniform"), "normal"), "a": (FLOAT, 0.0), "b": (FLOAT, 1.0),
             "seed": (FLOAT, None),
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
