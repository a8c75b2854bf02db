"""Network API for the pooling family (ops/pooling.py) beyond the core ``add_pooling_nd``: the inferrt extension
``add_max_pool_indices`` (the Indices output of ONNX MaxPool)."""
from __future__ import annotations

from .layer import _padding_nd, layer_class
from .network import network_method


IMaxPoolIndicesLayer = layer_class("IMaxPoolIndicesLayer", "max_pool_indices", padding_nd=_padding_nd())


@network_method
def add_max_pool_indices(self, input, window_size):  # noqa: A002 - TensorRT's parameter naming
    """Flat INT64 indices of the maxima of each max-pooling window (ONNX MaxPool's Indices output); configure it
    like an IPoolingLayer (stride_nd, padding_nd / pre_padding / post_padding, padding_mode, dilation_nd) plus
    ``storage_order`` (0 row major, 1 column major)."""
    return self._add("max_pool_indices", [input], {"window_size_nd": tuple(int(v) for v in window_size)})


__all__ = ["IMaxPoolIndicesLayer"]
