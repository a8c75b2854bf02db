"""ONNX math ops with no TensorRT layer: integer/float modulo, bit shifts, bitwise ops, ArgMax/ArgMin, Hardmax.

* ``onnx_binary`` (op = MOD | FMOD | BITSHIFT_LEFT | BITSHIFT_RIGHT | BITWISE_AND | BITWISE_OR | BITWISE_XOR):
  same-rank inputs of one dtype, broadcast over size-1 dims (as the elementwise layer).
  MOD takes the sign of the divisor (Python ``%``), FMOD the sign of the dividend (C ``fmod``).
* ``onnx_unary`` (op = BITWISE_NOT).
* ``onnx_arg_reduce`` (op = MAX | MIN, axis, keep_dims, select_last_index): INT64 index of the first (or last)
  extreme value along ``axis``.
* ``onnx_hardmax`` (axis): 1 at the first maximum along ``axis``, 0 elsewhere.
"""
from __future__ import annotations

import torch

from ..dtypes import FLOAT_TYPES as _FLOATS
from ..enums import DataType, LayerType
from .base import BOOL, INT, INTS, STR, OpDef, OpError, Spec, broadcast_shapes, norm_axis, register, spec_like

_INTS = (DataType.INT8, DataType.UINT8, DataType.INT32, DataType.INT64)


def _mod(a, b):
    if a.is_floating_point():
        return torch.remainder(a, b)
    safe = torch.where(b == 0, torch.ones_like(b), b)
    return torch.remainder(a, safe)


def _fmod(a, b):
    if a.is_floating_point():
        return torch.fmod(a, b)
    safe = torch.where(b == 0, torch.ones_like(b), b)
    return torch.fmod(a, safe)


def _shift(a, b, left):
    if a.dtype == torch.uint8:  # logical shifts on unsigned bytes; counts >= 8 give 0
        wide = a.to(torch.int32)
        out = wide << b.to(torch.int32) if left else wide >> b.to(torch.int32)
        return torch.where(b.to(torch.int32) >= 8, torch.zeros_like(wide), out & 0xFF).to(torch.uint8)
    return torch.bitwise_left_shift(a, b) if left else torch.bitwise_right_shift(a, b)


BINARY = {
    "MOD": _mod,
    "FMOD": _fmod,
    "BITSHIFT_LEFT": lambda a, b: _shift(a, b, True),
    "BITSHIFT_RIGHT": lambda a, b: _shift(a, b, False),
    "BITWISE_AND": torch.bitwise_and,
    "BITWISE_OR": torch.bitwise_or,
    "BITWISE_XOR": torch.bitwise_xor,
}
UNARY = {"BITWISE_NOT": torch.bitwise_not}


@register
class OnnxBinary(OpDef):
    kind = "onnx_binary"
    layer_type = LayerType.GENERIC_OP
    attrs = {"op": (STR, "MOD")}
    inputs = ("input1", "input2")
    min_inputs = 2

    def infer(self, a, ins):
        x, y = ins
        if a.op not in BINARY:
            raise OpError(f"op {a.op!r} is not one of {', '.join(BINARY)}")
        if x.dtype != y.dtype:
            raise OpError(f"inputs have different types ({x.dtype.name} and {y.dtype.name}); cast one of them")
        allowed = _INTS + _FLOATS if a.op in ("MOD", "FMOD") else _INTS
        if a.op.startswith("BITWISE") and x.dtype == DataType.BOOL:
            allowed = allowed + (DataType.BOOL,)
        if x.dtype not in allowed:
            raise OpError(f"{a.op} does not accept {x.dtype.name} inputs (accepted: "
                          f"{', '.join(d.name for d in allowed)})")
        if x.shape is None or y.shape is None:
            return [Spec(x.dtype, None)]
        if len(x.shape) != len(y.shape):
            raise OpError(f"inputs have different ranks ({len(x.shape)} and {len(y.shape)}); unsqueeze the smaller")
        return [Spec(x.dtype, broadcast_shapes(x.shape, y.shape))]

    def run(self, a, ins, outs):
        return [BINARY[a.op](ins[0], ins[1])]


@register
class OnnxUnary(OpDef):
    kind = "onnx_unary"
    layer_type = LayerType.GENERIC_OP
    attrs = {"op": (STR, "BITWISE_NOT")}

    def infer(self, a, ins):
        x = ins[0]
        if a.op not in UNARY:
            raise OpError(f"op {a.op!r} is not one of {', '.join(UNARY)}")
        if x.dtype not in _INTS + (DataType.BOOL,):
            raise OpError(f"{a.op} needs an integer input, got {x.dtype.name}")
        return [spec_like(x)]

    def run(self, a, ins, outs):
        return [UNARY[a.op](ins[0])]


def _reduced_shape(shape, ax, keep):
    return tuple((1 if i == ax else d) for i, d in enumerate(shape)) if keep else \
        tuple(d for i, d in enumerate(shape) if i != ax)


@register
class OnnxArgReduce(OpDef):
    kind = "onnx_arg_reduce"
    layer_type = LayerType.GENERIC_OP
    attrs = {"op": (STR, "MAX"), "axis": (INT, 0), "keep_dims": (BOOL, True), "select_last_index": (BOOL, False)}

    def infer(self, a, ins):
        x = ins[0]
        if a.op not in ("MAX", "MIN"):
            raise OpError(f"op must be MAX or MIN, got {a.op!r}")
        if x.dtype == DataType.BOOL:
            raise OpError("BOOL inputs are not accepted; cast to INT32 first")
        rank = x.rank
        ax = norm_axis(a.axis, rank)
        if rank and x.shape[ax] == 0:
            raise OpError(f"cannot take arg{a.op.lower()} over the empty axis {ax}")
        return [Spec(DataType.INT64, _reduced_shape(x.shape, ax, a.keep_dims))]

    def run(self, a, ins, outs):
        x = ins[0]
        if x.dim() == 0:
            return [torch.zeros((), dtype=torch.int64)]
        ax = norm_axis(a.axis, x.dim())
        if x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()
        if a.select_last_index:
            n = x.shape[ax]
            idx = torch.argmax(x.flip(ax), ax, keepdim=a.keep_dims) if a.op == "MAX" else \
                torch.argmin(x.flip(ax), ax, keepdim=a.keep_dims)
            return [(n - 1 - idx).to(torch.int64)]
        # torch documents the first occurrence for argmax/argmin
        idx = torch.argmax(x, ax, keepdim=a.keep_dims) if a.op == "MAX" else torch.argmin(x, ax, keepdim=a.keep_dims)
        return [idx.to(torch.int64)]


@register
class OnnxHardmax(OpDef):
    kind = "onnx_hardmax"
    layer_type = LayerType.GENERIC_OP
    attrs = {"axis": (INT, -1)}

    def infer(self, a, ins):
        x = ins[0]
        if x.dtype == DataType.BOOL:
            raise OpError("BOOL inputs are not accepted; cast first")
        norm_axis(a.axis, x.rank)
        return [spec_like(x)]

    def run(self, a, ins, outs):
        x = ins[0]
        ax = norm_axis(a.axis, x.dim())
        out = torch.zeros_like(x)
        if x.numel() == 0:
            return [out]
        src = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        idx = torch.argmax(src, ax, keepdim=True)
        return [out.scatter(ax, idx, torch.ones_like(idx, dtype=x.dtype))]


# ----------------------------------------------------------------------------------------------- ONNX reductions
def _fill_value(op, dtype):
    if op in ("MAX", "MIN"):
        if dtype == torch.bool:
            return op == "MIN"
        if dtype.is_floating_point:
            return float("-inf") if op == "MAX" else float("inf")
        info = torch.iinfo(dtype)
        return info.min if op == "MAX" else info.max
    if op == "PROD":
        return 1
    if op in ("LOG_SUM", "LOG_SUM_EXP"):
        return float("-inf")
    return 0


def onnx_reduce(op, x, axes, keep):
    """ONNX reduction ``op`` of ``x`` over ``axes`` (a list of normalized axes; reductions over empty sets give the
    identity element: 0, 1, -inf/+inf or the integer limits)."""
    dt = x.dtype
    if not axes:
        return x.clone()
    shape = [(1 if i in axes else d) for i, d in enumerate(x.shape)] if keep else \
        [d for i, d in enumerate(x.shape) if i not in axes]
    if any(x.shape[a] == 0 for a in axes):
        return torch.full(shape, _fill_value(op, dt), dtype=dt, device=x.device)
    work = x
    if op in ("AVG", "L2", "LOG_SUM", "LOG_SUM_EXP") and not dt.is_floating_point:
        work = x.double()
    if op == "SUM":
        out = torch.sum(work, dim=axes, keepdim=keep)
    elif op == "SUM_SQUARE":
        out = torch.sum(work * work, dim=axes, keepdim=keep)
    elif op == "L1":
        out = torch.sum(torch.abs(work), dim=axes, keepdim=keep)
    elif op == "L2":
        out = torch.sqrt(torch.sum(work * work, dim=axes, keepdim=keep))
    elif op == "LOG_SUM":
        out = torch.log(torch.sum(work, dim=axes, keepdim=keep))
    elif op == "LOG_SUM_EXP":
        out = torch.logsumexp(work, dim=axes, keepdim=keep)
    elif op == "AVG":
        out = torch.mean(work, dim=axes, keepdim=keep)
    elif op == "PROD":
        out = work
        for ax in sorted(axes, reverse=True):
            out = torch.prod(out, dim=ax, keepdim=keep)
    elif op in ("MAX", "MIN"):
        if dt == torch.bool:
            work = x.to(torch.uint8)
        out = (torch.amax if op == "MAX" else torch.amin)(work, dim=axes, keepdim=keep)
    else:
        raise ValueError(f"unknown reduction {op!r}")
    if not dt.is_floating_point and out.dtype.is_floating_point and dt != torch.bool:
        out = torch.trunc(out)
    return out.to(dt).reshape(shape)


REDUCTIONS = ("SUM", "PROD", "MAX", "MIN", "AVG", "L1", "L2", "LOG_SUM", "LOG_SUM_EXP", "SUM_SQUARE")


@register
class OnnxReduce(OpDef):
    host_inputs = (1,)  # axes
    """ONNX reduction with axes from a (possibly runtime) tensor, empty-set identities and noop_with_empty_axes."""

    kind = "onnx_reduce"
    layer_type = LayerType.REDUCE
    attrs = {"op": (STR, "SUM"), "axes": (INTS, None), "keep_dims": (BOOL, True),
             "noop_with_empty_axes": (BOOL, False)}
    inputs = ("input", "axes")
    data_dependent = True

    def _axes(self, a, rank, values):
        axes = list(a.axes) if values is None else [int(v) for v in values]
        if not axes:
            return None if a.noop_with_empty_axes else list(range(rank))
        return sorted({norm_axis(ax, rank) for ax in axes})

    def infer(self, a, ins):
        x = ins[0]
        if a.op not in REDUCTIONS:
            raise OpError(f"op {a.op!r} is not one of {', '.join(REDUCTIONS)}")
        rank = x.rank
        at = ins[1] if len(ins) > 1 else None
        if at is not None:
            if at.dtype != DataType.INT64 or at.shape is None or len(at.shape) != 1:
                raise OpError("the axes input must be a 1-D INT64 tensor")
            if at.value is None:
                n = at.shape[0]
                if n == 0:
                    return [self.infer_static(a, x, None if a.noop_with_empty_axes else list(range(rank)))]
                if n < 0 and not a.keep_dims:
                    raise OpError("with keepdims=0 the number of axes must be known when the network is built")
                return [Spec(x.dtype, (-1,) * (rank if a.keep_dims else rank - n))]
            axes = self._axes(a, rank, list(at.value.reshape(-1)))
        else:
            if a.axes is None:
                raise OpError("needs an axes input or the axes attribute")
            axes = self._axes(a, rank, None)
        return [self.infer_static(a, x, axes)]

    @staticmethod
    def infer_static(a, x, axes):
        if axes is None:
            return spec_like(x)
        shape = [(1 if i in axes else d) for i, d in enumerate(x.shape)] if a.keep_dims else \
            [d for i, d in enumerate(x.shape) if i not in axes]
        return Spec(x.dtype, tuple(shape))

    def run(self, a, ins, outs):
        x = ins[0]
        at = ins[1] if len(ins) > 1 else None
        axes = self._axes(a, x.dim(), None if at is None else at.reshape(-1).tolist())
        if axes is None:
            return [x.clone()]
        return [onnx_reduce(a.op, x, axes, a.keep_dims)]
