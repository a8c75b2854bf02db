"""Network API for the sort family (ops/sort.py): ``add_topk`` (TensorRT 10)."""
from __future__ import annotations

from ..enums import DataType, TopKOperation
from .layer import layer_class
from .network import network_method


ITopKLayer = layer_class("ITopKLayer", "topk")


@network_method
def add_topk(self, input, op, k, axes, indices_type=DataType.INT32):  # noqa: A002 - TensorRT's parameter names
    """The k largest (MAX) or smallest (MIN) values along the one axis in the ``axes`` bitmask, sorted, ties to the
    lower index; outputs (values, indices). A 0-D INT32 tensor via ``set_input(1, t)`` makes k dynamic."""
    return self._add("topk", [input], {"op": TopKOperation.parse(op), "k": int(k), "axes": int(axes),
                                       "indices_type": DataType.parse(indices_type)})
