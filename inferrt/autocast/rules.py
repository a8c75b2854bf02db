"""The rules that keep a node in FP32. Each returns a Reason (the rule's name and what it saw) or None.

The range rules read the measured magnitudes and only look at the node's values that would change type (its
lowerable float32 inputs and outputs): an int64 index or a float32 ``scales`` input that stays float32 is no risk.

- ``data_max``: a value the node would read or write in low precision exceeds ``data_max`` in magnitude (float16
  keeps 11 significant bits: its ULP is 0.5 at 512, 32 at 65504, then inf);
- ``init_max``: an initializer the node would read in low precision exceeds ``init_max`` (past 65504 it becomes
  inf in float16);
- ``max_depth_of_reduction``: the node sums more terms than allowed (MatMul/Gemm K, Conv C/group x kernel volume,
  the reduced axes of a Reduce op, a CumSum axis): low precision accumulation error grows with the depth;
- ``norm_variance``: the node is on the variance path of a decomposed LayerNorm/RMSNorm (``norm_variance.py``);
- ``nodes_to_exclude`` / ``op_types_to_exclude``: the user's lists.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from .options import name_matches

_REDUCE = {"ReduceSum", "ReduceMean", "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
           "ReduceProd"}


@dataclasses.dataclass
class Reason:
    rule: str      # the rule's name (a knob name, or a structural reason)
    detail: str    # what it saw, with the value or pattern

    def __str__(self):
        return f"{self.rule}: {self.detail}"


def _fmt(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.6g}"


def excluded_by_name(node, patterns) -> Reason | None:
    for p in patterns:
        if name_matches(p, node.name):
            return Reason("nodes_to_exclude", f"name matches {p!r}")
    return None


def excluded_by_op_type(node, op_types) -> Reason | None:
    if node.op_type in op_types:
        return Reason("op_types_to_exclude", f"op type {node.op_type}")
    return None


def included(node, opts) -> Reason | None:
    for p in opts.nodes_to_include:
        if name_matches(p, node.name):
            return Reason("nodes_to_include", f"name matches {p!r}")
    if node.op_type in opts.op_types_to_include:
        return Reason("op_types_to_include", f"op type {node.op_type}")
    return None


def initializer_range(node, lowerable_inputs, init_max_abs: dict, init_max: float) -> Reason | None:
    worst = None
    for i in lowerable_inputs:
        m = init_max_abs.get(node.input[i])
        if m is not None and m > init_max and (worst is None or m > worst[1]):
            worst = (node.input[i], m)
    if worst:
        return Reason("init_max", f"initializer {worst[0]!r} has |x| up to {_fmt(worst[1])} > {_fmt(init_max)}")
    return None


def io_range(node, types, stats: dict, data_max: float) -> Reason | None:
    worst = None
    for kind, names, idx in (("input", node.input, types.lowerable_inputs),
                             ("output", node.output, types.lowerable_outputs)):
        for i in idx:
            s = stats.get(names[i])
            if s is not None and s.max_abs > data_max and (worst is None or s.max_abs > worst[2]):
                worst = (kind, names[i], s.max_abs)
    if worst:
        return Reason("data_max", f"{worst[0]} {worst[1]!r} reaches |x| = {_fmt(worst[2])} > {_fmt(data_max)} on "
                                  f"the calibration data")
    return None


def _attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return a
    return default


def reduction_depth(node, shape_of, const_of) -> int | None:
    """How many terms one output element of the node sums, or None when the op does not reduce or the shapes
    are not known. ``shape_of(name)``: a value's shape; ``const_of(name)``: an initializer's array or None."""
    op = node.op_type
    x = shape_of(node.input[0]) if node.input else None
    if x is None:
        return None
    if op == "MatMul" and len(x) >= 1:
        return int(x[-1])
    if op == "Gemm" and len(x) == 2:
        ta = _attr(node, "transA")
        return int(x[0] if ta is not None and ta.i else x[1])
    if op in ("Conv", "ConvTranspose") and len(node.input) > 1:
        w = shape_of(node.input[1])
        if w is None or len(w) < 3:
            return None
        g = _attr(node, "group")
        groups = g.i if g is not None else 1
        cin = w[1] if op == "Conv" else w[0] // max(groups, 1)
        return int(cin * int(np.prod(w[2:])))
    if op == "CumSum" and len(node.input) > 1:
        axis = const_of(node.input[1])
        if axis is None or axis.size != 1:
            return None
        return int(x[int(axis.reshape(-1)[0]) % len(x)]) if x else None
    if op in _REDUCE:
        axes = None
        a = _attr(node, "axes")
        if a is not None:
            axes = list(a.ints)
        elif len(node.input) > 1 and node.input[1]:
            c = const_of(node.input[1])
            if c is None:
                return None
            axes = [int(v) for v in c.reshape(-1)]
        if not axes:
            noop = _attr(node, "noop_with_empty_axes")
            if noop is not None and noop.i:
                return None
            axes = list(range(len(x)))
        return int(np.prod([x[ax % len(x)] for ax in axes])) if x else 1
    return None


def depth_of_reduction(node, shape_of, const_of, limit) -> Reason | None:
    if limit is None:
        return None
    d = reduction_depth(node, shape_of, const_of)
    if d is not None and d > limit:
        return Reason("max_depth_of_reduction", f"sums {d} terms per output > {limit}")
    return None


def norm_variance(node, variance_path: dict) -> Reason | None:
    sq = variance_path.get(node.name)
    if sq is None:
        return None
    return Reason("norm_variance", f"on the variance path of a decomposed normalization (square {sq!r} -> "
                                   f"ReduceMean -> Sqrt): small values underflow float16 there")
