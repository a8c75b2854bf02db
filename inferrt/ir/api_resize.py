"""Network API for ops/resize.py: ``add_resize`` (TensorRT 10)."""
from __future__ import annotations

from .layer import layer_class
from .network import network_method


def _exclusive(key, other):
    """A property that, when set, clears the attribute ``other`` (TensorRT's shape / scales are exclusive)."""

    def get(self):
        return self._get_attr(key)

    def set_(self, value):
        self._set_attr(key, value)
        self._set_attr(other, ())

    return property(get, set_, doc=f"Resize ``{key}``; setting it clears ``{other}``.")


IResizeLayer = layer_class("IResizeLayer", "resize", shape=_exclusive("shape", "scales"),
                           scales=_exclusive("scales", "shape"))


@network_method
def add_resize(self, input):  # noqa: A002
    """Resize; set ``shape`` or ``scales`` (or input 1 with set_input) before building.

    Shape inference waits until the output is used (the layer has no output size yet), so creating the layer and
    then setting its properties logs no error."""
    self._invalidate()
    return self._add("resize", [input])
