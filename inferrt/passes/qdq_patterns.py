"""What the Q/DQ passes match: a quantized constant (a dequantize layer of a low-bit constant), whether a value
reaches a product's weight input through shape movers only, and how a per-axis or block scale follows a shuffle
(TensorRT's Q/DQ propagation: a dequantize moves past a transpose or reshape when its scale can follow).

Used by ``fold_constants`` (keeps those dequantize layers, so the weights stay quantized), ``propagate_dequantize``
(moves them past shuffles), ``fold_batchnorm_into_weights`` (folds a BatchNorm scale into the dequantize scale)
and ``fuse_qdq`` (makes the quantized product).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir.graph import Node
from ..ir.kinds import Kind
from ..ops.quantized import KERNEL_TYPES
from .rewrite import View, plain

#: the products whose input 1 is a weight fuse_qdq can take (a deconvolution's quantized kernel is folded to float
#: by fold_constants as before, so BatchNorm still folds into it)
PRODUCTS = (Kind.CONVOLUTION, Kind.MATRIX_MULTIPLY, Kind.FUSED_CONV, Kind.FUSED_MATMUL)
_MAX_CHAIN = 8


@dataclass
class QuantizedConst:
    """A dequantize layer of constants: ``values`` (low-bit, as stored), ``scale`` (float32), the layer's axis and
    block shape, and the values' DataType."""

    node: Node
    values: np.ndarray
    scale: np.ndarray
    axis: int
    block_shape: tuple
    dtype: object

    @property
    def per_tensor(self) -> bool:
        return not self.block_shape and self.scale.size == 1

    def channel_axis(self) -> int | None:
        """The axis the scale varies along (per-axis scales), normalized; None for per-tensor or block scales."""
        if self.block_shape or self.scale.size == 1:
            return None
        return self.axis % self.values.ndim


def constant_dequantize(view: View, v: str) -> QuantizedConst | None:
    """``v`` when a plain dequantize layer of a low-bit constant with a constant scale and a zero (or no) zero
    point produces it."""
    n = view.producer(v, Kind.DEQUANTIZE)
    if n is None or not plain(n) or len(n.inputs) < 2:
        return None
    q, s = view.const(n.inputs[0]), view.const(n.inputs[1])
    if q is None or s is None or view.spec(n.inputs[0]).dtype not in KERNEL_TYPES or s.dtype.kind != "f":
        return None
    if len(n.inputs) > 2 and n.inputs[2]:
        zp = view.const(n.inputs[2])
        if zp is None or np.any(np.asarray(zp).astype(np.float32) != 0):
            return None
    return QuantizedConst(n, q, np.asarray(s, np.float32), int(n.attrs.axis), tuple(n.attrs.block_shape),
                          view.spec(n.inputs[0]).dtype)


def feeds_product_weight(view: View, v: str) -> bool:
    """Every reader of ``v`` takes it as a product's weight (input 1), directly or through shuffles that only
    lead there; ``v`` is no graph output."""
    frontier, steps = [v], 0
    while frontier:
        steps += 1
        if steps > 64:
            return False
        cur = frontier.pop()
        readers = view.uses(cur)
        if not readers or cur in view.outputs:
            return False
        for r in readers:
            if r.kind in PRODUCTS and len(r.inputs) > 1 and r.inputs[1] == cur and r.inputs[0] != cur:
                continue
            if r.kind == Kind.SHUFFLE and r.inputs[0] == cur and len(frontier) < _MAX_CHAIN:
                frontier.append(r.outputs[0])
                continue
            return False
    return True


def _reshape_axis(before, after, axis):
    """The axis of ``after`` that holds ``before[axis]`` unchanged by a reshape (same size, same number of values
    ahead of it), or None."""
    lead = int(np.prod(before[:axis], dtype=np.int64))
    for j, d in enumerate(after):
        if d == before[axis] and int(np.prod(after[:j], dtype=np.int64)) == lead:
            return j
    return None


def _shuffle_shapes(s: Node, in_shape, out_shape):
    """(first transpose, the reshape's target) of a shuffle with static shapes; the second transpose is
    ``s.attrs.second_transpose``."""
    first = tuple(s.attrs.first_transpose) or tuple(range(len(in_shape)))
    second = tuple(s.attrs.second_transpose)
    mid = tuple(out_shape)
    if second:
        inv = np.argsort(second)
        mid = tuple(out_shape[i] for i in inv)
    return first, mid, second


def shuffled(qc: QuantizedConst, s: Node, out_shape) -> tuple | None:
    """The quantized constant as the shuffle ``s`` leaves it: (values, scale, axis, block_shape), or None when
    the scale cannot follow (a reshape that splits or merges the scaled axis, or changes a blocked one)."""
    vals, scale = np.asarray(qc.values), np.asarray(qc.scale)
    if any(d < 0 for d in out_shape) or len(s.inputs) > 1 and s.inputs[1]:
        return None
    first, mid, second = _shuffle_shapes(s, vals.shape, out_shape)
    a = vals.transpose(first)
    if qc.block_shape:
        block = tuple(qc.block_shape[p] for p in first)
        sc = scale.transpose(first)
        if tuple(d for d in a.shape if d != 1) != tuple(d for d in mid if d != 1):
            return None   # blocks follow transposes and unit dimensions only
        keep = [i for i, d in enumerate(a.shape) if d != 1]
        new_block, new_scale_shape, it = [], [], iter(keep)
        for d in mid:
            if d == 1:
                new_block.append(1)
                new_scale_shape.append(1)
            else:
                i = next(it)
                new_block.append(block[i])
                new_scale_shape.append(sc.shape[i])
        sc = sc.reshape(new_scale_shape)
        out = a.reshape(mid)
        if second:
            out, sc = out.transpose(second), sc.transpose(second)
            new_block = [new_block[p] for p in second]
        return np.ascontiguousarray(out), np.ascontiguousarray(sc), 0, tuple(new_block)
    axis = 0
    if scale.size != 1:
        axis = first.index(qc.axis % vals.ndim)
        axis = _reshape_axis(a.shape, mid, axis)
        if axis is None:
            return None
        if second:
            axis = second.index(axis)
    out = a.reshape(mid)
    if second:
        out = out.transpose(second)
    return np.ascontiguousarray(out), scale, axis, ()
