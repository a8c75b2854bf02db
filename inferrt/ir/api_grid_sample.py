"""Network API for ops/grid_sample.py: ``add_grid_sample`` (TensorRT 10)."""
from __future__ import annotations

from .layer import layer_class
from .network import network_method

IGridSampleLayer = layer_class("IGridSampleLayer", "grid_sample")


@network_method
def add_grid_sample(self, input, grid):  # noqa: A002
    return self._add("grid_sample", [input, grid])
