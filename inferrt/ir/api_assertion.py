"""Network API for ops/assertion.py: ``add_assertion`` (TensorRT 10)."""
from __future__ import annotations

from .layer import ILayer, layer_class
from .network import network_method


def _assertion_name():
    def get(self):
        return self._name

    def set_(self, value):
        ILayer.name.fset(self, value)
        self._attrs["layer_name"] = self._name   # run-time failures name the layer

    return property(get, set_, doc=ILayer.name.__doc__)


IAssertionLayer = layer_class("IAssertionLayer", "assertion")
IAssertionLayer.name = _assertion_name()


@network_method
def add_assertion(self, condition, message):
    """Fail the build (condition known then) or the execution when any element of the BOOL ``condition`` is
    false, with ``message``. The layer has no outputs."""
    layer = self._add("assertion", [condition], {"message": str(message)})
    layer._attrs["layer_name"] = layer.name
    return layer
