"""Quantization importers: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, MatMulInteger, ConvInteger,
QLinearMatMul, QLinearConv.

Q/DQ map onto TensorRT's quantize / dequantize layers (per tensor, per axis with ``axis``, blocked with
``block_shape``, zero point as input 2) so the builder's Q/DQ passes see them, for INT8, UINT8, INT4, UINT4,
FLOAT8E4M3FN, FLOAT8E5M2 and FLOAT4E2M1 (4-bit data unpacked, see dtypes.py); FP8 types with ``saturate=0`` and
16-bit integers use the ``onnx_quantize`` op. The integer ops run exact integer math (``integer_matmul`` /
``integer_conv``) and the QLinear ops requantize the int32 accumulator like onnxruntime (``requantize``).
"""
from __future__ import annotations

from ...dtypes import FLOAT_TYPES
from ...enums import DataType, ParserErrorCode as E
from ..registry import importer

_Q_TYPES = (DataType.INT8, DataType.UINT8, DataType.INT4, DataType.UINT4, DataType.FP8, DataType.FP8_E5M2,
            DataType.FP4)
_Q_NAMES = "INT8, UINT8, INT16, UINT16, INT4, UINT4, FLOAT8E4M3FN, FLOAT8E5M2 or FLOAT4E2M1"
#: float8 types: ONNX's zero point for them is always 0 and is dropped (FP4's is added, as onnx's reference does)
_FP8_TYPES = (DataType.FP8, DataType.FP8_E5M2)
_AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


def _opt(ctx, node, i):
    name = node.input(i)
    return ctx.tensor(name) if name else None


def _qdq_layer(ctx, which, x, scale, zp, to_type, axis, block_shape):
    """A TensorRT quantize/dequantize layer (what add_quantize / add_dequantize create) with axis, blocks and zero
    point given at creation, so its shape check sees the final attributes."""
    attrs = {"to_type": to_type, "axis": int(axis)}
    if block_shape:
        attrs["block_shape"] = tuple(block_shape)
    layer = ctx.network.internal.add_layer(which, [x, scale] + ([zp] if zp is not None else []), attrs)
    return layer.get_output(0)


def _qdq_params(ctx, node, x, scale):
    """(axis, block_shape) from the node's attributes and the scale's shape; ``axis`` matters (and is checked)
    only for per-axis and blocked scales."""
    axis = int(node.attr("axis", 1)) if ctx.opset() >= 13 else 1
    block = int(node.attr("block_size", 0)) if ctx.opset() >= 21 else 0
    rank = ctx.rank(x)
    srank = ctx.rank(scale)
    per_tensor = not block and (srank == 0 or (srank == 1 and scale.shape[0] == 1))
    if per_tensor:
        return 1 if rank > 1 else 0, ()
    if block < 0:
        ctx.fail(f"block_size must be >= 0, got {block}", E.UNSUPPORTED_NODE_ATTR)
    if not -rank <= axis < max(rank, 1):
        ctx.fail(f"axis {axis} is out of range for input {x.name!r} of rank {rank}", E.INVALID_NODE)
    if block:
        shape = [1] * rank
        shape[axis % rank] = block
        return axis, tuple(shape)
    if srank > 1:
        ctx.fail(f"scale {scale.name!r} has rank {srank}; without block_size it must be a scalar or 1-D "
                 f"(per-axis) tensor", E.UNSUPPORTED_NODE_INPUT)
    if ctx.opset() < 13:
        ctx.fail("per-axis scales need opset 13 or later", E.UNSUPPORTED_NODE_INPUT)
    return axis, ()


def _onnx_type(ctx, node, i):
    name = node.input(i)
    return ctx.onnx_type(name) if name else None


def _bits16(ctx, node):
    """"int16" / "uint16" when QuantizeLinear's output type is a 16-bit integer (held as INT32), else ""."""
    from onnx import TensorProto as T

    t = _onnx_type(ctx, node, 2)
    if t is None and node.has_attr("output_dtype"):
        t = int(node.attr("output_dtype"))
    return {T.INT16: "int16", T.UINT16: "uint16"}.get(t, "")


@importer("QuantizeLinear", since=10)
def quantize_linear(ctx, node):
    x, scale, zp = ctx.tensor(node.inputs[0]), ctx.tensor(node.inputs[1]), _opt(ctx, node, 2)
    if zp is not None:
        to_type = zp.dtype
    elif node.has_attr("output_dtype") and node.attr("output_dtype") != 0:
        to_type = ctx.dtype(node.attr("output_dtype"))
    else:
        to_type = DataType.UINT8
    bits16 = _bits16(ctx, node)
    if to_type not in _Q_TYPES and not bits16:
        ctx.fail(f"cannot quantize to {to_type.name}; use {_Q_NAMES}", E.UNSUPPORTED_NODE_DATATYPE)
    if x.dtype != scale.dtype and scale.dtype in FLOAT_TYPES:
        x = ctx.cast(x, scale.dtype)
    axis, block = _qdq_params(ctx, node, x, scale)
    saturate = bool(node.attr("saturate", 1)) if ctx.opset() >= 19 else True
    if to_type in _FP8_TYPES:
        zp = None  # an FP8 zero point is always 0 in ONNX
    if bits16 or (to_type in _FP8_TYPES and not saturate):
        attrs = {"axis": axis, "block_size": block[axis % len(block)] if block else 0, "to_type": to_type,
                 "saturate": saturate, "bits16": bits16}
        layer = ctx.network.internal.add_layer("onnx_quantize", [x, scale, zp], attrs)
        return [layer.get_output(0)]
    return [_qdq_layer(ctx, "quantize", x, scale, zp, to_type, axis, block)]


@importer("DequantizeLinear", since=10)
def dequantize_linear(ctx, node):
    x, scale, zp = ctx.tensor(node.inputs[0]), ctx.tensor(node.inputs[1]), _opt(ctx, node, 2)
    if x.dtype not in _Q_TYPES + (DataType.INT32,):   # 16-bit integers are held (exactly) as INT32
        ctx.fail(f"cannot dequantize {x.dtype.name} input {x.name!r}; use {_Q_NAMES} or INT32",
                 E.UNSUPPORTED_NODE_DATATYPE)
    if x.dtype in _FP8_TYPES:
        zp = None
    axis, block = _qdq_params(ctx, node, x, scale)
    out_type = scale.dtype
    if node.has_attr("output_dtype") and node.attr("output_dtype") != 0:
        out_type = ctx.dtype(node.attr("output_dtype"))
    return [_qdq_layer(ctx, "dequantize", x, scale, zp, out_type, axis, block)]


@importer("DynamicQuantizeLinear", since=11)
def dynamic_quantize_linear(ctx, node):
    x = ctx.tensor(node.inputs[0])
    if x.dtype != DataType.FLOAT:
        x = ctx.cast(x, DataType.FLOAT)
    layer = ctx.network.internal.add_layer("dynamic_quantize_linear", [x])
    return [layer.get_output(i) for i in range(3)]


def _int8_input(ctx, node, i, what):
    t = ctx.tensor(node.inputs[i])
    if t.dtype not in (DataType.INT8, DataType.UINT8):
        ctx.fail(f"{what} {t.name!r} must be INT8 or UINT8, got {t.dtype.name}", E.UNSUPPORTED_NODE_DATATYPE)
    return t


@importer("MatMulInteger", since=10)
def matmul_integer(ctx, node):
    a, b = _int8_input(ctx, node, 0, "A"), _int8_input(ctx, node, 1, "B")
    layer = ctx.network.internal.add_layer("integer_matmul", [a, b, _opt(ctx, node, 2), _opt(ctx, node, 3)])
    return [layer.get_output(0)]


def _conv_attrs(ctx, node):
    auto_pad = node.attr("auto_pad", "NOTSET")
    if auto_pad not in _AUTO_PADS:
        ctx.fail(f"auto_pad {auto_pad!r} is not one of {', '.join(_AUTO_PADS)}", E.UNSUPPORTED_NODE_ATTR)
    return {"strides": tuple(node.attr("strides", ())), "pads": tuple(node.attr("pads", ())),
            "dilations": tuple(node.attr("dilations", ())), "group": int(node.attr("group", 1)),
            "auto_pad": auto_pad}


@importer("ConvInteger", since=10)
def conv_integer(ctx, node):
    x, w = _int8_input(ctx, node, 0, "x"), _int8_input(ctx, node, 1, "w")
    layer = ctx.network.internal.add_layer("integer_conv", [x, w, _opt(ctx, node, 2), _opt(ctx, node, 3)],
                                           _conv_attrs(ctx, node))
    return [layer.get_output(0)]


def _requantize(ctx, node, acc, a_scale, b_scale, y_scale, y_zp, axis, a_axis):
    if y_zp.dtype not in (DataType.INT8, DataType.UINT8):
        ctx.fail(f"y_zero_point must be INT8 or UINT8, got {y_zp.dtype.name}", E.UNSUPPORTED_NODE_DATATYPE)
    layer = ctx.network.internal.add_layer("requantize", [acc, a_scale, b_scale, y_scale, y_zp],
                             {"axis": axis, "a_axis": a_axis, "to_type": y_zp.dtype})
    return layer.get_output(0)


@importer("QLinearMatMul", since=10)
def qlinear_matmul(ctx, node):
    a, b = _int8_input(ctx, node, 0, "a"), _int8_input(ctx, node, 3, "b")
    t = [ctx.tensor(node.inputs[i]) for i in (1, 2, 4, 5, 6, 7)]
    a_scale, a_zp, b_scale, b_zp, y_scale, y_zp = t
    acc = ctx.network.internal.add_layer("integer_matmul", [a, b, a_zp, b_zp]).get_output(0)
    return [_requantize(ctx, node, acc, a_scale, b_scale, y_scale, y_zp, axis=-1, a_axis=-2)]


@importer("QLinearConv", since=10)
def qlinear_conv(ctx, node):
    x, w = _int8_input(ctx, node, 0, "x"), _int8_input(ctx, node, 3, "w")
    x_scale, x_zp, w_scale, w_zp, y_scale, y_zp = (ctx.tensor(node.inputs[i]) for i in (1, 2, 4, 5, 6, 7))
    bias = _opt(ctx, node, 8)
    if bias is not None and bias.dtype != DataType.INT32:
        ctx.fail(f"bias {bias.name!r} must be INT32, got {bias.dtype.name}", E.UNSUPPORTED_NODE_DATATYPE)
    acc = ctx.network.internal.add_layer("integer_conv", [x, w, x_zp, w_zp, bias], _conv_attrs(ctx, node)).get_output(0)
    return [_requantize(ctx, node, acc, x_scale, w_scale, y_scale, y_zp, axis=1, a_axis=1)]
