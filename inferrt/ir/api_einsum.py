"""Network API for ops/einsum.py: ``add_einsum`` (TensorRT 10)."""
from __future__ import annotations

from .layer import layer_class
from .network import network_method

IEinsumLayer = layer_class("IEinsumLayer", "einsum")


@network_method
def add_einsum(self, inputs, equation):
    return self._add("einsum", list(inputs), {"equation": str(equation)})
