"""Network API for topk, select, fill, cumulative and assertion (TensorRT 10)."""
from __future__ import annotations

from ..enums import CumulativeOperation, DataType, FillOperation, TopKOperation
from .layer import ILayer, layer_class
from .network import network_method
from .tensor import ITensor


def _assertion_name():
    def get(self):
        return self._name

    def set_(self, value):
        ILayer.name.fset(self, value)
        self._attrs["layer_name"] = self._name   # run-time failures name the layer

    return property(get, set_, doc=ILayer.name.__doc__)


def _is_alpha_beta_int64(self) -> bool:
    return False


ITopKLayer = layer_class("ITopKLayer", "topk")
ISelectLayer = layer_class("ISelectLayer", "select")
IFillLayer = layer_class("IFillLayer", "fill", is_alpha_beta_int64=_is_alpha_beta_int64)
ICumulativeLayer = layer_class("ICumulativeLayer", "cumulative")
IAssertionLayer = layer_class("IAssertionLayer", "assertion")
IAssertionLayer.name = _assertion_name()


@network_method
def add_topk(self, input, op, k, axes, indices_type=DataType.INT32):  # noqa: A002 - TensorRT's parameter names
    """The k largest (MAX) or smallest (MIN) values along the one axis in the ``axes`` bitmask, sorted, ties to the
    lower index; outputs (values, indices). A 0-D INT32 tensor via ``set_input(1, t)`` makes k dynamic."""
    return self._add("topk", [input], {"op": TopKOperation.parse(op), "k": int(k), "axes": int(axes),
                                       "indices_type": DataType.parse(indices_type)})


@network_method
def add_select(self, condition, then_input, else_input):
    """Elementwise ``condition ? then_input : else_input`` with broadcasting of size-1 dimensions."""
    return self._add("select", [condition, then_input, else_input])


@network_method
def add_fill(self, shape, op, output_type=DataType.FLOAT):
    """A tensor of ``shape`` filled by ``op`` (FillOperation). Inputs via set_input: 0 = shape tensor,
    1 = alpha, 2 = beta. RANDOM_* are reproducible from the layer's ``seed`` (an inferrt extension)."""
    return self._add("fill", [], {"shape": tuple(int(d) for d in shape), "operation": FillOperation.parse(op),
                                  "to_type": DataType.parse(output_type)})


@network_method
def add_cumulative(self, input, axis, op, exclusive, reverse):  # noqa: A002
    """Cumulative ``op`` along ``axis`` (a 0-D INT32/INT64 ITensor known at build time, as in TensorRT 10, or an
    int)."""
    attrs = {"op": CumulativeOperation.parse(op), "exclusive": bool(exclusive), "reverse": bool(reverse)}
    if isinstance(axis, ITensor):
        return self._add("cumulative", [input, axis], attrs)
    return self._add("cumulative", [input], dict(attrs, axis=int(axis)))


@network_method
def add_assertion(self, condition, message):
    """Fail the build (condition known then) or the execution when any element of the BOOL ``condition`` is
    false, with ``message``. The layer has no outputs."""
    layer = self._add("assertion", [condition], {"message": str(message)})
    layer._attrs["layer_name"] = layer.name
    return layer
