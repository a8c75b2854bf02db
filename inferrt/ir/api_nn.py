"""Network API, layer families B: scale, normalization, LRN, resize, einsum, grid sample, NMS (TensorRT 10)."""
from __future__ import annotations

from ..enums import ScaleMode
from .layer import layer_class
from .network import network_method
from .weights import as_array


def _exclusive(key, other):
    """A property that, when set, clears the attribute ``other`` (TensorRT's shape / scales are exclusive)."""

    def get(self):
        return self._get_attr(key)

    def set_(self, value):
        self._set_attr(key, value)
        self._set_attr(other, ())

    return property(get, set_, doc=f"Resize ``{key}``; setting it clears ``{other}``.")


IScaleLayer = layer_class("IScaleLayer", "scale")
INormalizationLayer = layer_class("INormalizationLayer", "normalization")
ILRNLayer = layer_class("ILRNLayer", "lrn")
IResizeLayer = layer_class("IResizeLayer", "resize", shape=_exclusive("shape", "scales"),
                           scales=_exclusive("scales", "shape"))
IEinsumLayer = layer_class("IEinsumLayer", "einsum")
IGridSampleLayer = layer_class("IGridSampleLayer", "grid_sample")
INMSLayer = layer_class("INMSLayer", "nms")


def _scale(network, input, mode, shift, scale, power, channel_axis):  # noqa: A002
    attrs = {"mode": ScaleMode.parse(mode), "shift": as_array(shift), "scale": as_array(scale),
             "power": as_array(power), "channel_axis": int(channel_axis)}
    return network._add("scale", [input], attrs)


@network_method
def add_scale(self, input, mode, shift=None, scale=None, power=None):  # noqa: A002 - TensorRT's names
    """out = (input * scale + shift) ^ power; CHANNEL coefficients run along dimension 1."""
    return _scale(self, input, mode, shift, scale, power, 1)


@network_method
def add_scale_nd(self, input, mode, shift, scale, power, channel_axis):  # noqa: A002
    return _scale(self, input, mode, shift, scale, power, channel_axis)


@network_method
def add_normalization(self, input, scale, bias, axes):  # noqa: A002
    """Layer / instance / group normalization over the ``axes`` bitmask (set ``num_groups`` for group norm)."""
    return self._add("normalization", [input, scale, bias], {"axes": int(axes)})


@network_method
def add_lrn(self, input, window, alpha, beta, k):  # noqa: A002
    return self._add("lrn", [input], {"window_size": int(window), "alpha": float(alpha), "beta": float(beta),
                                      "k": float(k)})


@network_method
def add_resize(self, input):  # noqa: A002
    """Resize; set ``shape`` or ``scales`` (or input 1 with set_input) before building.

    Shape inference waits until the output is used (the layer has no output size yet), so creating the layer and
    then setting its properties logs no error."""
    self._invalidate()
    return self._add("resize", [input])


@network_method
def add_einsum(self, inputs, equation):
    return self._add("einsum", list(inputs), {"equation": str(equation)})


@network_method
def add_grid_sample(self, input, grid):  # noqa: A002
    return self._add("grid_sample", [input, grid])


@network_method
def add_nms(self, boxes, scores, max_output_boxes_per_class):
    """Non-max suppression; outputs selected indices [K, 3] (batch, class, box) and K. Thresholds: set_input(3/4)."""
    return self._add("nms", [boxes, scores, max_output_boxes_per_class])


__all__ = ["IScaleLayer", "INormalizationLayer", "ILRNLayer", "IResizeLayer", "IEinsumLayer", "IGridSampleLayer",
           "INMSLayer"]
