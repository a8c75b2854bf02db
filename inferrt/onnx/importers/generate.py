"""Importers for ONNX's random generators onto the generate family (``inferrt/ops/generate.py``): RandomNormal,
RandomUniform and their ``Like`` forms onto the ``random`` op, Bernoulli and Multinomial (seeded when ``seed`` is
given)."""
from __future__ import annotations

from ...dtypes import FLOAT_TYPES as _FLOATS
from ...enums import DataType, ParserErrorCode as E
from ...ir.kinds import Kind
from ..registry import importer


def _dtype_attr(ctx, node, default):
    if not node.has_attr("dtype"):
        return default
    return ctx.dtype(int(node.attr("dtype")))


def _seed(node):
    return float(node.attr("seed")) if node.has_attr("seed") else None


def _random(ctx, node, dist, a_name, a_def, b_name, b_def, like):
    attrs = {"distribution": dist, "a": float(node.attr(a_name, a_def)), "b": float(node.attr(b_name, b_def)),
             "seed": _seed(node)}
    ins = []
    if like:
        src = ctx.tensor(node.inputs[0])
        attrs["to_type"] = _dtype_attr(ctx, node, src.dtype if src.dtype in _FLOATS else DataType.FLOAT)
        ins = [src]
    else:
        attrs["to_type"] = _dtype_attr(ctx, node, DataType.FLOAT)
        attrs["shape"] = tuple(node.attr("shape"))
    if attrs["to_type"] not in _FLOATS:
        ctx.fail(f"dtype {attrs['to_type'].name} is not a floating-point type", E.UNSUPPORTED_NODE_DATATYPE)
    return ctx.add_op(Kind.RANDOM, ins, attrs)


@importer("RandomNormal", since=1)
def random_normal(ctx, node):
    return _random(ctx, node, "normal", "mean", 0.0, "scale", 1.0, like=False)


@importer("RandomNormalLike", since=1)
def random_normal_like(ctx, node):
    return _random(ctx, node, "normal", "mean", 0.0, "scale", 1.0, like=True)


@importer("RandomUniform", since=1)
def random_uniform(ctx, node):
    return _random(ctx, node, "uniform", "low", 0.0, "high", 1.0, like=False)


@importer("RandomUniformLike", since=1)
def random_uniform_like(ctx, node):
    return _random(ctx, node, "uniform", "low", 0.0, "high", 1.0, like=True)


@importer("Bernoulli", since=15)
def bernoulli(ctx, node):
    p = ctx.float_input(node, 0, "probabilities")
    to = _dtype_attr(ctx, node, p.dtype)
    if to in _FLOATS:
        return ctx.add_op(Kind.BERNOULLI, [p], {"seed": _seed(node), "to_type": to})
    y = ctx.add_op(Kind.BERNOULLI, [p], {"seed": _seed(node), "to_type": DataType.FLOAT})[0]
    return [ctx.cast(y, to)]


@importer("Multinomial", since=7)
def multinomial(ctx, node):
    x = ctx.float_input(node, 0)
    to = _dtype_attr(ctx, node, DataType.INT32)
    if to not in (DataType.INT32, DataType.INT64):
        ctx.fail(f"dtype {to.name} must be INT32 or INT64", E.UNSUPPORTED_NODE_DATATYPE)
    return ctx.add_op(Kind.MULTINOMIAL, [x], {"sample_size": int(node.attr("sample_size", 1)), "seed": _seed(node),
                                              "to_type": to})
