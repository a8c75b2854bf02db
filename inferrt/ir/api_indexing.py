"""Network API for the indexing layers: gather, scatter, one-hot, non-zero, reverse-sequence (TensorRT 10)."""
from __future__ import annotations

from ..enums import GatherMode, ScatterMode
from .layer import layer_class
from .network import network_method

IGatherLayer = layer_class("IGatherLayer", "gather")
IScatterLayer = layer_class("IScatterLayer", "scatter")
IOneHotLayer = layer_class("IOneHotLayer", "one_hot")
INonZeroLayer = layer_class("INonZeroLayer", "non_zero")
IReverseSequenceLayer = layer_class("IReverseSequenceLayer", "reverse_sequence")


@network_method
def add_gather(self, input, indices, axis):  # noqa: A002 - TensorRT's parameter names
    """Gather (DEFAULT mode) of ``input`` along ``axis`` at ``indices`` (INT32/INT64, negative = from the end)."""
    return self._add("gather", [input, indices], {"axis": int(axis), "mode": GatherMode.DEFAULT})


@network_method
def add_gather_v2(self, input, indices, mode):  # noqa: A002
    """Gather in ``mode`` (GatherMode DEFAULT / ELEMENT / ND); ``axis`` and ``num_elementwise_dims`` default to 0."""
    return self._add("gather", [input, indices], {"mode": GatherMode.parse(mode)})


@network_method
def add_scatter(self, data, indices, updates, mode):
    """Scatter ``updates`` into a copy of ``data`` (ScatterMode ELEMENT along ``axis``, or ND). The layer's
    ``reduction`` ("none", "add", "mul", "max", "min"; an inferrt extension) combines instead of replacing."""
    return self._add("scatter", [data, indices, updates], {"mode": ScatterMode.parse(mode)})


@network_method
def add_one_hot(self, indices, values, depth, axis):
    """One-hot encode ``indices``: ``values`` = [off_value, on_value], ``depth`` a 0-D INT32 tensor."""
    return self._add("one_hot", [indices, values, depth], {"axis": int(axis)})


@network_method
def add_non_zero(self, input):  # noqa: A002
    """Indices of the non-zero elements: output [rank, N] INT64, N known only at run time."""
    return self._add("non_zero", [input])


@network_method
def add_reverse_sequence(self, input, sequence_lens):  # noqa: A002
    """Reverse the first ``sequence_lens[b]`` elements along ``sequence_axis`` for each batch entry b."""
    return self._add("reverse_sequence", [input, sequence_lens])
