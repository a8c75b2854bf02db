"""The op registry: one ``OpDef`` per layer kind.

An OpDef is the contract shared by the network API, the builder and the runtime:

* ``attrs``: the typed attribute schema (name -> AttrType with a default); the network API turns each into a
  TensorRT-named property of the layer class, and the plan stores them as JSON.
* ``infer(a, ins)``: output ``Spec`` s (dtype, shape with -1 for unknown dims, known host value) from input specs.
  It works on symbolic shapes at network-construction time and on concrete shapes at run time.
* ``run(a, ins, outs)``: the generic PyTorch implementation (CPU and CUDA). It either writes ``outs`` (views into the
  activation arena) and returns None, or returns tensors that the executor copies into ``outs``.

Ops never touch devices or allocate persistent memory themselves; the runtime hands them tensors.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import numpy as np

from ..dtypes import LOW_BIT, from_numpy_dtype, host_array, nptype, torch_dtype
from ..enums import DataType, LayerType, TrtEnum

FOLD_LIMIT = 1 << 16  # largest number of elements whose value is propagated during shape inference


class OpError(ValueError):
    """Raised by ``infer`` when inputs or attributes are invalid; the caller adds the layer name."""


class AttrValueError(OpError, TypeError):
    """An attribute value outside its declared set; an OpError that is also the TypeError bad setters raise."""


@dataclasses.dataclass
class Spec:
    """What is known about a tensor: dtype, shape (-1 = unknown dim; None = unknown rank) and maybe its value."""

    dtype: DataType
    shape: tuple | None
    value: np.ndarray | None = None

    @property
    def rank(self) -> int:
        if self.shape is None:
            raise OpError("tensor rank is unknown here")
        return len(self.shape)

    @property
    def static(self) -> bool:
        return self.shape is not None and all(d >= 0 for d in self.shape)


# ----------------------------------------------------------------------------------------------- attribute types
class AttrType:
    name = "any"

    def convert(self, v):
        return v

    def to_json(self, v, blobs):
        return v

    def from_json(self, j, blobs):
        return self.convert(j)


class _Int(AttrType):
    name = "int"

    def convert(self, v):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"expected an integer, got {v!r}")
        return int(v)


class _Float(AttrType):
    name = "float"

    def convert(self, v):
        if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool):
            raise TypeError(f"expected a number, got {v!r}")
        return float(v)

    def to_json(self, v, blobs):
        return v if np.isfinite(v) else repr(v)

    def from_json(self, j, blobs):
        return float(j)


class _Bool(AttrType):
    name = "bool"

    def convert(self, v):
        if not isinstance(v, (bool, np.bool_, int)):
            raise TypeError(f"expected a bool, got {v!r}")
        return bool(v)


class _Str(AttrType):
    name = "str"

    def convert(self, v):
        if not isinstance(v, str):
            raise TypeError(f"expected a string, got {v!r}")
        return v


class _Ints(AttrType):
    name = "ints"

    def convert(self, v):
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            return (int(v),)
        try:
            out = tuple(int(x) for x in v)
        except TypeError:
            raise TypeError(f"expected a sequence of integers, got {v!r}") from None
        return out

    def to_json(self, v, blobs):
        return list(v)


class _Floats(AttrType):
    name = "floats"

    def convert(self, v):
        return tuple(float(x) for x in v)

    def to_json(self, v, blobs):
        return [x if np.isfinite(x) else repr(x) for x in v]

    def from_json(self, j, blobs):
        return tuple(float(x) for x in j)


class Enum(AttrType):
    def __init__(self, cls):
        self.cls = cls
        self.name = cls.__name__

    def convert(self, v):
        return self.cls.parse(v)

    def to_json(self, v, blobs):
        return v.name

    def from_json(self, j, blobs):
        if not isinstance(j, str) or j not in self.cls.__members__:
            raise ValueError(f"{j!r} is not a {self.cls.__name__}")
        return self.cls[j]


class Choice(AttrType):
    """A string from a fixed set (an enum-like attribute without a TensorRT enum); declared once with its allowed
    values and stored in the plan as that string, so plans stay readable and unchanged."""

    def __init__(self, *values: str):
        self.values = tuple(values)
        self.name = "choice"

    def convert(self, v):
        if isinstance(v, TrtEnum) and v.name in self.values:  # a TensorRT enum member of that name: ReduceOperation.MAX
            return v.name
        if not isinstance(v, str) or v not in self.values:
            raise AttrValueError(f"{v!r} is not one of {', '.join(repr(x) for x in self.values)}")
        return v


class _Array(AttrType):
    """A numpy array (weights); stored in the plan as a raw blob."""

    name = "array"

    def convert(self, v):
        if v is None:
            return None
        if hasattr(v, "detach"):
            v = host_array(v)  # torch BF16 / FP8 weights as ml_dtypes arrays
        else:
            arr = getattr(v, "numpy", None)
            if arr is not None and not isinstance(v, np.ndarray):
                v = v.numpy() if callable(arr) else arr
        v = np.asarray(v)
        if v.dtype == np.float64:
            v = v.astype(np.float32)
        return v

    def to_json(self, v, blobs):
        return None if v is None else blobs.add(v)

    def from_json(self, j, blobs):
        return None if j is None else blobs.get(j)


class _Graph(AttrType):
    """A subgraph (If branches, Loop bodies); serialized by the plan writer."""

    name = "graph"

    def to_json(self, v, blobs):
        return None if v is None else v.to_json(blobs)

    def from_json(self, j, blobs):
        from ..ir.graph import Graph

        return None if j is None else Graph.from_json(j, blobs)


class _Json(AttrType):
    """Plain JSON data (lists of numbers/strings); used sparingly for structured attributes."""

    name = "json"


INT, FLOAT, BOOL, STR, INTS, FLOATS, ARRAY, GRAPH, JSON = (
    _Int(), _Float(), _Bool(), _Str(), _Ints(), _Floats(), _Array(), _Graph(), _Json())
DTYPE = Enum(DataType)


class Attrs(dict):
    """Attribute values of one node; attribute access for readability inside ops (``a.stride``)."""

    def __getattr__(self, k):
        try:
            return self[k]
        except KeyError:
            raise AttributeError(k) from None

    def __setattr__(self, k, v):  # ``a.weights = w`` must change the attribute the plan stores, not a shadow
        self[k] = v


# ----------------------------------------------------------------------------------------------- op definition
class OpDef:
    kind: str = ""
    layer_type: LayerType = LayerType.GENERIC_OP
    attrs: dict[str, tuple[AttrType, Any]] = {}
    #: input slots that may be filled from an array attribute at lowering time: {input index: attr name}
    weight_inputs: dict[int, str] = {}
    #: names of the inputs, for error messages and the network API (length = max inputs)
    inputs: Sequence[str] = ("input",)
    min_inputs: int = 1
    num_outputs: int = 1
    #: shape-tensor inputs that ``run`` reads on the host (slice starts, reshape dims, k, axes...). When their
    #: values are known when the shapes are planned, the executor hands them over as CPU tensors, so running the
    #: layer needs no device-to-host copy (and a CUDA graph can capture it)
    host_inputs: tuple = ()
    def host_input_wanted(self, k: int, value) -> bool:
        """Whether input ``k`` (one of ``host_inputs``), known to hold ``value``, is handed over on the host."""
        return True

    #: True when the output shape depends on input *values* that are not shape tensors (NonZero, NMS...)
    data_dependent: bool = False
    #: pure elementwise op (pointwise fusion candidate)
    pointwise: bool = False

    def default_attrs(self) -> Attrs:
        return Attrs({k: (v[1]() if callable(v[1]) else v[1]) for k, v in self.attrs.items()})

    def convert_attr(self, key, value):
        if key not in self.attrs:
            raise AttributeError(f"{self.kind} has no attribute {key!r}; it has: {', '.join(self.attrs) or 'none'}")
        if value is None and self.attrs[key][1] is None:
            return None
        try:
            return self.attrs[key][0].convert(value)
        except AttrValueError as e:
            raise AttrValueError(f"{self.kind}: attribute {key!r}: {e}") from None

    # -- to override
    def infer(self, a: Attrs, ins: list[Spec | None]) -> list[Spec]:
        raise NotImplementedError

    def run(self, a: Attrs, ins: list, outs: list):
        raise NotImplementedError

    # -- shared machinery
    def infer_all(self, a: Attrs, ins: list[Spec | None]) -> list[Spec]:
        """``infer`` plus value propagation: small tensors whose inputs are all known get their value computed."""
        n = len([i for i in ins if i is not None])
        if n < self.min_inputs:
            raise OpError(f"needs at least {self.min_inputs} input(s) ({', '.join(self.inputs[:self.min_inputs])})")
        outs = self.infer(a, ins)
        if (not self.data_dependent and all(o.value is None for o in outs) and self.foldable(a)
                and all(i is None or i.value is not None for i in ins)
                and all(o.static and int(np.prod(o.shape)) <= FOLD_LIMIT for o in outs)):
            vals = evaluate(self, a, [None if i is None else i.value for i in ins], outs)
            if vals is not None:
                for o, v in zip(outs, vals):
                    o.value = v
        return outs

    def foldable(self, a: Attrs) -> bool:
        return True


def host_tensor(value):
    """A CPU tensor holding a copy of a known value, keeping its shape (np.ascontiguousarray alone turns 0-D arrays
    into 1-D ones)."""
    import torch

    return torch.from_numpy(np.array(value, copy=True).reshape(np.shape(value)))


def evaluate(op: OpDef, a: Attrs, values: list, out_specs: list[Spec]):
    """Run ``op`` on host values (numpy) with its generic implementation; None when it cannot."""
    import torch

    if any(s.dtype in LOW_BIT for s in out_specs):
        return None  # numpy holds a low-bit value only in a wider type: a folded constant would lose its type
    try:
        ins = [None if v is None else host_tensor(v) for v in values]
        outs = [torch.empty(tuple(s.shape), dtype=torch_dtype(s.dtype)) for s in out_specs]
        res = op.run(a, ins, outs)
        if res is not None:
            for o, r in zip(outs, res):
                o.copy_(r.reshape(o.shape))
        return [o.numpy() if o.dtype != torch.bfloat16 else None for o in outs]
    except (NotImplementedError, KeyError, TypeError):
        return None


REGISTRY: dict[str, OpDef] = {}


def register(cls):
    """Class decorator: instantiate the OpDef and register it under ``cls.kind``."""
    inst = cls()
    if not inst.kind or inst.kind in REGISTRY:
        raise RuntimeError(f"op kind {inst.kind!r} is empty or registered twice")
    for key, (t, default) in inst.attrs.items():
        if isinstance(t, Choice) and default not in t.values:
            raise RuntimeError(f"{inst.kind}: default {default!r} of attribute {key!r} is not one of {t.values}")
    REGISTRY[inst.kind] = inst
    return cls


def get_op(kind: str) -> OpDef:
    from . import _load_all

    _load_all()

    try:
        return REGISTRY[kind]
    except KeyError:
        raise KeyError(f"unknown op kind {kind!r}") from None


# ----------------------------------------------------------------------------------------------- shape helpers
def broadcast_shapes(*shapes, where="") -> tuple:
    """numpy broadcasting over shapes that may hold -1 (unknown)."""
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        dims = [s[i - rank + len(s)] for s in shapes if i - rank + len(s) >= 0]
        known = {d for d in dims if d not in (1, -1)}
        if len(known) > 1:
            raise OpError(f"shapes {' and '.join(str(tuple(s)) for s in shapes)} cannot be broadcast{where} "
                          f"(dimension {i} has sizes {sorted(known)})")
        if known:
            out.append(known.pop())
        elif -1 in dims:
            out.append(-1)
        else:
            out.append(1)
    return tuple(out)


def norm_axis(axis: int, rank: int, what="axis") -> int:
    if not -rank <= axis < max(rank, 1):
        raise OpError(f"{what} {axis} is out of range for a tensor of rank {rank}")
    return axis % rank if rank else 0


def axes_from_mask(mask: int, rank: int) -> list[int]:
    return [i for i in range(rank) if mask >> i & 1]


def spec_like(s: Spec, dtype=None, shape=None) -> Spec:
    return Spec(s.dtype if dtype is None else dtype, tuple(s.shape) if shape is None else tuple(shape))


def value_of(s: Spec | None, what: str) -> np.ndarray:
    if s is None or s.value is None:
        raise OpError(f"{what} must be known when shapes are computed (a constant or a shape computation)")
    return s.value


def np_dtype(dt: DataType):
    return nptype(dt)


def spec_from_array(arr: np.ndarray) -> Spec:
    return Spec(from_numpy_dtype(arr.dtype), tuple(arr.shape), arr)


def write(out, value):
    """Copy ``value`` into the preallocated ``out`` (shapes must agree up to a reshape of equal volume)."""
    if value.shape != out.shape:
        value = value.reshape(out.shape)
    out.copy_(value)


Runner = Callable[[list, list], Any]


def known_ints(spec, what):
    """The integer values of a 1-D shape-like input, or None while unknown."""
    if spec is None or spec.value is None:
        return None
    return [int(v) for v in np.asarray(spec.value).reshape(-1)]


def host_ints(t):
    return [int(v) for v in t.reshape(-1).tolist()]
