"""Network API for padding, squeeze and unsqueeze (TensorRT 10)."""
from __future__ import annotations

from .layer import layer_class
from .network import network_method
from .tensor import ITensor

IPaddingLayer = layer_class("IPaddingLayer", "padding")
ISqueezeLayer = layer_class("ISqueezeLayer", "squeeze")
IUnsqueezeLayer = layer_class("IUnsqueezeLayer", "unsqueeze")


@network_method
def add_padding_nd(self, input, pre_padding, post_padding):  # noqa: A002 - TensorRT's parameter names
    """Pad (or crop, where negative) the innermost ``len(pre_padding)`` dimensions. inferrt extensions: the
    layer's ``mode`` ("constant", "reflect", "edge", "wrap"), a fill value tensor via ``set_input(1, t)`` and a
    pads tensor [pre..., post...] via ``set_input(2, t)``."""
    return self._add("padding", [input], {"pre_padding_nd": tuple(pre_padding),
                                          "post_padding_nd": tuple(post_padding)})


def _with_axes(self, kind, input, axes):  # noqa: A002
    if isinstance(axes, ITensor):
        return self._add(kind, [input, axes])
    return self._add(kind, [input], {"axes": tuple(int(a) for a in axes)})


@network_method
def add_squeeze(self, input, axes):  # noqa: A002
    """Remove size-1 dimensions ``axes`` (an INT32/INT64 ITensor as in TensorRT 10, or a list of ints)."""
    return _with_axes(self, "squeeze", input, axes)


@network_method
def add_unsqueeze(self, input, axes):  # noqa: A002
    """Insert size-1 dimensions at ``axes`` (positions in the output; an ITensor or a list of ints)."""
    return _with_axes(self, "unsqueeze", input, axes)
