"""The tensor and expression types of the decorator API (TensorRT's ``tensorrt.plugin``): ``TensorDesc``,
``Tensor``, ``ShapeExpr``/``ShapeExprs``, ``SymInt32``/``SymExprs``/``SymIntExprs``, ``KernelLaunchParams``,
``AutoTuneCombination`` and the helpers ``cdiv``, ``max``, ``min``, ``from_shape_expr``."""
from __future__ import annotations

import builtins

from ..enums import DataType, TensorFormat
from .exprs import IDimensionExpr, constant_expr, operation


class ShapeExpr(IDimensionExpr):
    """One symbolic dim (``+ - * //`` build expressions; ``cdiv``/``max``/``min`` below)."""

    __slots__ = ()


def _se(v) -> ShapeExpr:
    if isinstance(v, ShapeExpr):
        return v
    if isinstance(v, IDimensionExpr):
        return ShapeExpr(v.tree, v.value)
    return constant_expr(v, ShapeExpr)


def cdiv(a, b) -> ShapeExpr:
    return operation("CEIL_DIV", _se(a), _se(b), ShapeExpr)


def max(a, b) -> ShapeExpr:  # noqa: A001 - TensorRT's name
    return operation("MAX", _se(a), _se(b), ShapeExpr)


def min(a, b) -> ShapeExpr:  # noqa: A001 - TensorRT's name
    return operation("MIN", _se(a), _se(b), ShapeExpr)


class ShapeExprs(list):
    """A symbolic shape: a list of ShapeExpr; ``numel()`` their product."""

    def __init__(self, dims=()):
        if isinstance(dims, int):
            dims = [0] * dims
        super().__init__(_se(d) for d in dims)

    def numel(self) -> ShapeExpr:
        out = _se(1)
        for d in self:
            out = out * d
        return _se(out)

    @property
    def ndim(self) -> int:
        return len(self)

    def is_concrete(self) -> bool:
        return all(d.is_constant() for d in self)

    def to_concrete(self) -> tuple:
        return tuple(d.get_constant_value() for d in self)


class TensorDesc:
    """A tensor's description in shape functions and ``aot_impl``: ``dtype``, ``shape_expr``, ``format``;
    ``like()`` a description of the same type and shape."""

    def __init__(self, shape_expr=None, dtype=DataType.FLOAT, format=TensorFormat.LINEAR):  # noqa: A002
        self.shape_expr = ShapeExprs(shape_expr or ())
        self.dtype = DataType.parse(dtype)
        self.format = TensorFormat.parse(format)
        self.scale = None

    def like(self) -> "TensorDesc":
        return TensorDesc(list(self.shape_expr), self.dtype, self.format)

    def aliased(self):
        raise ValueError("TensorDesc.aliased(): plugin input/output aliasing (PreviewFeature.ALIASED_PLUGIN_IO_10_03) "
                         "is not supported by inferrt; return like() and write a new output")

    @property
    def ndim(self) -> int:
        return len(self.shape_expr)

    @property
    def shape(self):
        """The concrete shape (only when every dim is known)."""
        return self.shape_expr.to_concrete()

    def __repr__(self):
        return f"TensorDesc(dtype={self.dtype.name}, shape_expr={list(self.shape_expr)})"


def from_shape_expr(shape_expr, dtype=DataType.FLOAT) -> TensorDesc:
    return TensorDesc(list(shape_expr), dtype)


class Tensor:
    """A tensor handed to an ``impl`` function: ``shape``, ``dtype``, ``numel()``, ``data_ptr``; usable as
    ``torch.as_tensor(t, device="cuda")`` (``__cuda_array_interface__``), ``torch.from_dlpack(t)`` on any device,
    ``np.asarray(t)`` on the CPU, or ``t.torch()``."""

    def __init__(self, tensor, dtype: DataType):
        self._t = tensor
        self.dtype = dtype
        self.shape = tuple(tensor.shape)
        self.format = TensorFormat.LINEAR

    def torch(self):
        return self._t

    def numel(self) -> int:
        return int(self._t.numel())

    @property
    def ndim(self) -> int:
        return self._t.dim()

    @property
    def data_ptr(self) -> int:
        return self._t.data_ptr()

    @property
    def __cuda_array_interface__(self):
        if not self._t.is_cuda:
            raise AttributeError("__cuda_array_interface__: this tensor is on the CPU (use torch.from_dlpack(t) or "
                                 "t.torch())")
        return self._t.__cuda_array_interface__

    def __array__(self, dtype=None, copy=None):
        arr = self._t.numpy()
        return arr if dtype is None else arr.astype(dtype)

    def __dlpack__(self, *args, **kwargs):
        return self._t.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._t.__dlpack_device__()

    def __repr__(self):
        return f"Tensor(shape={self.shape}, dtype={self.dtype.name}, device={self._t.device})"


class SymInt32:
    """A 32-bit integer kernel argument given as an expression (evaluated at each run's shapes)."""

    def __init__(self, expr):
        self.expr = _se(expr)
        self.dtype = DataType.INT32


class SymExprs(list):
    """Extra kernel arguments of an ``aot_impl``: ``SymExprs(n)`` then set each to a SymInt32."""

    def __init__(self, n=0):
        super().__init__([None] * n if isinstance(n, int) else list(n))


SymIntExprs = SymExprs


class KernelLaunchParams:
    """Grid, block and dynamic shared memory of an AOT kernel; ints or expressions."""

    def __init__(self):
        self.grid_x = self.grid_y = self.grid_z = 1
        self.block_x = self.block_y = self.block_z = 1
        self.shared_mem = 0


class AutoTuneCombination:
    """``AutoTuneCombination("FP32|FP16, FP32|FP16", "LINEAR", [tactics])``: per I/O position (inputs then outputs,
    comma-separated) the types it supports ("|" between choices), the formats, and the custom tactics valid for
    them. One entry applies to every position; ``pos(positions, io_types, layouts)`` sets some positions."""

    def __init__(self, io_types: str = None, layouts: str = None, tactics=None):
        self.io_types = _split(io_types)
        self.layouts = _split(layouts)
        self.tactics = list(tactics or [])
        self._pos: dict[int, tuple] = {}

    def pos(self, positions, io_types: str, layouts: str = "LINEAR"):
        for p in ([positions] if isinstance(positions, int) else list(positions)):
            self._pos[int(p)] = (_split(io_types)[0], _split(layouts)[0] if layouts else None)
        return self

    def tactics_for(self):
        return list(self.tactics)

    def allows(self, pos: int, dtype: DataType, fmt: TensorFormat) -> bool:
        def ok(table, value, names):
            if not table:
                return True
            entry = table[pos] if pos < len(table) else table[0] if len(table) == 1 else None
            return entry is not None and any(names.get(e, e) == value for e in entry)

        if pos in self._pos:
            types, layouts = self._pos[pos]
            return any(_TYPE_NAMES.get(e, e) == dtype.name for e in types) and \
                (layouts is None or any(e == fmt.name for e in layouts))
        return ok(self.io_types, dtype.name, _TYPE_NAMES) and ok(self.layouts, fmt.name, {})


_TYPE_NAMES = {"FP32": "FLOAT", "FP16": "HALF", "BF16": "BF16", "INT8": "INT8", "INT32": "INT32", "INT64": "INT64",
               "BOOL": "BOOL", "UINT8": "UINT8", "FP8": "FP8"}


def _split(s):
    if not s:
        return []
    return [[x.strip().upper() for x in part.split("|")] for part in s.split(",")]


_ = builtins  # cdiv/max/min shadow the builtins on purpose (TensorRT's module does the same)
