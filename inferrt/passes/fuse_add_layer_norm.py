"""LayerNorm fused with the residual add that feeds it.

    a ─┐                                      a ─┐
       Add ─ s ─ LayerNorm(γ, β; A, ε) ─ y  ==>   AddLayerNorm(γ, β; A, ε) ─ y
    b ─┘   └──── (other readers of s)         b ─┘                        └─ s ─ (other readers of s)

The sum is computed, normalized and (when anything else still reads it, or it is a network output) stored by one
layer, so the residual stream of a transformer is read once per block instead of twice. Matches ``layer_norm`` (from
``fuse_norms``) and ``normalization`` layers with one group (ONNX LayerNormalization) over trailing axes whose scale
and bias are constants (or absent) that do not widen the output, fed by an elementwise SUM of two tensors of the
normalized value's float type (broadcasting allowed, e.g. position embeddings).

Runs after the epilogue fusion: a residual add right after a matrix product is cheaper inside the product's epilogue
(stored once, read once by the LayerNorm) than here, so only the adds the epilogue fusion left (two activations, an
embedding sum) are taken; and before ``fuse_pointwise``, which would swallow the add.
"""
from __future__ import annotations

from ..dtypes import FLOAT_TYPES
from ..enums import ElementWiseOperation as EW
from ..ir.graph import Node
from ..ir.kinds import Kind
from ..ops.base import Attrs, axes_from_mask
from .fuse_softmax import node_of
from .rewrite import absorbed_origin, plain, sweep_fusions, until_fixed_point


def _coefficients(view, n):
    """[scale, bias] value names ("" when absent) of a LayerNorm-like node, or None when one is not a constant."""
    out = []
    for slot in (1, 2):
        v = n.inputs[slot] if len(n.inputs) > slot else ""
        if v and view.const(v) is None:
            return None
        out.append(v)
    return out


def _fits(coeff, shape) -> bool:
    """``coeff`` broadcasts into ``shape`` without widening it."""
    if coeff is None or len(coeff) > len(shape):
        return False
    return all(c == 1 or c == d for c, d in zip(reversed(coeff), reversed(shape)))


def _fusion(view, n, taken):
    if n.kind not in (Kind.LAYER_NORM, Kind.NORMALIZATION) or not plain(n) or id(n) in taken:
        return None
    if n.kind == Kind.NORMALIZATION and n.attrs.num_groups != 1:
        return None
    s = n.inputs[0]
    add = node_of(view, s, Kind.ELEMENTWISE, EW.SUM)
    if add is None or id(add) in taken or len(add.outputs) != 1:
        return None
    shape = view.shape(s)
    dt = view.spec(s).dtype
    if shape is None or dt not in FLOAT_TYPES or any(view.spec(i).dtype != dt for i in add.inputs):
        return None
    axes = axes_from_mask(n.attrs.axes, len(shape)) if 0 < n.attrs.axes < (1 << len(shape)) else []
    if not axes or axes != list(range(len(shape) - len(axes), len(shape))):
        return None
    if view.shape(n.outputs[0]) != shape or view.spec(n.outputs[0]).dtype != dt:
        return None   # scale / bias widen the output: not a LayerNorm of s alone
    coeffs = _coefficients(view, n)
    if coeffs is None or any(c and (view.spec(c).dtype != dt or not _fits(view.shape(c), shape)) for c in coeffs):
        return None
    keep_sum = not view.only_use(s, n)
    ins = list(add.inputs[:2]) + coeffs
    while not ins[-1]:
        ins.pop()
    outs = [n.outputs[0]] + ([s] if keep_sum else [])
    return [add, n], Node(n.name, Kind.ADD_LAYER_NORM, ins, outs, Attrs(axes=n.attrs.axes, epsilon=n.attrs.epsilon),
                          origin=absorbed_origin(view, add, n), info=n.info.copy())


def fuse_add_layer_norm(graph, ctx) -> int:
    return until_fixed_point(lambda g: sweep_fusions(g, _fusion), graph, name="fuse_add_layer_norm")
