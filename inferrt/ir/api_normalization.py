"""Network API for ops/normalization.py: ``add_normalization``, ``add_lrn`` (TensorRT 10)."""
from __future__ import annotations

from .layer import layer_class
from .network import network_method

INormalizationLayer = layer_class("INormalizationLayer", "normalization")
ILRNLayer = layer_class("ILRNLayer", "lrn")


@network_method
def add_normalization(self, input, scale, bias, axes):  # noqa: A002
    """Layer / instance / group normalization over the ``axes`` bitmask (set ``num_groups`` for group norm)."""
    return self._add("normalization", [input, scale, bias], {"axes": int(axes)})


@network_method
def add_lrn(self, input, window, alpha, beta, k):  # noqa: A002
    return self._add("lrn", [input], {"window_size": int(window), "alpha": float(alpha), "beta": float(beta),
                                      "k": float(k)})
