"""LayerHelpers: the layer-building half of the import context (mixed into :class:`ImportContext`).

Each helper adds ordinary network layers (TensorRT's API) through ``self.network`` and returns ITensors (or, for
``dim_of`` / ``mul_dims``, ints when the values are known). Shape arithmetic is written as layers on INT64 shape
tensors; when the values are known the network's shape inference folds them, so the same code serves static and
dynamic shapes. Helpers never run math on data. Errors go through ``self.fail`` (see ``context.py`` for the error
code convention).
"""
from __future__ import annotations

import numpy as np

from ..dtypes import FLOAT_TYPES
from ..enums import (ActivationType, DataType, ElementWiseOperation as EW, ParserErrorCode as E, ReduceOperation,
                     UnaryOperation)
from ..ir.kinds import Kind
from ..ir.tensor import ITensor
from .registry import ImportFailure

INT_MAX = np.iinfo(np.int64).max


def _is_int(d) -> bool:
    return isinstance(d, (int, np.integer))


class LayerHelpers:
    """Layer-building methods of the import context (see the module docstring and ``context.py``)."""

    # ------------------------------------------------------------------ layer outputs
    @staticmethod
    def out(layer, i: int = 0):
        """Output ``i`` of a just-created layer; ImportFailure (INVALID_NODE) when the network refused the layer."""
        if layer is None:
            raise ImportFailure(E.INVALID_NODE, "a network layer could not be created (see the log)")
        return layer.get_output(i)

    @staticmethod
    def done(layer, i: int = 0):
        """Output ``i`` of a layer configured after creation; re-runs shape inference so that errors from the
        layer's initial (default) attributes do not linger."""
        t = layer.get_output(i)
        _ = t.shape
        return t

    # ------------------------------------------------------------------ constants and casts
    def constant(self, array, name: str | None = None, dtype=None, where: str = ""):
        """A constant layer holding ``array`` (converted to ``dtype`` first when given); stored as a type inferrt
        holds (float64 as float32...; ml_dtypes' BF16, FP8, INT4, FP4... arrays as typed constants of their type)."""
        arr = np.asarray(array)
        if dtype is not None:
            arr = arr.astype(dtype)
        arr = self._storable(arr, where)
        layer = self.network.add_constant(arr.shape, np.ascontiguousarray(arr))
        if layer is None:
            self.fail(f"could not create a constant of shape {arr.shape}")
        if name is not None:
            layer.name = name
        t = layer.get_output(0)
        self._set_name(t, name)
        return t

    def ints(self, vals):
        """A 1-D INT64 constant."""
        return self.constant(np.asarray(vals, dtype=np.int64).reshape(-1))

    def scalar(self, value, dtype=DataType.FLOAT, rank: int = 0):
        """A constant of shape ``(1,) * rank`` and type ``dtype``."""
        from ..dtypes import nptype

        dtype = DataType.parse(dtype)
        arr = np.full((1,) * rank, value, dtype=nptype(dtype) if dtype != DataType.BF16 else np.float32)
        t = self.constant(arr)
        return self.cast(t, dtype) if dtype == DataType.BF16 else t

    def scalar_like(self, value, t):
        """A constant of ``t``'s dtype and rank with every dim 1 (BF16: a FLOAT constant cast to BF16)."""
        return self.scalar(value, t.dtype, self.rank(t))

    def cast(self, t, dtype):
        """``t`` as ``dtype`` (no layer when the type already matches)."""
        dtype = DataType.parse(dtype)
        if t.dtype == dtype:
            return t
        return self.out(self.network.add_cast(t, dtype))

    def to_float(self, t):
        """``t`` unchanged when it is FLOAT/HALF/BF16, else cast to FLOAT."""
        return t if t.dtype in FLOAT_TYPES else self.cast(t, DataType.FLOAT)

    def identity(self, t):
        return self.out(self.network.add_identity(t))

    # ------------------------------------------------------------------ rank and broadcasting
    def rank(self, t) -> int:
        """The rank of ``t``; ImportFailure (UNSUPPORTED_NODE_SHAPE) when shape inference could not find it."""
        internal = self.network.internal
        spec = internal.spec(t) if internal.producer(t) is not None else None
        if spec is not None and spec.shape is None:
            self.fail(f"the rank of tensor {t.name!r} is unknown here", E.UNSUPPORTED_NODE_SHAPE)
        return len(t.shape)

    def unsqueeze_front(self, t, k: int):
        """``t`` with ``k`` leading dims of size 1 (works on dynamic shapes: reshape then transpose). A known value
        becomes a constant, except the output of a dequantize layer (quantized weights stay quantized for the
        builder's Q/DQ fusion; a shuffle layer adds the dims)."""
        if k <= 0:
            return t
        r = self.rank(t)
        v = self.value_of(t) if self.producer_kind(t) != Kind.DEQUANTIZE else None   # DQ weights stay quantized
        if v is not None and not self._is_named_weight(t):
            return self.constant(v.reshape((1,) * k + v.shape))
        # a data tensor, or weights a Refitter sets by name (an initializer): a reshape layer, which the build's
        # constant folding folds and a refit recomputes from the new weights (a reshaped copy made here would be
        # another, unnamed constant: a refit by the initializer's name would leave the engine's copy stale)
        layer = self.network.add_shuffle(t)
        layer.reshape_dims = (0,) * r + (1,) * k
        if r:
            layer.second_transpose = tuple(range(r, r + k)) + tuple(range(r))
        return self.out(layer)

    def producer_kind(self, tensor):
        """The op kind of the layer that produced the ITensor ``tensor``; None for network inputs."""
        layer = self.network.internal.producer(tensor) if tensor is not None else None
        return None if layer is None else self.network.internal.layer_kind(layer)

    def _is_named_weight(self, t) -> bool:
        """Whether ``t`` is the output of a constant layer holding named weights (an initializer's)."""
        from ..ir.api_refit import weight_names

        internal = self.network.internal
        layer = internal.producer(t)
        if layer is None or internal.layer_kind(layer) != Kind.CONSTANT:
            return False
        return id(internal.layer_attrs(layer).get("weights")) in weight_names(self.network)

    def expand_rank(self, t, rank: int):
        """``t`` with leading 1-dims added up to ``rank`` (unchanged if its rank is already >= rank)."""
        return self.unsqueeze_front(t, rank - self.rank(t))

    def broadcast_pair(self, a, b):
        """ONNX multidirectional broadcasting onto TensorRT's same-rank elementwise: the lower-rank tensor gets
        leading 1-dims."""
        ra, rb = self.rank(a), self.rank(b)
        return self.unsqueeze_front(a, rb - ra), self.unsqueeze_front(b, ra - rb)

    # ------------------------------------------------------------------ ops
    def elementwise(self, a, b, op):
        """``a op b`` with ONNX broadcasting; ``op`` an ElementWiseOperation or its name."""
        a, b = self.broadcast_pair(a, b)
        return self.out(self.network.add_elementwise(a, b, EW.parse(op)))

    def unary(self, t, op):
        return self.out(self.network.add_unary(t, UnaryOperation.parse(op)))

    def activation(self, t, type, alpha=None, beta=None):  # noqa: A002
        layer = self.network.add_activation(t, ActivationType.parse(type))
        if alpha is not None:
            layer.alpha = float(alpha)
        if beta is not None:
            layer.beta = float(beta)
        return self.out(layer)

    def reduce(self, t, op: ReduceOperation, axes, keep_dims=True):
        mask = 0
        for a in axes:
            mask |= 1 << a
        return self.out(self.network.add_reduce(t, op, mask, keep_dims))

    def transpose(self, t, perm):
        perm = tuple(int(p) for p in perm)
        if perm == tuple(range(len(perm))):
            return t
        layer = self.network.add_shuffle(t)
        layer.first_transpose = perm
        return self.out(layer)

    def concat(self, ts, axis: int = 0):
        if len(ts) == 1:
            return ts[0]
        layer = self.network.add_concatenation(list(ts))
        layer.axis = axis
        return self.done(layer)

    def axis_slice(self, x, axes, start, size, stride=None):
        """An ISliceLayer over ``axes`` only (created full-rank and valid, then narrowed to the axes)."""
        r = self.rank(x)
        layer = self.network.add_slice(x, (0,) * r, (0,) * r, (1,) * r)
        layer.axes = tuple(axes)
        layer.start = tuple(int(v) for v in start)
        layer.shape = tuple(int(v) for v in size)
        layer.stride = tuple(int(v) for v in (stride if stride is not None else [1] * len(axes)))
        return layer

    # ------------------------------------------------------------------ shape tensors
    def shape_of(self, t):
        """The shape of ``t`` as a 1-D INT64 tensor."""
        return self.out(self.network.add_shape(t))

    def dim_of(self, t, i: int):
        """Dim ``i`` of ``t``: an int when known, else a 1-element INT64 tensor."""
        d = t.shape[i]
        if d >= 0:
            return int(d)
        return self.out(self.network.add_slice(self.shape_of(t), (i,), (1,), (1,)))

    def dim_items(self, t):
        return [self.dim_of(t, i) for i in range(self.rank(t))]

    def mul_dims(self, items):
        """Product of ints and 1-element tensors (int when all are ints)."""
        known = int(np.prod([d for d in items if isinstance(d, int)], dtype=np.int64))
        tens = [d for d in items if not isinstance(d, int)]
        if not tens:
            return known
        acc = tens[0]
        for t in tens[1:]:
            acc = self.out(self.network.add_elementwise(acc, t, EW.PROD))
        if known != 1:
            acc = self.out(self.network.add_elementwise(acc, self.ints([known]), EW.PROD))
        return acc

    def shape_vector(self, items):
        """A 1-D INT64 tensor from ints and 1-element INT64 tensors (a constant when all are ints)."""
        if all(_is_int(d) for d in items):
            return self.ints([int(d) for d in items])
        parts, run = [], []
        for d in items:
            if _is_int(d):
                run.append(int(d))
                continue
            if run:
                parts.append(self.ints(run))
                run = []
            parts.append(self.cast(d, DataType.INT64))
        if run:
            parts.append(self.ints(run))
        return self.concat(parts, 0)

    def reshape(self, t, dims, zero_copies: bool = True):
        """``t`` reshaped to ``dims``: a sequence of ints (-1 allowed) and 1-element INT64 tensors, or a 1-D shape
        tensor (folded to a static reshape when its values are known). With ``zero_copies`` a 0 copies the input's
        dim (ONNX allowzero=0)."""
        layer = self.network.add_shuffle(t)
        layer.zero_is_placeholder = bool(zero_copies)
        if isinstance(dims, ITensor):
            v = self.value_of(dims)
            if v is not None:
                layer.reshape_dims = tuple(int(x) for x in v)
            else:
                layer.set_input(1, self.cast(dims, DataType.INT64))
        elif all(_is_int(d) for d in dims):
            layer.reshape_dims = tuple(int(d) for d in dims)
        else:
            layer.set_input(1, self.shape_vector(dims))
        return self.out(layer)

    def expand_to(self, t, shape_t):
        """Broadcast ``t`` (already at the target rank) to the 1-D INT64 ``shape_t`` with a stride-0 slice."""
        r = self.rank(t)
        tshape = self.shape_of(t)
        one = self.ints([1] * r)
        stride = self.elementwise(self.elementwise(tshape, one, EW.SUB), one, EW.MIN)  # 0 where the dim is 1
        stride = self.elementwise(stride, self.ints([0] * r), EW.MAX)
        layer = self.network.add_slice(t, (0,) * r, (1,) * r, (1,) * r)
        layer.set_input(1, self.ints([0] * r))
        layer.set_input(2, shape_t)
        layer.set_input(3, stride)
        return self.out(layer)

    # ------------------------------------------------------------------ any op kind
    def add_op(self, kind: str, inputs, attrs=None, n_out: int = 1) -> list:
        """A layer of op ``kind`` (any registered kind, ONNX-only ones included: ``network.internal.add_layer``) on
        ``inputs`` (None for an absent optional input); returns its first ``n_out`` output ITensors."""
        layer = self.network.internal.add_layer(kind, inputs, attrs or {})
        return [layer.get_output(i) for i in range(n_out)]

    # ------------------------------------------------------------------ ops by importer
    def onnx_op(self, op_type: str, inputs, n_out: int = 1, opset: int = 21, **attrs):
        """Import one ai.onnx ``op_type`` node on ITensors through its registered importer (contrib ops decompose
        into standard ones this way). ``inputs``: ITensors, or None for an absent input; ``attrs``: ONNX
        attributes. Returns the ``n_out`` output ITensors. Errors name the node being imported (``self.node``)."""
        from onnx import helper

        from .context import NodeView
        from .registry import lookup

        node = self.node
        fn = lookup("", op_type, opset)
        if fn is None:
            self.fail(f"no importer for {op_type}", E.INTERNAL_ERROR)
        stem = f"{node.name}/{op_type}#{self.network.num_layers}"
        names = []
        for k, t in enumerate(inputs):
            if t is None:
                names.append("")
                continue
            names.append(f"{stem}:in{k}")
            self.bind(names[-1], t)
        outs = [f"{stem}:out{k}" for k in range(n_out)]
        proto = helper.make_node(op_type, names, outs, name=node.name, **attrs)
        view = NodeView(proto, node.index, {**node.opsets, "": opset}, self.base_dir, node.function_stack)
        try:
            res = fn(self, view)
        finally:
            self.node = node
            for nm in names:
                self.unbind(nm)
        return list(res)[:n_out]
