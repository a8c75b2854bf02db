"""Network API for ops/scale.py: ``add_scale``, ``add_scale_nd`` (TensorRT 10)."""
from __future__ import annotations

from ..enums import ScaleMode
from .layer import layer_class
from .network import network_method
from .weights import as_array

IScaleLayer = layer_class("IScaleLayer", "scale")


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
