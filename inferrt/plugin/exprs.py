"""Symbolic dimension expressions: TensorRT's ``IDimensionExpr``, ``IExprBuilder``, ``DimsExprs`` and
``DimensionOperation``.

A plugin computes its output shapes from its inputs' dims with these (``get_output_shapes(inputs, shape_inputs,
expr_builder)``), so one engine serves every shape of a profile. An expression is a small tree over constants and
input dims (``("d", input, axis)``); it also carries its value when every leaf is known. While the network is built,
dynamic dims (-1) are unknown leaves and an output dim whose expression has no value is dynamic (-1); when the engine
runs at concrete shapes the same function is evaluated again and every dim has a value. The tree form is what an AOT
plugin's launch parameters (grid, block, extra kernel arguments) are stored as in the plan (``to_json`` /
``from_json``), evaluated at run time on the shapes of that call with no Python definition of the plugin.
"""
from __future__ import annotations

from ..enums import make_enum
from ..errors import PlanError

DimensionOperation = make_enum("DimensionOperation", "SUM PROD MAX MIN SUB EQUAL LESS FLOOR_DIV CEIL_DIV")

_OPS = {
    "SUM": lambda a, b: a + b, "PROD": lambda a, b: a * b, "MAX": max, "MIN": min, "SUB": lambda a, b: a - b,
    "EQUAL": lambda a, b: int(a == b), "LESS": lambda a, b: int(a < b),
    "FLOOR_DIV": lambda a, b: a // b, "CEIL_DIV": lambda a, b: -((-a) // b),
}
MAX_DEPTH = 64
MAX_NODES = 4096


class IDimensionExpr:
    """One symbolic dimension (a tree over constants and input dims; ``value`` when known)."""

    __slots__ = ("tree", "value")

    def __init__(self, tree, value):
        self.tree = tree
        self.value = None if value is None else int(value)

    # -------------------------------------------------------------------------------------------- TensorRT API
    def is_constant(self) -> bool:
        """True when the value is known now (a constant, or built only from known dims)."""
        return self.value is not None

    def get_constant_value(self) -> int:
        if self.value is None:
            raise ValueError(f"dimension expression {self} is not a build-time constant (it depends on a dynamic "
                             f"dim); check is_constant() first")
        return self.value

    def is_size_tensor(self) -> bool:
        return False

    # -------------------------------------------------------------------------------------------- arithmetic
    def _op(self, name, other, swap=False):
        other = other if isinstance(other, IDimensionExpr) else constant_expr(other)
        a, b = (other, self) if swap else (self, other)
        return operation(name, a, b, type(self))

    def __add__(self, o):
        return self._op("SUM", o)

    def __radd__(self, o):
        return self._op("SUM", o, True)

    def __sub__(self, o):
        return self._op("SUB", o)

    def __rsub__(self, o):
        return self._op("SUB", o, True)

    def __mul__(self, o):
        return self._op("PROD", o)

    def __rmul__(self, o):
        return self._op("PROD", o, True)

    def __floordiv__(self, o):
        return self._op("FLOOR_DIV", o)

    def __rfloordiv__(self, o):
        return self._op("FLOOR_DIV", o, True)

    def __eq__(self, o):  # noqa: D105 - TensorRT's ShapeExpr compares symbolically only when both are known
        if isinstance(o, (IDimensionExpr, int)) and not isinstance(o, bool):
            other = o if isinstance(o, IDimensionExpr) else constant_expr(o)
            if self.value is not None and other.value is not None:
                return self.value == other.value
            return self.tree == other.tree
        return NotImplemented

    def __hash__(self):
        return hash(repr(self.tree))

    def __int__(self):
        return self.get_constant_value()

    __index__ = __int__

    def __repr__(self):
        return f"{type(self).__name__}({describe(self.tree)}" + \
            (f" = {self.value})" if self.value is not None and self.tree[0] != "c" else ")")

    # -------------------------------------------------------------------------------------------- plan form
    def to_json(self):
        return self.tree


def constant_expr(v, cls=IDimensionExpr) -> IDimensionExpr:
    if isinstance(v, IDimensionExpr):
        return v
    if isinstance(v, bool) or not isinstance(v, int):
        try:
            v = int(v)
        except (TypeError, ValueError):
            raise TypeError(f"a dimension expression is built from integers, got {v!r}") from None
    return cls(("c", int(v)), int(v))


def dim_expr(index: int, axis: int, value, cls=IDimensionExpr) -> IDimensionExpr:
    """Dim ``axis`` of input ``index``; ``value`` None (or < 0) while dynamic."""
    return cls(("d", int(index), int(axis)), value if value is not None and value >= 0 else None)


def operation(name: str, a: IDimensionExpr, b: IDimensionExpr, cls=IDimensionExpr) -> IDimensionExpr:
    value = None
    if a.value is not None and b.value is not None:
        if name in ("FLOOR_DIV", "CEIL_DIV") and b.value == 0:
            raise ValueError(f"dimension expression {describe(a.tree)} {name} {describe(b.tree)} divides by zero")
        value = _OPS[name](a.value, b.value)
    if a.tree[0] == "c" and b.tree[0] == "c":
        return cls(("c", value), value)
    return cls(("op", name, a.tree, b.tree), value)


def describe(tree) -> str:
    if tree[0] == "c":
        return str(tree[1])
    if tree[0] == "d":
        return f"in{tree[1]}[{tree[2]}]"
    if tree[0] == "s":
        return f"shape_in{tree[1]}[{tree[2]}]"
    return f"{tree[1]}({describe(tree[2])}, {describe(tree[3])})"


class DimsExprs(list):
    """A shape made of IDimensionExpr (TensorRT's ``DimsExprs``): ``DimsExprs(n)`` (n unset dims) or from a
    sequence of expressions or integers."""

    def __init__(self, dims=0):
        if isinstance(dims, int) and not isinstance(dims, bool):
            super().__init__([None] * dims)
        else:
            super().__init__(d if isinstance(d, IDimensionExpr) or d is None else constant_expr(d) for d in dims)

    @property
    def nbDims(self) -> int:  # noqa: N802 - TensorRT's name
        return len(self)

    def __setitem__(self, i, v):
        super().__setitem__(i, v if isinstance(v, IDimensionExpr) else constant_expr(v))


class IExprBuilder:
    """Builds dimension expressions: ``constant(v)``, ``operation(DimensionOperation, a, b)``."""

    def constant(self, value: int) -> IDimensionExpr:
        return constant_expr(value)

    def operation(self, op, first: IDimensionExpr, second: IDimensionExpr) -> IDimensionExpr:
        op = DimensionOperation.parse(op)
        return operation(op.name, constant_expr(first), constant_expr(second))

    def declare_size_tensor(self, output_index: int, opt_value, upper_bound):
        raise ValueError("declare_size_tensor: plugins with data-dependent output shapes (size tensors) are not "
                         "supported by inferrt; compute the output shape from the input dims (or use NonZero-style "
                         "layers before the plugin)")


# ------------------------------------------------------------------------------------------------ plan form
def evaluate(tree, shapes, values=()) -> int:
    """The value of a checked expression tree at concrete input ``shapes`` (lists of ints) and shape-input
    ``values`` (lists of ints)."""
    kind = tree[0]
    if kind == "c":
        return tree[1]
    if kind == "d":
        return int(shapes[tree[1]][tree[2]])
    if kind == "s":
        return int(values[tree[1]][tree[2]])
    a, b = evaluate(tree[2], shapes, values), evaluate(tree[3], shapes, values)
    if tree[1] in ("FLOOR_DIV", "CEIL_DIV") and b == 0:
        raise ValueError(f"dimension expression {describe(tree)} divides by zero")
    return _OPS[tree[1]](a, b)


def check_tree(tree, n_inputs: int, where: str, depth: int = 0, count=None, shape_inputs: int = 0) -> tuple:
    """A stored expression tree with every entry checked (PlanError naming ``where``); returned as tuples."""
    count = count if count is not None else [0]
    count[0] += 1
    if depth > MAX_DEPTH or count[0] > MAX_NODES:
        raise PlanError(f"corrupt plan: {where}: an expression nests deeper than {MAX_DEPTH} or has more than "
                        f"{MAX_NODES} nodes")
    ok_int = lambda v: isinstance(v, int) and not isinstance(v, bool)  # noqa: E731
    if isinstance(tree, list) and tree:
        if tree[0] == "c" and len(tree) == 2 and ok_int(tree[1]):
            return ("c", tree[1])
        if tree[0] == "d" and len(tree) == 3 and ok_int(tree[1]) and ok_int(tree[2]) and 0 <= tree[1] < n_inputs \
                and 0 <= tree[2] < 8:
            return ("d", tree[1], tree[2])
        if tree[0] == "s" and len(tree) == 3 and ok_int(tree[1]) and ok_int(tree[2]) and 0 <= tree[1] < shape_inputs \
                and 0 <= tree[2] < 64:
            return ("s", tree[1], tree[2])
        if tree[0] == "op" and len(tree) == 4 and tree[1] in _OPS:
            return ("op", tree[1], check_tree(tree[2], n_inputs, where, depth + 1, count, shape_inputs),
                    check_tree(tree[3], n_inputs, where, depth + 1, count, shape_inputs))
    raise PlanError(f"corrupt plan: {where}: {str(tree)[:80]} is not a dimension expression")


def tree_json(tree):
    """A tree as JSON lists."""
    if tree[0] == "op":
        return ["op", tree[1], tree_json(tree[2]), tree_json(tree[3])]
    return list(tree)
