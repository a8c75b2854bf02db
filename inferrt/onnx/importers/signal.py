"""Signal importers: DFT (opsets 17 and 20), STFT, HannWindow, HammingWindow, BlackmanWindow, MelWeightMatrix.

Each maps onto one op of ``ops/signal.py``; window and mel matrices with constant sizes fold to constants at build
time through shape inference's value propagation.
"""
from __future__ import annotations

import numpy as np

from ...dtypes import FLOAT_TYPES as _FLOATS
from ...enums import DataType, ParserErrorCode as E
from ...ir.kinds import Kind
from ..registry import importer


def _signal(ctx, node):
    x = ctx.tensor(node.inputs[0])
    if x.dtype not in _FLOATS:
        ctx.fail(f"input {x.name!r} must be a floating-point tensor, got {x.dtype.name}", E.UNSUPPORTED_NODE_DATATYPE)
    rank = ctx.rank(x)
    if rank < 2 or x.shape[-1] not in (1, 2, -1):
        ctx.fail(f"input {x.name!r} of shape {tuple(x.shape)} must end in a dimension of 1 (real) or 2 (complex)",
                 E.UNSUPPORTED_NODE_SHAPE)
    return x, rank


def _int_input(ctx, node, i):
    name = node.input(i)
    if not name:
        return None
    t = ctx.tensor(name)
    if t.dtype not in (DataType.INT32, DataType.INT64):
        ctx.fail(f"input {i} ({name!r}) must be INT32 or INT64, got {t.dtype.name}", E.UNSUPPORTED_NODE_DATATYPE)
    return t


def _dft(ctx, node, axis, axis_tensor=None):
    x, rank = _signal(ctx, node)
    if axis_tensor is not None:          # known only at run time: the op checks it then
        axis = -2
    if not -rank <= axis < rank:
        ctx.fail(f"axis {axis} is out of range for the rank-{rank} input", E.UNSUPPORTED_NODE_ATTR)
    if axis % rank == rank - 1:
        ctx.fail(f"axis {axis} is the trailing real/imaginary dimension; choose one of 0..{rank - 2}",
                 E.UNSUPPORTED_NODE_ATTR)
    inverse, onesided = bool(node.attr("inverse", 0)), bool(node.attr("onesided", 0))
    if onesided and not inverse and x.shape[-1] == 2:
        ctx.fail("a onesided DFT needs a real input (trailing dimension 1)", E.UNSUPPORTED_NODE_INPUT)
    ins = [x, _int_input(ctx, node, 1) if node.input(1) else None]
    if axis_tensor is not None:
        ins.append(axis_tensor)
    layer = ctx.network.internal.add_layer(Kind.DFT, ins, {"axis": axis, "inverse": inverse, "onesided": onesided})
    return [layer.get_output(0)]


@importer("DFT", since=17)
def dft_17(ctx, node):
    return _dft(ctx, node, int(node.attr("axis", 1)))


@importer("DFT", since=20)
def dft_20(ctx, node):
    axis = -2
    if node.input(2):
        v = ctx.value(node.input(2))
        if v is None:                    # a run-time axis: output dims are known once it is
            return _dft(ctx, node, axis, _int_input(ctx, node, 2))
        axis = int(np.asarray(v).reshape(-1)[0])
    return _dft(ctx, node, axis)


@importer("STFT", since=17)
def stft(ctx, node):
    x, rank = _signal(ctx, node)
    if rank != 3:
        ctx.fail(f"signal {x.name!r} must be [batch, length, 1|2], got shape {tuple(x.shape)}",
                 E.UNSUPPORTED_NODE_SHAPE)
    onesided = bool(node.attr("onesided", 1))
    step = _int_input(ctx, node, 1)
    window = ctx.tensor(node.input(2)) if node.input(2) else None
    if window is not None:
        if ctx.rank(window) != 1:
            ctx.fail(f"window {window.name!r} must be 1-D, got shape {tuple(window.shape)}", E.UNSUPPORTED_NODE_SHAPE)
        window = ctx.cast(window, x.dtype)
    frame_len = _int_input(ctx, node, 3)
    layer = ctx.network.internal.add_layer(Kind.STFT, [x, step, window, frame_len], {"onesided": onesided})
    return [layer.get_output(0)]


def _out_type(ctx, node, default=1):
    dt = ctx.dtype(int(node.attr("output_datatype", default)))
    if dt not in _FLOATS:
        ctx.fail(f"output_datatype {dt.name} is not a floating-point type", E.UNSUPPORTED_NODE_ATTR)
    return dt


def _window(ctx, node, kind):
    size = _int_input(ctx, node, 0)
    attrs = {"window": kind, "periodic": bool(node.attr("periodic", 1)), "to_type": _out_type(ctx, node)}
    layer = ctx.network.internal.add_layer(Kind.WINDOW, [size], attrs)
    return [layer.get_output(0)]


@importer("HannWindow", since=17)
def hann_window(ctx, node):
    return _window(ctx, node, "hann")


@importer("HammingWindow", since=17)
def hamming_window(ctx, node):
    return _window(ctx, node, "hamming")


@importer("BlackmanWindow", since=17)
def blackman_window(ctx, node):
    return _window(ctx, node, "blackman")


@importer("MelWeightMatrix", since=17)
def mel_weight_matrix(ctx, node):
    ins = [_int_input(ctx, node, i) for i in range(3)]
    for i in (3, 4):
        t = ctx.tensor(node.inputs[i])
        ins.append(ctx.cast(t, DataType.FLOAT))
    layer = ctx.network.internal.add_layer(Kind.MEL_WEIGHT_MATRIX, ins, {"to_type": _out_type(ctx, node)})
    return [layer.get_output(0)]
