"""Elementwise aten ops: arithmetic, comparisons, logic, unary math, ``where``.

PyTorch's type promotion is taken from the node's FX metadata: operands are cast to the computed type (for
comparisons, to the promoted operand type) before the IElementWiseLayer, so ``int_tensor * 0.5`` is FLOAT.
"""
from __future__ import annotations

import operator

import torch

from inferrt.dtypes import from_torch_dtype
from inferrt.enums import DataType, ElementWiseOperation as EW, UnaryOperation as U
from inferrt.ir.tensor import ITensor
from inferrt.torch.converters import converter
from inferrt.torch.converters.context import SymDim

aten = torch.ops.aten


def _promoted(ctx, node):
    """The type both operands are brought to: the output type, or for comparisons/logic the promoted input type."""
    out = ctx.out_dtype()
    if out != DataType.BOOL:
        return out
    vals = [a.meta.get("val") if isinstance(a, torch.fx.Node) else a for a in node.args[:2]]
    try:
        return from_torch_dtype(torch.result_type(*vals))
    except (TypeError, RuntimeError):
        return None


def _binary(ctx, node, op, swap=False):
    a, b = ctx.arg(node, 0), ctx.arg(node, 1)
    dt = _promoted(ctx, node)
    like = a if isinstance(a, ITensor) else b if isinstance(b, ITensor) else None
    a, b = ctx.tensor(a, like, dt if not isinstance(a, ITensor) else None), \
        ctx.tensor(b, like, dt if not isinstance(b, ITensor) else None)
    if dt is not None:
        a, b = ctx.cast(a, dt), ctx.cast(b, dt)
    if swap:
        a, b = b, a
    return ctx.elementwise(a, b, op)


def _scaled_second(ctx, node, op):
    alpha = node.kwargs.get("alpha", 1)
    if alpha == 1:
        return _binary(ctx, node, op)
    a, b = ctx.arg(node, 0), ctx.arg(node, 1)
    dt = ctx.out_dtype()
    b = ctx.cast(ctx.tensor(b, a if isinstance(a, ITensor) else None, dt), dt)
    b = ctx.elementwise(b, ctx.scalar_like(alpha, b), EW.PROD)
    return ctx.elementwise(ctx.cast(ctx.tensor(a, b, dt), dt), b, op)


@converter(aten.add.Tensor, aten.add.Scalar, aten.add_.Tensor)
def add(ctx, node):
    return _scaled_second(ctx, node, EW.SUM)


@converter(aten.sub.Tensor, aten.sub.Scalar, aten.sub_.Tensor)
def sub(ctx, node):
    return _scaled_second(ctx, node, EW.SUB)


@converter(aten.rsub.Scalar, aten.rsub.Tensor)
def rsub(ctx, node):
    if node.kwargs.get("alpha", 1) != 1:
        ctx.fail("rsub with alpha != 1 is not supported")
    return _binary(ctx, node, EW.SUB, swap=True)


@converter(aten.mul.Tensor, aten.mul.Scalar, aten.mul_.Tensor)
def mul(ctx, node):
    return _binary(ctx, node, EW.PROD)


def _div_supports(node):
    mode = node.kwargs.get("rounding_mode")
    return None if mode in (None, "floor") else f"rounding_mode={mode!r} has no converter"


@converter(aten.div.Tensor, aten.div.Scalar, aten.div.Tensor_mode, aten.div_.Tensor, supports=_div_supports)
def div(ctx, node):
    if node.kwargs.get("rounding_mode") == "floor":
        return _binary(ctx, node, EW.FLOOR_DIV)
    return _binary(ctx, node, EW.DIV)


@converter(aten.pow.Tensor_Scalar, aten.pow.Tensor_Tensor)
def pow_(ctx, node):
    e = ctx.arg(node, 1)
    if e == 2:
        x = ctx.as_out_dtype(ctx.arg(node, 0))
        return ctx.elementwise(x, x, EW.PROD)
    return _binary(ctx, node, EW.POW)


@converter(aten.remainder.Scalar, aten.remainder.Tensor)
def remainder(ctx, node):
    """Python's modulo (the result takes the divisor's sign): ONNX Mod with fmod=0."""
    a, b = ctx.arg(node, 0), ctx.arg(node, 1)
    dt = ctx.out_dtype()
    like = a if isinstance(a, ITensor) else b
    a, b = ctx.cast(ctx.tensor(a, like, dt), dt), ctx.cast(ctx.tensor(b, like, dt), dt)
    a, b = ctx.broadcast_pair(a, b)
    return ctx.out(ctx.network.add_onnx_binary(a, b, "MOD"))


@converter(aten.maximum.default)
def maximum(ctx, node):
    return _binary(ctx, node, EW.MAX)


@converter(aten.minimum.default)
def minimum(ctx, node):
    return _binary(ctx, node, EW.MIN)


def _compare(op, negate=False):
    def fn(ctx, node):
        y = _binary(ctx, node, op)
        return ctx.unary(y, U.NOT) if negate else y
    return fn


for _ops, _ew, _neg in (((aten.eq.Tensor, aten.eq.Scalar), EW.EQUAL, False),
                        ((aten.ne.Tensor, aten.ne.Scalar), EW.EQUAL, True),
                        ((aten.lt.Tensor, aten.lt.Scalar), EW.LESS, False),
                        ((aten.gt.Tensor, aten.gt.Scalar), EW.GREATER, False),
                        ((aten.le.Tensor, aten.le.Scalar), EW.GREATER, True),
                        ((aten.ge.Tensor, aten.ge.Scalar), EW.LESS, True)):
    converter(*_ops)(_compare(_ew, _neg))


def _bool_args(node):
    for a in node.args[:2]:
        v = a.meta.get("val") if isinstance(a, torch.fx.Node) else a
        if not (isinstance(v, bool) or (isinstance(v, torch.Tensor) and v.dtype == torch.bool)):
            return "bitwise ops convert on BOOL tensors only"
    return None


@converter(aten.logical_and.default, aten.__and__.Tensor, aten.bitwise_and.Tensor, supports=_bool_args)
def logical_and(ctx, node):
    return _binary(ctx, node, EW.AND)


@converter(aten.logical_or.default, aten.__or__.Tensor, aten.bitwise_or.Tensor, supports=_bool_args)
def logical_or(ctx, node):
    return _binary(ctx, node, EW.OR)


@converter(aten.logical_not.default)
def logical_not(ctx, node):
    x = ctx.arg(node, 0)
    return ctx.unary(ctx.cast(x, DataType.BOOL), U.NOT)


def _unary(op):
    def fn(ctx, node):
        return ctx.unary(ctx.as_out_dtype(ctx.tensor(ctx.arg(node, 0))), op)
    return fn


for _ops, _u in (((aten.neg.default,), U.NEG), ((aten.sqrt.default,), U.SQRT), ((aten.exp.default,), U.EXP),
                 ((aten.log.default,), U.LOG), ((aten.abs.default,), U.ABS), ((aten.sin.default,), U.SIN),
                 ((aten.cos.default,), U.COS), ((aten.erf.default,), U.ERF), ((aten.reciprocal.default,), U.RECIP),
                 ((aten.floor.default,), U.FLOOR), ((aten.ceil.default,), U.CEIL)):
    converter(*_ops)(_unary(_u))


@converter(aten.rsqrt.default)
def rsqrt(ctx, node):
    x = ctx.as_out_dtype(ctx.tensor(ctx.arg(node, 0)))
    return ctx.unary(ctx.unary(x, U.SQRT), U.RECIP)


@converter(aten.where.self, aten.where.ScalarSelf, aten.where.ScalarOther, aten.where.Scalar)
def where(ctx, node):
    cond = ctx.cast(ctx.tensor(ctx.arg(node, 0)), DataType.BOOL)
    a, b = ctx.arg(node, 1), ctx.arg(node, 2)
    dt = ctx.out_dtype()
    like = a if isinstance(a, ITensor) else b if isinstance(b, ITensor) else None
    a, b = ctx.cast(ctx.tensor(a, like, dt), dt), ctx.cast(ctx.tensor(b, like, dt), dt)
    r = max(ctx.rank(cond), ctx.rank(a), ctx.rank(b))
    cond, a, b = ctx.expand_rank(cond, r), ctx.expand_rank(a, r), ctx.expand_rank(b, r)
    return ctx.out(ctx.network.add_select(cond, a, b))


# ------------------------------------------------------------------ symbolic int arithmetic (dynamic shapes)
def _sym_binary(op, py):
    def fn(ctx, node):
        a, b = ctx.arg(node, 0), ctx.arg(node, 1)
        if not isinstance(a, SymDim) and not isinstance(b, SymDim):
            return py(a, b)
        ta, tb = (ctx.cast(ctx.tensor(v) if not isinstance(v, int) else ctx.ints([v]), DataType.INT64)
                  for v in (a, b))
        return SymDim(ctx.elementwise(ta, tb, op))
    return fn


for _py, _ew in ((operator.add, EW.SUM), (operator.sub, EW.SUB), (operator.mul, EW.PROD),
                 (operator.floordiv, EW.FLOOR_DIV)):
    converter(_py)(_sym_binary(_ew, _py))
