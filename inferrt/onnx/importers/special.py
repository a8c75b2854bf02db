"""Importers for the rest of ONNX's inference operators that TensorRT restricts or lacks: GridSample, AffineGrid,
Col2Im, CenterCropPad, Det, MaxRoiPool, RoiAlign, MaxUnpool, the random generators (seeded), Swish and the
Optional ops (when the optional's presence is known at import time).
"""
from __future__ import annotations

import numpy as np

from ...dtypes import FLOAT_TYPES as _FLOATS
from ...enums import ActivationType, DataType, ElementWiseOperation as EW, InterpolationMode, ParserErrorCode as E
from ...enums import SampleMode
from ..registry import importer


def _float_input(ctx, node, i, what="input"):
    t = ctx.tensor(node.inputs[i])
    if t.dtype not in _FLOATS:
        ctx.fail(f"{what} {t.name!r} must be FLOAT, FLOAT16 or BFLOAT16, got {t.dtype.name}",
                 E.UNSUPPORTED_NODE_DATATYPE)
    return t


def _int64_input(ctx, node, i):
    return ctx.cast(ctx.tensor(node.inputs[i]), DataType.INT64)


def _add(ctx, kind, inputs, attrs=None, n_out=1):
    layer = ctx.network.internal.add_layer(kind, inputs, attrs or {})
    return [layer.get_output(i) for i in range(n_out)]


# ----------------------------------------------------------------------------------------------- sampling
_GS_MODES = {"bilinear": InterpolationMode.LINEAR, "linear": InterpolationMode.LINEAR,
             "nearest": InterpolationMode.NEAREST, "bicubic": InterpolationMode.CUBIC, "cubic": InterpolationMode.CUBIC}
_GS_PADDING = {"zeros": SampleMode.FILL, "border": SampleMode.CLAMP, "reflection": SampleMode.REFLECT}


def _grid_sample(ctx, node, modes):
    x, grid = _float_input(ctx, node, 0), _float_input(ctx, node, 1, "grid")
    mode = node.attr("mode", modes[0])
    pad = node.attr("padding_mode", "zeros")
    if mode not in modes:
        ctx.fail(f"mode {mode!r} is not one of {', '.join(modes)} at opset {ctx.opset()}", E.UNSUPPORTED_NODE_ATTR)
    if pad not in _GS_PADDING:
        ctx.fail(f"padding_mode {pad!r} is not one of zeros, border, reflection", E.UNSUPPORTED_NODE_ATTR)
    if ctx.rank(x) not in (4, 5):
        ctx.fail(f"input {x.name!r} has rank {ctx.rank(x)}; GridSample supports 4-D and 5-D inputs",
                 E.UNSUPPORTED_NODE_SHAPE)
    if ctx.rank(x) == 5 and _GS_MODES[mode] == InterpolationMode.CUBIC:
        ctx.fail("cubic interpolation is supported for 4-D inputs only; use linear or nearest for 5-D",
                 E.UNSUPPORTED_NODE_ATTR)
    layer = ctx.network.add_grid_sample(x, ctx.cast(grid, x.dtype))
    layer.interpolation_mode = _GS_MODES[mode]
    layer.align_corners = bool(node.attr("align_corners", 0))
    layer.sample_mode = _GS_PADDING[pad]
    return [layer.get_output(0)]


@importer("GridSample", since=16)
def grid_sample_16(ctx, node):
    return _grid_sample(ctx, node, ("bilinear", "nearest", "bicubic"))


@importer("GridSample", since=20)
def grid_sample_20(ctx, node):
    return _grid_sample(ctx, node, ("linear", "nearest", "cubic"))


@importer("AffineGrid", since=20)
def affine_grid(ctx, node):
    theta = _float_input(ctx, node, 0, "theta")
    return _add(ctx, "affine_grid", [theta, _int64_input(ctx, node, 1)],
                {"align_corners": bool(node.attr("align_corners", 0))})


@importer("Col2Im", since=18)
def col2im(ctx, node):
    x = ctx.tensor(node.inputs[0])
    attrs = {k: tuple(node.attr(k, ())) for k in ("dilations", "pads", "strides")}
    return _add(ctx, "col2im", [x, _int64_input(ctx, node, 1), _int64_input(ctx, node, 2)], attrs)


@importer("CenterCropPad", since=18)
def center_crop_pad(ctx, node):
    x = ctx.tensor(node.inputs[0])
    return _add(ctx, "center_crop_pad", [x, _int64_input(ctx, node, 1)], {"axes": tuple(node.attr("axes", ()))})


# ----------------------------------------------------------------------------------------------- RoI / unpool
@importer("MaxRoiPool", since=1)
def max_roi_pool(ctx, node):
    x, rois = _float_input(ctx, node, 0), _float_input(ctx, node, 1, "rois")
    pooled = tuple(node.attr("pooled_shape"))
    return _add(ctx, "max_roi_pool", [x, ctx.cast(rois, x.dtype)],
                {"pooled_shape": pooled, "spatial_scale": float(node.attr("spatial_scale", 1.0))})


def _roi_align(ctx, node, default_ctm):
    x, rois = _float_input(ctx, node, 0), _float_input(ctx, node, 1, "rois")
    ctm = node.attr("coordinate_transformation_mode", default_ctm)
    if ctm not in ("half_pixel", "output_half_pixel"):
        ctx.fail(f"coordinate_transformation_mode {ctm!r} must be half_pixel or output_half_pixel",
                 E.UNSUPPORTED_NODE_ATTR)
    attrs = {"mode": node.attr("mode", "avg"), "output_height": int(node.attr("output_height", 1)),
             "output_width": int(node.attr("output_width", 1)), "sampling_ratio": int(node.attr("sampling_ratio", 0)),
             "spatial_scale": float(node.attr("spatial_scale", 1.0)), "half_pixel": ctm == "half_pixel"}
    return _add(ctx, "roi_align", [x, ctx.cast(rois, x.dtype), _int64_input(ctx, node, 2)], attrs)


@importer("RoiAlign", since=10)
def roi_align_10(ctx, node):
    return _roi_align(ctx, node, "output_half_pixel")


@importer("RoiAlign", since=16)
def roi_align_16(ctx, node):
    return _roi_align(ctx, node, "half_pixel")


@importer("MaxUnpool", since=9)
def max_unpool(ctx, node):
    x, idx = ctx.tensor(node.inputs[0]), _int64_input(ctx, node, 1)
    out = _int64_input(ctx, node, 2) if node.input(2) else None
    attrs = {"kernel_shape": tuple(node.attr("kernel_shape")), "strides": tuple(node.attr("strides", ())),
             "pads": tuple(node.attr("pads", ()))}
    return _add(ctx, "max_unpool", [x, idx, out], attrs)


# ----------------------------------------------------------------------------------------------- math
@importer("Det", since=11)
def det(ctx, node):
    return _add(ctx, "det", [_float_input(ctx, node, 0)])


@importer("Swish", since=24)
def swish(ctx, node):
    """x * sigmoid(alpha * x)."""
    x = _float_input(ctx, node, 0)
    alpha = float(node.attr("alpha", 1.0))
    scaled = x
    if alpha != 1.0:
        scaled = ctx.elementwise(x, ctx.cast(ctx.constant(np.array(alpha, np.float32)), x.dtype), EW.PROD)
    return [ctx.elementwise(x, ctx.activation(scaled, ActivationType.SIGMOID), EW.PROD)]


# ----------------------------------------------------------------------------------------------- random
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
    return _add(ctx, "random", ins, attrs)


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
    p = _float_input(ctx, node, 0, "probabilities")
    to = _dtype_attr(ctx, node, p.dtype)
    if to in _FLOATS:
        return _add(ctx, "bernoulli", [p], {"seed": _seed(node), "to_type": to})
    y = _add(ctx, "bernoulli", [p], {"seed": _seed(node), "to_type": DataType.FLOAT})[0]
    return [ctx.cast(y, to)]


@importer("Multinomial", since=7)
def multinomial(ctx, node):
    x = _float_input(ctx, node, 0)
    to = _dtype_attr(ctx, node, DataType.INT32)
    if to not in (DataType.INT32, DataType.INT64):
        ctx.fail(f"dtype {to.name} must be INT32 or INT64", E.UNSUPPORTED_NODE_DATATYPE)
    return _add(ctx, "multinomial", [x], {"sample_size": int(node.attr("sample_size", 1)), "seed": _seed(node),
                                          "to_type": to})


# ----------------------------------------------------------------------------------------------- optional
def _bound(ctx, name):
    return bool(name) and ctx.has(name)


@importer("Optional", since=15)
def optional(ctx, node):
    """An optional holding its input, or an empty optional (its output stays unbound) when there is none."""
    name = node.input(0)
    return [ctx.tensor(name) if name else None]


@importer("OptionalHasElement", since=15)
def optional_has_element(ctx, node):
    return [ctx.constant(np.array(_bound(ctx, node.input(0)), dtype=np.bool_))]


@importer("OptionalGetElement", since=15)
def optional_get_element(ctx, node):
    name = node.input(0)
    if not _bound(ctx, name):
        ctx.fail(f"optional {name!r} is empty here, so it has no element to get; guard it with OptionalHasElement "
                 f"and If, or give it a value", E.INVALID_NODE)
    return [ctx.tensor(name)]


# ----------------------------------------------------------------------------------------------- newer ops
@importer("DeformConv", since=19)
def deform_conv(ctx, node):
    x, w, off = _float_input(ctx, node, 0), _float_input(ctx, node, 1, "W"), _float_input(ctx, node, 2, "offset")
    if ctx.rank(x) != 4:
        ctx.fail(f"input {x.name!r} has rank {ctx.rank(x)}; only 2-D deformable convolution (N, C, H, W) is "
                 f"supported", E.UNSUPPORTED_NODE_SHAPE)
    ks = node.attr("kernel_shape", None)
    if ks is not None and w.shape[2:] and all(d >= 0 for d in w.shape[2:]) and tuple(ks) != tuple(w.shape[2:]):
        ctx.fail(f"kernel_shape {tuple(ks)} differs from the weights' {tuple(w.shape[2:])}", E.INVALID_NODE)
    bias = ctx.tensor(node.input(3)) if node.input(3) else None
    mask = ctx.tensor(node.input(4)) if node.input(4) else None
    attrs = {"strides": tuple(node.attr("strides", ())), "pads": tuple(node.attr("pads", ())),
             "dilations": tuple(node.attr("dilations", ())), "group": int(node.attr("group", 1)),
             "offset_group": int(node.attr("offset_group", 1))}
    return _add(ctx, "deform_conv", [x, w, off, bias, mask], attrs)


@importer("CumProd", since=26)
def cum_prod(ctx, node):
    x = ctx.tensor(node.inputs[0])
    attrs = {"exclusive": bool(node.attr("exclusive", 0)), "reverse": bool(node.attr("reverse", 0))}
    v = ctx.value(node.inputs[1])
    if v is None:                        # a run-time axis: the op reads it when it runs
        return _add(ctx, "cumprod", [x, _int64_input(ctx, node, 1)], attrs)
    axis = int(np.asarray(v).reshape(-1)[0])
    rank = ctx.rank(x)
    if not -rank <= axis < max(rank, 1):
        ctx.fail(f"axis {axis} is out of range for input {x.name!r} of rank {rank}", E.INVALID_NODE)
    return _add(ctx, "cumprod", [x], dict(attrs, axis=axis))


@importer("BitCast", since=26)
def bit_cast(ctx, node):
    return _add(ctx, "bitcast", [ctx.tensor(node.inputs[0])], {"to_type": ctx.dtype(int(node.attr("to")))})


@importer("TensorScatter", since=24)
def tensor_scatter(ctx, node):
    past, upd = ctx.tensor(node.inputs[0]), ctx.tensor(node.inputs[1])
    wi = _int64_input(ctx, node, 2) if node.input(2) else None
    mode = node.attr("mode", "linear")
    if mode not in ("linear", "circular"):
        ctx.fail(f"mode {mode!r} must be 'linear' or 'circular'", E.UNSUPPORTED_NODE_ATTR)
    return _add(ctx, "tensor_scatter", [past, ctx.cast(upd, past.dtype), wi],
                {"axis": int(node.attr("axis", -2)), "mode": mode})
