"""``pointwise``: a fused chain of elementwise / unary / activation / cast layers, described by a small program.

The ``program`` attribute is a JSON list of instructions; instruction ``i`` defines register ``i`` and the last
register is the output. Operands are register numbers of earlier instructions.

    ["input", k]                      input tensor k of the node
    ["scalar", value, "FLOAT"]        a scalar constant (broadcast; takes the other operand's type when combined)
    ["binary", "SUM", a, b]           ElementWiseOperation name
    ["unary", "EXP", a]               UnaryOperation name
    ["act", "RELU", alpha, beta, a]   ActivationType name with alpha / beta
    ["cast", "HALF", a]               DataType name
    ["prelu", a, slopes]              parametric ReLU

Example, ``sigmoid(x + b) * x``: ``[["input", 0], ["input", 1], ["binary", "SUM", 0, 1],
["act", "SIGMOID", 0.0, 0.0, 2], ["binary", "PROD", 3, 0]]``. Produced by ``passes/fuse_pointwise.py``; the
generic implementation runs it with torch ops; a GPU tactic can generate one kernel from the same program.
"""
from __future__ import annotations

import torch

from ..dtypes import torch_dtype
from ..enums import ActivationType as AT, DataType, ElementWiseOperation as EW, LayerType, UnaryOperation as U
from ..ir.kinds import Kind
from .activation import ACTIVATIONS
from .base import JSON, Attrs, OpDef, OpError, Spec, broadcast_shapes, get_op, register
from .elementwise import BINARY, UNARY

_BOOL_OUT = {"AND", "OR", "XOR", "EQUAL", "GREATER", "LESS"}
_ARITY = {"input": 1, "scalar": 2, "binary": 3, "unary": 2, "act": 4, "cast": 2, "prelu": 2}


def check_program(prog, num_inputs: int) -> None:
    if not isinstance(prog, (list, tuple)) or not prog:
        raise OpError("pointwise program must be a non-empty list of instructions")
    for i, ins in enumerate(prog):
        if not isinstance(ins, (list, tuple)) or not ins or ins[0] not in _ARITY or len(ins) != _ARITY[ins[0]] + 1:
            raise OpError(f"pointwise instruction {i} {ins!r} is malformed (known: {', '.join(_ARITY)})")
        op = ins[0]
        regs = {"binary": ins[2:], "unary": ins[2:], "act": ins[4:], "cast": ins[2:], "prelu": ins[1:]}.get(op, [])
        for r in regs:
            if not isinstance(r, int) or not 0 <= r < i:
                raise OpError(f"pointwise instruction {i} {ins!r} reads register {r!r}, which is not defined before it")
        if op == "input" and not (isinstance(ins[1], int) and 0 <= ins[1] < num_inputs):
            raise OpError(f"pointwise instruction {i} reads input {ins[1]!r} but the node has {num_inputs} inputs")
        names = {"binary": EW, "unary": U, "act": AT, "cast": DataType}
        if op in names and ins[1] not in names[op].__members__:
            raise OpError(f"pointwise instruction {i}: {ins[1]!r} is not a {names[op].__name__}")
        if op == "scalar" and ins[2] not in DataType.__members__:
            raise OpError(f"pointwise instruction {i}: {ins[2]!r} is not a DataType")


@register
class Pointwise(OpDef):
    kind = "pointwise"
    layer_type = LayerType.POINTWISE
    attrs = {"program": (JSON, list)}
    inputs = ("inputs",)
    min_inputs = 0
    pointwise = True

    def infer(self, a, ins):
        prog = a.program
        check_program(prog, len(ins))
        regs = []  # (dtype, shape, is_scalar)
        for i, ins_ in enumerate(prog):
            op = ins_[0]
            if op == "input":
                s = ins[ins_[1]]
                regs.append((s.dtype, s.shape, False))
            elif op == "scalar":
                regs.append((DataType[ins_[2]], (), True))
            elif op == "binary":
                x, y = regs[ins_[2]], regs[ins_[3]]
                dt = y[0] if x[2] and not y[2] else x[0]
                if x[1] is None or y[1] is None:
                    shape = None
                else:
                    shape = broadcast_shapes(x[1], y[1], where=f" (pointwise instruction {i})")
                regs.append((DataType.BOOL if ins_[1] in _BOOL_OUT else dt, shape, x[2] and y[2]))
            elif op == "unary":
                x = regs[ins_[2]]
                regs.append((DataType.BOOL if ins_[1] in ("ISINF", "ISNAN") else x[0], x[1], x[2]))
            elif op == "act":
                regs.append(regs[ins_[4]])
            elif op == "cast":
                x = regs[ins_[2]]
                regs.append((DataType[ins_[1]], x[1], x[2]))
            else:  # prelu
                x, s = regs[ins_[1]], regs[ins_[2]]
                regs.append(x)
        dt, shape, _ = regs[-1]
        return [Spec(dt, None if shape is None else tuple(shape))]

    def run(self, a, ins, outs):
        return [run_program(a.program, ins)]


def run_program(prog, ins, registers: list | None = None):
    """Run ``prog`` on ``ins``; ``registers``, when given, is the list that receives every register (the build's
    range check reads the values a fused chain computes inside)."""
    regs: list = registers if registers is not None else []
    for ins_ in prog:
        op = ins_[0]
        if op == "input":
            regs.append(ins[ins_[1]])
        elif op == "scalar":
            regs.append(_Scalar(ins_[1], ins_[2]))
        elif op == "binary":
            x, y = _pair(regs[ins_[2]], regs[ins_[3]])
            regs.append(BINARY[EW[ins_[1]]](x, y))
        elif op == "unary":
            regs.append(UNARY[U[ins_[1]]](_tensor(regs[ins_[2]])))
        elif op == "act":
            regs.append(ACTIVATIONS[AT[ins_[1]]](_tensor(regs[ins_[4]]), float(ins_[2]), float(ins_[3])))
        elif op == "cast":
            regs.append(get_op(Kind.CAST).run(Attrs(to_type=DataType[ins_[1]]), [_tensor(regs[ins_[2]])], None)[0])
        else:
            x, s = _pair(regs[ins_[1]], regs[ins_[2]])
            regs.append(torch.where(x >= 0, x, x * s))
    return _tensor(regs[-1])


class _Scalar:
    def __init__(self, value, dtype):
        self.dtype = DataType[dtype]
        # non-finite floats are stored as strings ("inf", "-inf", "nan") so the program stays strict JSON
        self.value = float(value) if isinstance(value, str) else value

    def like(self, t):
        return torch.full((), self.value, dtype=t.dtype if t is not None else torch_dtype(self.dtype),
                          device=None if t is None else t.device)


def _tensor(r):
    return r.like(None) if isinstance(r, _Scalar) else r


def _pair(x, y):
    if isinstance(x, _Scalar):
        x = x.like(None if isinstance(y, _Scalar) else y)
    if isinstance(y, _Scalar):
        y = y.like(x)
    return x, y
