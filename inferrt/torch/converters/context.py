"""ConvertContext: the state of one FX graph -> network conversion.

It maps FX nodes to what they became: an ITensor, a Python scalar (or list), or a :class:`SymDim` (a symbolic
integer such as a dynamic batch size, held as a 1-element INT64 shape tensor). It reuses the ONNX importer's
layer helpers (broadcasting, reshapes on shape tensors, casts), so shape arithmetic is written once for both
importers: shape tensors fold to constants whenever the dims are known.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.fx

from inferrt.dtypes import FLOAT_TYPES, from_torch_dtype
from inferrt.enums import DataType, ParserErrorCode
from inferrt.ir.tensor import ITensor
from inferrt.onnx.context import storable_array
from inferrt.onnx.context_compose import LayerHelpers
from inferrt.onnx.registry import ImportFailure


def weight_array(w: torch.Tensor) -> np.ndarray:
    """The numpy array a weight tensor becomes in the network (BF16 as float32 values, cast back in the network):
    the array a refit of that weight takes too."""
    w = w.detach().cpu()
    return np.ascontiguousarray((w.float() if w.dtype == torch.bfloat16 else w).numpy())


class ConversionError(Exception):
    """A node could not be converted; the message names the node and the op."""


class SymDim:
    """A symbolic int: a 1-element INT64 ITensor."""
    __slots__ = ("tensor",)

    def __init__(self, tensor):
        self.tensor = tensor


class ConvertContext(LayerHelpers):
    def __init__(self, network, attrs_of):
        self.network = network
        self.node: torch.fx.Node | None = None
        self.values: dict = {}
        self._attrs_of = attrs_of  # get_attr target -> torch.Tensor
        self._parameters: dict = {}  # get_attr target -> its constant ITensor (one constant per attribute)

    # ------------------------------------------------------------------ LayerHelpers' requirements
    def fail(self, message: str, code=ParserErrorCode.UNSUPPORTED_NODE):
        where = f"node {self.node.name!r} ({self.node.target}): " if self.node is not None else ""
        raise ConversionError(where + message)

    def value_of(self, tensor):
        if tensor is None or isinstance(tensor, (int, float)):
            return None
        try:
            return self.network.internal.known_value(tensor)
        except (AttributeError, ValueError, TypeError):
            return None

    @staticmethod
    def _storable(arr, where: str = ""):
        return storable_array(arr, where)

    def _set_name(self, t, name):
        if name is not None and not self.network.internal.has_tensor_name(name):
            t.name = name

    def out(self, layer, i: int = 0):
        try:
            return LayerHelpers.out(layer, i)
        except ImportFailure as e:
            self.fail(e.message)

    # ------------------------------------------------------------------ arguments
    def arg(self, node, i, default=None, name=None):
        """Argument ``i`` (or keyword ``name``) of ``node``, with FX nodes replaced by their converted values."""
        if i < len(node.args):
            a = node.args[i]
        elif name is not None and name in node.kwargs:
            a = node.kwargs[name]
        else:
            return default
        return self.evaluate(a)

    def evaluate(self, a):
        if isinstance(a, torch.fx.Node):
            return self.values[a]
        if isinstance(a, (list, tuple)):
            return type(a)(self.evaluate(x) for x in a)
        return a

    def tensor(self, v, like=None, dtype=None):
        """``v`` as an ITensor: scalars become constants (of ``dtype``, else of ``like``'s type, else by Python
        type), SymDims their shape tensor."""
        if isinstance(v, SymDim):
            return v.tensor
        if isinstance(v, (bool, int, float, np.number)):
            if dtype is None:
                if like is not None and not isinstance(v, bool) and like.dtype in FLOAT_TYPES:
                    dtype = like.dtype
                elif isinstance(v, bool):
                    dtype = DataType.BOOL
                elif isinstance(v, (int, np.integer)):
                    dtype = like.dtype if like is not None and like.dtype != DataType.BOOL else DataType.INT64
                else:
                    dtype = DataType.FLOAT
            arr = np.asarray(v, dtype=np.float32 if dtype in (DataType.HALF, DataType.BF16) else None)
            t = self.constant(self._np_of(arr, dtype))
            return self.cast(t, dtype)
        if isinstance(v, ITensor):
            return v
        self.fail(f"expected a tensor argument, got {type(v).__name__}")

    @staticmethod
    def _np_of(arr, dtype):
        from inferrt.dtypes import nptype

        if dtype in (DataType.HALF, DataType.BF16):
            return arr.astype(np.float32)
        return arr.astype(nptype(dtype))

    def dims(self, items):
        """A shape list of ints, SymDims and Python ints: ints stay ints, SymDims become 1-element INT64 tensors."""
        return [d.tensor if isinstance(d, SymDim) else int(d) for d in items]

    def out_dtype(self, node=None) -> DataType | None:
        """The DataType PyTorch computed for ``node``'s (first) output, from its FX metadata."""
        val = (node or self.node).meta.get("val")
        if isinstance(val, (list, tuple)):
            val = val[0] if val else None
        if isinstance(val, torch.Tensor):
            return from_torch_dtype(val.dtype)
        return None

    def as_out_dtype(self, t):
        """``t`` cast to the dtype PyTorch gives the current node (type promotion done PyTorch's way)."""
        dt = self.out_dtype()
        return self.cast(t, dt) if dt is not None and t.dtype != dt else t

    def parameter(self, target: str):
        """A get_attr target (a parameter, buffer or lifted constant) as a constant ITensor."""
        if target in self._parameters:
            return self._parameters[target]
        w = self._attrs_of(target)
        if not isinstance(w, torch.Tensor):
            self.fail(f"attribute {target!r} is a {type(w).__name__}, not a tensor")
        dt = from_torch_dtype(w.dtype)
        arr = self._storable(weight_array(w), target)
        layer = self.network.add_constant(arr.shape, arr)
        if layer is None:
            self.fail(f"could not create a constant for {target!r} of shape {tuple(arr.shape)}")
        layer.name = target
        if arr.size:
            # named after the attribute, so a refittable build's Refitter sets it by that name (engine_cache.py)
            self.network.set_weights_name(arr, target)
        t = layer.get_output(0)
        self._set_name(t, target)
        t = self.cast(t, dt) if dt == DataType.BF16 else t
        self._parameters[target] = t
        return t

    def unsqueeze_back(self, t, rank: int):
        """``t`` (of rank ``rank``) with a trailing dim of size 1; 0s copy the input dims, so the static dims stay
        known to shape inference even when others are dynamic."""
        layer = self.network.add_shuffle(t)
        layer.zero_is_placeholder = True
        layer.reshape_dims = (0,) * rank + (1,)
        return self.out(layer)

    @staticmethod
    def norm_dim(d: int, rank: int) -> int:
        return d + rank if d < 0 else d
