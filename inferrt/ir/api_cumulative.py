"""Network API for the scan family (ops/cumulative.py): ``add_cumulative`` (TensorRT 10)."""
from __future__ import annotations

from ..enums import CumulativeOperation
from .layer import layer_class
from .network import network_method
from .tensor import ITensor


ICumulativeLayer = layer_class("ICumulativeLayer", "cumulative")


@network_method
def add_cumulative(self, input, axis, op, exclusive, reverse):  # noqa: A002
    """Cumulative ``op`` along ``axis`` (a 0-D INT32/INT64 ITensor known at build time, as in TensorRT 10, or an
    int)."""
    attrs = {"op": CumulativeOperation.parse(op), "exclusive": bool(exclusive), "reverse": bool(reverse)}
    if isinstance(axis, ITensor):
        return self._add("cumulative", [input, axis], attrs)
    return self._add("cumulative", [input], dict(attrs, axis=int(axis)))
