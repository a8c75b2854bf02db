"""ImportContext: what every ONNX importer receives, and NodeView, the importer's view of one ONNX node.

An importer is ``fn(ctx, node) -> list[ITensor | None]`` (see ``registry.py``). ``node`` is a :class:`NodeView`:

* ``node.name``, ``node.op_type``, ``node.domain`` ("" for ai.onnx), ``node.index`` (position in the graph)
* ``node.inputs``: list of tensor names, ``""`` for an absent optional input (trailing absent inputs are omitted
  by ONNX, so always guard with ``len(node.inputs) > i and node.inputs[i]``; ``node.input(i)`` does that)
* ``node.outputs``: list of tensor names (``""`` for an unused optional output; return None for it)
* ``node.attr(name, default)``: attribute value decoded from every AttributeProto type: FLOAT -> float,
  INT -> int, STRING -> str, TENSOR -> numpy array, GRAPH -> GraphProto, FLOATS -> list[float],
  INTS -> list[int], STRINGS -> list[str], TENSORS -> list[np.ndarray], GRAPHS -> list[GraphProto],
  SPARSE_TENSOR -> dense numpy array, TYPE_PROTO(S) -> TypeProto(s). Without a default, a missing attribute
  raises ImportFailure naming the node. ``node.has_attr(name)``; ``node.proto`` is the NodeProto.

``ctx`` (:class:`ImportContext`) is the one importer API: every helper an importer needs is a method on it, so
the context (network, node, bindings) is never passed separately. The layer-building methods live in
``context_compose.py`` (:class:`LayerHelpers`, mixed into ImportContext), the rest here. ``t`` is an ITensor,
``node`` a NodeView; every method that adds layers returns ITensors and goes through TensorRT's API.

Node, names and values:

* ``ctx.network``: the INetworkDefinition being built; ``ctx.node``: the NodeView being imported (set while an
  importer runs, also when it is called without the parser); ``ctx.opset(domain="")``: the opset in effect for it.
* ``ctx.tensor(name)``: graph inputs, node outputs and outer-scope values; initializers and Constant outputs are
  materialized lazily as constant layers (DOUBLE becomes FLOAT). A missing name raises ImportFailure.
* ``ctx.value(name)`` / ``ctx.value_of(t)``: the numpy value when known at import time (initializer, Constant
  output, or folded by shape inference), else None. ``ctx.has(name)``: whether ``name`` is a known tensor.
* ``ctx.input(node, i)``, ``ctx.input_value(node, i)``, ``ctx.has_input(node, i)``: input ``i`` of ``node`` as
  an ITensor / known numpy value / presence (None / None / False when absent);
  ``ctx.has_output(node, i)``: whether output ``i`` is asked for. ``ctx.float_input(node, i, what="input")``:
  a required input that must be FLOAT, FLOAT16 or BFLOAT16 (UNSUPPORTED_NODE_DATATYPE otherwise);
  ``ctx.int64_input(node, i)``: a required input cast to INT64.
* ``ctx.attr(node, name, default=None)`` (absent -> default; ``node.attr(name)`` raises instead),
  ``ctx.attr_array(v)`` (a TensorProto attribute as numpy), ``ctx.norm_axes(axes, rank, what)`` (negative axes
  wrapped; INVALID_NODE when out of range), ``ctx.dtype(elem_type)``: ONNX element type -> DataType.

Layers (``context_compose.py``):

* constants: ``ctx.constant(array, name=None, dtype=None)``, ``ctx.ints(values)`` (1-D INT64),
  ``ctx.scalar(v, dtype=FLOAT, rank=0)`` (shape ``(1,) * rank``), ``ctx.scalar_like(v, t)`` (t's dtype and rank).
* types: ``ctx.cast(t, dtype)`` (no layer when it matches), ``ctx.to_float(t)``, ``ctx.identity(t)``.
* rank and broadcasting: ``ctx.rank(t)`` (UNSUPPORTED_NODE_SHAPE if unknown), ``ctx.unsqueeze_front(t, k)``,
  ``ctx.expand_rank(t, rank)``, ``ctx.broadcast_pair(a, b)`` (ONNX multidirectional broadcasting: the lower-rank
  tensor gets leading 1-dims, dynamic shapes included), ``ctx.expand_to(t, shape_t)``.
* ops: ``ctx.elementwise(a, b, op)`` (broadcast first), ``ctx.unary(t, op)``, ``ctx.activation(t, type, alpha,
  beta)``, ``ctx.reduce(t, op, axes, keep_dims)``, ``ctx.transpose(t, perm)``, ``ctx.concat(ts, axis)``,
  ``ctx.axis_slice(x, axes, start, size, stride)`` (the layer); ops as enum members or names.
* shapes: ``ctx.shape_of(t)`` (1-D INT64), ``ctx.dim_of(t, i)`` / ``ctx.dim_items(t)`` (ints when known, else
  1-element tensors), ``ctx.mul_dims(items)``, ``ctx.shape_vector(items)``, ``ctx.reshape(t, dims,
  zero_copies=True)`` (``dims``: ints and 1-element tensors, or a 1-D shape tensor; with ``zero_copies`` a 0
  copies the input's dim like ONNX allowzero=0).
* layer outputs: ``ctx.out(layer, i=0)`` (INVALID_NODE when the network refused the layer), ``ctx.done(layer,
  i=0)`` (for a layer configured after creation: re-infers its shapes).
* ``ctx.add_op(kind, inputs, attrs=None, n_out=1)``: a layer of any registered op kind (``Kind.X``, ir/kinds.py),
  ONNX-only kinds included, through ``network.internal.add_layer``; returns its first ``n_out`` outputs.
* ``ctx.onnx_op(op_type, inputs, n_out=1, opset=21, **attrs)``: import one ai.onnx op on ITensors through its
  registered importer (how contrib ops decompose into standard ones); errors name ``ctx.node``.
* ``ctx.import_subgraph(graph_proto, outer_scope=None, inputs=None, network=None) -> list[ITensor]``: import a
  GraphProto (If branch, Loop/Scan body). ``inputs`` maps the subgraph's input names to ITensors; names not bound
  there or inside the subgraph resolve through ``outer_scope`` (default: this context; or any mapping / callable
  ``name -> ITensor``, raising KeyError for unknown names; a callable with ``has(name)`` and ``value(name)``
  attributes is probed through them, so that checking a name or reading a known value never captures it).
  ``network`` (default: this network) receives the layers. Returns the subgraph outputs in order;
  ``ctx.last_subgraph_captures`` then lists the outer-scope names the subgraph read.

Errors: ``ctx.fail(message, code=UNSUPPORTED_NODE)`` raises ImportFailure with the message prefixed by the node
(``node 'name' (OpType): ``). The convention for ``code``: leave the default, UNSUPPORTED_NODE, when the node is
valid ONNX that inferrt does not import; pass UNSUPPORTED_NODE_ATTR when an attribute value (or an input standing
for one) is what inferrt does not support, UNSUPPORTED_NODE_DATATYPE / UNSUPPORTED_NODE_SHAPE for a type / a shape
it does not support, INVALID_NODE when the node breaks the ONNX spec (missing input, out-of-range axis, bad
attribute), INVALID_GRAPH for a graph-level fault (undefined name), INTERNAL_ERROR for an inferrt bug. Helpers
follow it: a missing tensor name is INVALID_GRAPH, an absent required input INVALID_NODE.
"""
from __future__ import annotations

from collections import Counter
from typing import Callable

import numpy as np

from ..dtypes import FLOAT_TYPES
from ..enums import DataType, ParserErrorCode
from .context_compose import INT_MAX, LayerHelpers  # noqa: F401 - INT_MAX: the importers' "no end" bound
from .registry import ImportFailure

_MISSING = object()


def onnx_dtype(elem_type: int, where: str = "") -> DataType:
    """ONNX TensorProto element type -> DataType (DOUBLE -> FLOAT, 16-bit ints -> INT32, 32/64-bit unsigned ->
    INT64); ImportFailure for types inferrt cannot hold (strings, complex, 4-bit...)."""
    from onnx import TensorProto as T

    table = {
        T.FLOAT: DataType.FLOAT, T.DOUBLE: DataType.FLOAT, T.FLOAT16: DataType.HALF, T.BFLOAT16: DataType.BF16,
        T.INT8: DataType.INT8, T.UINT8: DataType.UINT8, T.INT16: DataType.INT32, T.UINT16: DataType.INT32,
        T.INT32: DataType.INT32, T.UINT32: DataType.INT64, T.INT64: DataType.INT64, T.UINT64: DataType.INT64,
        T.BOOL: DataType.BOOL, T.FLOAT8E4M3FN: DataType.FP8, T.FLOAT8E5M2: DataType.FP8_E5M2,
        T.FLOAT8E8M0: DataType.E8M0, T.FLOAT4E2M1: DataType.FP4, T.INT4: DataType.INT4, T.UINT4: DataType.UINT4,
    }
    if elem_type not in table:
        name = T.DataType.Name(elem_type) if elem_type in T.DataType.values() else str(elem_type)
        raise ImportFailure(ParserErrorCode.UNSUPPORTED_NODE_DATATYPE,
                            f"{where}ONNX type {name} is not supported (supported: FLOAT, DOUBLE as FLOAT, FLOAT16, "
                            f"BFLOAT16, INT8/16/32/64, UINT8/16/32/64, BOOL, FLOAT8E4M3FN, FLOAT8E5M2, FLOAT8E8M0, "
                            f"FLOAT4E2M1, INT4, UINT4)")
    return table[elem_type]


#: ml_dtypes' types (what onnx's numpy_helper gives BFLOAT16, FLOAT8*, INT4, UINT4 and FLOAT4E2M1 tensors, packed
#: 4-bit data unpacked): inferrt holds them as they are, as typed constants (see dtypes.py)
_ML_TYPES = ("bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e8m0fnu", "int4", "uint4", "float4_e2m1fn")


def storable_array(arr: np.ndarray, where: str = "") -> np.ndarray:
    """An initializer's numpy value converted to a dtype inferrt stores (float64 -> float32, int16 -> int32...;
    ml_dtypes arrays as they are)."""
    arr = np.asarray(arr)
    kind = arr.dtype
    if kind == np.float64:
        return arr.astype(np.float32)
    if kind in (np.int16, np.uint16):
        return arr.astype(np.int32)
    if kind in (np.uint32, np.uint64):
        return arr.astype(np.int64)
    if kind in (np.float32, np.float16, np.int8, np.uint8, np.int32, np.int64, np.bool_) or kind.name in _ML_TYPES:
        return arr
    raise ImportFailure(ParserErrorCode.UNSUPPORTED_NODE_DATATYPE,
                        f"{where}tensor of numpy dtype {kind} cannot be held by inferrt")


def attribute_value(attr, base_dir=None):
    """Decode an AttributeProto into a Python / numpy value (see the module docstring for the mapping)."""
    from onnx import AttributeProto as A, numpy_helper

    t = attr.type
    if t == A.FLOAT:
        return float(attr.f)
    if t == A.INT:
        return int(attr.i)
    if t == A.STRING:
        return attr.s.decode("utf-8", errors="replace")
    if t == A.TENSOR:
        return numpy_helper.to_array(attr.t, base_dir or "")
    if t == A.GRAPH:
        return attr.g
    if t == A.SPARSE_TENSOR:
        return _sparse_to_dense(attr.sparse_tensor)
    if t == A.TYPE_PROTO:
        return attr.tp
    if t == A.FLOATS:
        return [float(x) for x in attr.floats]
    if t == A.INTS:
        return [int(x) for x in attr.ints]
    if t == A.STRINGS:
        return [s.decode("utf-8", errors="replace") for s in attr.strings]
    if t == A.TENSORS:
        return [numpy_helper.to_array(x, base_dir or "") for x in attr.tensors]
    if t == A.GRAPHS:
        return list(attr.graphs)
    if t == A.SPARSE_TENSORS:
        return [_sparse_to_dense(x) for x in attr.sparse_tensors]
    if t == A.TYPE_PROTOS:
        return list(attr.type_protos)
    # attributes written without a type (old exporters): guess from the filled field
    for field, conv in (("floats", list), ("ints", list), ("strings", list), ("f", float), ("i", int)):
        if field in ("floats", "ints", "strings") and len(getattr(attr, field)):
            return [x.decode() if isinstance(x, bytes) else x for x in getattr(attr, field)]
    if attr.HasField("t"):
        return numpy_helper.to_array(attr.t)
    if attr.HasField("g"):
        return attr.g
    if attr.HasField("s"):
        return attr.s.decode("utf-8", errors="replace")
    if attr.HasField("f"):
        return float(attr.f)
    return int(attr.i)


def _sparse_to_dense(sp):
    from onnx import numpy_helper

    values = numpy_helper.to_array(sp.values)
    idx = numpy_helper.to_array(sp.indices).astype(np.int64) if sp.HasField("indices") else np.zeros(0, np.int64)
    dims = tuple(int(d) for d in sp.dims)
    dense = np.zeros(int(np.prod(dims)), dtype=values.dtype)
    if idx.ndim == 2:
        idx = np.ravel_multi_index(tuple(idx.T), dims) if idx.size else np.zeros(0, np.int64)
    dense[idx] = values
    return dense.reshape(dims)


class NodeView:
    """Read-only view of one NodeProto for importers (see the module docstring)."""

    def __init__(self, proto, index: int = -1, opsets: dict | None = None, base_dir=None, function_stack=()):
        self.proto = proto
        self.index = index
        self.name = proto.name or f"{proto.op_type}_{index}"
        self.op_type = proto.op_type
        self.domain = "" if proto.domain in ("", "ai.onnx") else proto.domain
        self.inputs = list(proto.input)
        self.outputs = list(proto.output)
        self.opsets = dict(opsets or {})   # per-node opset overrides (nodes expanded from a function body)
        self.function_stack = list(function_stack)
        self._attrs = {a.name: a for a in proto.attribute}
        self._base_dir = base_dir

    def __repr__(self):
        return f"NodeView({self.name!r}, {self.op_type})"

    def input(self, i: int) -> str:
        """The name of input ``i``, or "" when it is absent."""
        return self.inputs[i] if 0 <= i < len(self.inputs) else ""

    def has_attr(self, name: str) -> bool:
        return name in self._attrs

    def attr(self, name: str, default=_MISSING):
        a = self._attrs.get(name)
        if a is None:
            if default is _MISSING:
                raise ImportFailure(ParserErrorCode.INVALID_NODE,
                                    f"node {self.name!r} ({self.op_type}) needs attribute {name!r}; add it to the node")
            return default
        return attribute_value(a, self._base_dir)

    @property
    def attrs(self) -> dict:
        return {k: attribute_value(a, self._base_dir) for k, a in self._attrs.items()}


class ImportContext(LayerHelpers):
    """State of one ONNX import: name -> tensor bindings, known constants, opsets (see the module docstring)."""

    def __init__(self, network, opsets: dict | None = None, parent: "ImportContext | None" = None,
                 outer_scope=None, base_dir=None, import_graph: Callable | None = None):
        self.network = network
        self._opsets = {("" if k in ("", "ai.onnx") else k): int(v) for k, v in (opsets or {"": 17}).items()}
        self.parent = parent
        self._outer = outer_scope          # None, an ImportContext, a mapping or a callable name -> ITensor
        self.base_dir = base_dir
        self._tensors: dict[str, object] = {}       # name -> ITensor
        self._bound_ids: Counter = Counter()         # id(ITensor) -> how many names are bound to it
        self._consts: dict[str, np.ndarray] = {}     # name -> value (initializers, Constant outputs)
        self._onnx_types: dict[str, int] = {}        # name -> ONNX elem type of initializers / Constant outputs
        self.captures: list[str] = []                # outer-scope names this context read
        self.last_subgraph_captures: list[str] = []
        self.node: NodeView | None = None            # the node being imported
        self._import_graph = import_graph if import_graph is not None else (parent._import_graph if parent else None)

    # ------------------------------------------------------------------ opsets, errors
    def opset(self, domain: str = "") -> int:
        domain = "" if domain in ("", "ai.onnx") else domain
        if self.node is not None and domain in self.node.opsets:
            return self.node.opsets[domain]
        if domain in self._opsets:
            return self._opsets[domain]
        if self.parent is not None:
            return self.parent.opset(domain)
        return 1 if domain else 17

    def _where(self) -> str:
        return f"node {self.node.name!r} ({self.node.op_type}): " if self.node is not None else ""

    def fail(self, message: str, code=ParserErrorCode.UNSUPPORTED_NODE):
        """Raise ImportFailure(code, message prefixed with the node); see the module docstring for the codes."""
        raise ImportFailure(code, self._where() + message)

    def dtype(self, elem_type: int) -> DataType:
        return onnx_dtype(int(elem_type), self._where())

    # ------------------------------------------------------------------ node inputs and attributes
    @staticmethod
    def attr(node: NodeView, name: str, default=None):
        """Attribute ``name`` of ``node``, ``default`` (None) when absent; strings decoded."""
        v = node.attr(name, default)
        return v.decode() if isinstance(v, bytes) else v

    @staticmethod
    def attr_array(v):
        """An attribute holding a TensorProto (or an array already) as numpy (None stays None)."""
        if v is None:
            return None
        if hasattr(v, "dims") and hasattr(v, "data_type"):
            from onnx import numpy_helper

            return numpy_helper.to_array(v)
        return np.asarray(v)

    @staticmethod
    def has_input(node: NodeView, i: int) -> bool:
        """Whether input ``i`` of ``node`` is present (not omitted, not "")."""
        return i < len(node.inputs) and bool(node.inputs[i])

    @staticmethod
    def has_output(node: NodeView, i: int) -> bool:
        """Whether output ``i`` of ``node`` is asked for (not omitted, not "")."""
        return i < len(node.outputs) and bool(node.outputs[i])

    def input(self, node: NodeView, i: int):
        """The ITensor of input ``i`` of ``node``, or None when it is absent."""
        return self.tensor(node.inputs[i]) if self.has_input(node, i) else None

    def input_value(self, node: NodeView, i: int):
        """The value of input ``i`` of ``node`` as numpy when known at import time, else None."""
        if not self.has_input(node, i):
            return None
        name = node.inputs[i]
        try:
            v = self.value(name)
        except (KeyError, LookupError, ValueError):
            v = None
        if v is None:
            v = self.value_of(self.tensor(name))
        return None if v is None else np.asarray(v)

    def float_input(self, node: NodeView, i: int, what: str = "input"):
        """The ITensor of input ``i`` of ``node``, which must be FLOAT, FLOAT16 or BFLOAT16
        (UNSUPPORTED_NODE_DATATYPE otherwise; ``what`` names the input in the message)."""
        t = self.tensor(node.inputs[i])
        if t.dtype not in FLOAT_TYPES:
            self.fail(f"{what} {t.name!r} must be FLOAT, FLOAT16 or BFLOAT16, got {t.dtype.name}",
                      ParserErrorCode.UNSUPPORTED_NODE_DATATYPE)
        return t

    def int64_input(self, node: NodeView, i: int):
        """The ITensor of input ``i`` of ``node`` cast to INT64 (no layer when it is INT64 already)."""
        return self.cast(self.tensor(node.inputs[i]), DataType.INT64)

    def is_weight_input(self, node: NodeView, i: int) -> bool:
        """Whether input ``i`` of ``node`` is float weights a Refitter sets by name (an initializer or a Constant
        output of this graph). Importers keep such an input a layer's input (reshaped or cast by layers, which the
        build folds and a refit recomputes) rather than a new constant made from its values, which a refit by the
        initializer's name would not reach."""
        if not self.has_input(node, i) or self.network is None:
            return False
        name = node.inputs[i]
        if name in self._tensors:
            return self._is_named_weight(self._tensors[name])
        from ..ir.api_refit import weight_names

        return name in self._consts and id(self._consts[name]) in weight_names(self.network)

    def norm_axes(self, axes, rank: int, what: str = "axis") -> list[int]:
        """``axes`` (negative allowed) as non-negative ints; INVALID_NODE when one is out of range for ``rank``."""
        res = []
        for a in np.asarray(axes, dtype=np.int64).reshape(-1).tolist():
            if not -rank <= a < max(rank, 1):
                self.fail(f"{what} {a} is out of range for a tensor of rank {rank}", ParserErrorCode.INVALID_NODE)
            res.append(a % rank if rank else 0)
        return res

    # ------------------------------------------------------------------ bindings
    def bind(self, name: str, tensor) -> None:
        """Bind ONNX name ``name`` to an ITensor (the parser does this for node outputs and graph inputs)."""
        self._drop(name)
        self._tensors[name] = tensor
        self._bound_ids[id(tensor)] += 1

    def unbind(self, name: str) -> None:
        """Forget a binding made with ``bind`` (temporary names of ``onnx_op``)."""
        self._drop(name)

    def is_bound(self, tensor) -> bool:
        """Whether some name in this context is bound to ``tensor`` (constant time, for the parser's per-node
        check)."""
        return self._bound_ids.get(id(tensor), 0) > 0

    def _drop(self, name: str) -> None:
        old = self._tensors.pop(name, None)
        if old is not None:
            self._bound_ids[id(old)] -= 1
            if self._bound_ids[id(old)] <= 0:
                del self._bound_ids[id(old)]

    def is_local(self, name: str) -> bool:
        """Whether ``name`` is bound or known in this context itself (not through the outer scope)."""
        return self._local(name)

    @property
    def opsets(self) -> dict:
        """The opsets of this context's graph, domain -> version ("" for ai.onnx)."""
        return self._opsets

    def bound_tensors(self):
        """The ITensors bound in this context so far."""
        return self._tensors.values()

    def add_constant_value(self, name: str, array: np.ndarray, onnx_type: int | None = None) -> None:
        """Register a known value (initializer / Constant output); it becomes a constant layer on first use."""
        self._consts[name] = np.asarray(array)
        if self._consts[name].dtype.kind == "f" and self.network is not None:   # weights a Refitter sets by name
            from ..ir.api_refit import weight_names

            weight_names(self.network)[id(self._consts[name])] = (self._consts[name], name)
        if onnx_type is not None:
            self._onnx_types[name] = onnx_type
        self._drop(name)

    def _local(self, name):
        return name in self._tensors or name in self._consts

    def has(self, name: str) -> bool:
        if not name:
            return False
        if self._local(name):
            return True
        return self._outer_lookup(name, probe=True) is not None

    def tensor(self, name: str):
        if not name:
            self.fail("an input that is required here is absent (empty name)", ParserErrorCode.INVALID_NODE)
        t = self._tensors.get(name)
        if t is not None:
            return t
        if name in self._consts:
            t = self._materialize(name)
            return t
        t = self._outer_lookup(name)
        if t is None:
            self.fail(f"tensor {name!r} is not defined: it is neither a graph input, an initializer, nor an "
                      f"output of an earlier node; check the model's node order and names", ParserErrorCode.INVALID_GRAPH)
        if name not in self.captures:
            self.captures.append(name)
        return t

    def _outer_lookup(self, name, probe=False):
        outer = self._outer
        if outer is None:
            return None
        if isinstance(outer, ImportContext):
            if probe:
                return True if outer.has(name) else None
            return outer.tensor(name) if outer.has(name) else None
        if callable(outer) and not hasattr(outer, "get"):
            if probe and hasattr(outer, "has"):  # a capturing scope answers "is it there" without capturing
                return True if outer.has(name) else None
            try:
                return outer(name)
            except KeyError:
                return None
            except ImportFailure:
                if probe:
                    return None
                raise  # the name exists but cannot be read here: say why, not "not defined"
        return outer.get(name)

    def value(self, name: str):
        if not name:
            return None
        if name in self._consts:
            return storable_array(self._consts[name])
        t = self._tensors.get(name)
        if t is not None:
            return self.value_of(t)
        outer = self._outer
        if isinstance(outer, ImportContext) or hasattr(outer, "value"):
            return outer.value(name)
        return None

    def producer_kind(self, tensor):
        """The op kind of the layer that produced ``tensor`` (an ITensor, or the ONNX name of one); None for network
        inputs, initializers not yet made tensors and names the context does not hold."""
        t = self._tensors.get(tensor) if isinstance(tensor, str) else tensor
        layer = self.network.internal.producer(t) if t is not None else None
        return None if layer is None else self.network.internal.layer_kind(layer)

    def value_of(self, tensor):
        if tensor is None:
            return None
        try:
            return self.network.internal.known_value(tensor)
        except (AttributeError, ValueError, TypeError):
            return None

    def onnx_type(self, name: str):
        """The ONNX elem type of a graph input, initializer or Constant output (None when not recorded): it tells
        apart types the network holds in a wider one (INT16 as INT32)."""
        return self._onnx_types.get(name)

    def record_onnx_type(self, name: str, elem_type: int) -> None:
        self._onnx_types[name] = int(elem_type)

    @staticmethod
    def _storable(arr, where: str = ""):
        return storable_array(arr, where)

    def _materialize(self, name):
        arr = self._consts[name]
        t = self.constant(arr, name=name, where=f"initializer {name!r}: ")
        self.bind(name, t)
        return t

    def _set_name(self, t, name):
        if name is not None and not self.network.internal.has_tensor_name(name):
            t.name = name

    # ------------------------------------------------------------------ subgraphs
    def import_subgraph(self, graph_proto, outer_scope=None, inputs: dict | None = None, network=None):
        if self._import_graph is None:
            self.fail("subgraphs cannot be imported from this context (no parser attached)")
        sub = ImportContext(network if network is not None else self.network, self._opsets, parent=self,
                            outer_scope=self if outer_scope is None else outer_scope, base_dir=self.base_dir)
        if self.node is not None:
            sub._opsets.update(self.node.opsets)
        for k, v in (inputs or {}).items():
            sub.bind(k, v)
        outs = self._import_graph(sub, graph_proto)
        self.last_subgraph_captures = list(sub.captures)
        return outs
