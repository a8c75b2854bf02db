"""TensorRT's conditional and loop API (``add_if_conditional``, ``add_loop``): the constructs and boundary layers.

The boundary layers are ordinary layers of the network, grouped by their construct's ``group`` attribute; the body
between them is not declared. The builder folds each construct into one ``if``/``loop`` node with subgraphs
(``inferrt.builder.lower_control_flow``).
"""
from __future__ import annotations

import itertools

from ..enums import LoopOutput, TripLimit
from . import layer as L
from .network import network_method

_ids = itertools.count()


# ----------------------------------------------------------------------------------------------- layer classes
def _conditional_prop():
    return property(lambda self: self._construct, doc="The IIfConditional this layer belongs to.")


def _loop_prop():
    return property(lambda self: self._construct, doc="The ILoop this layer belongs to.")


IConditionLayer = L.layer_class("IConditionLayer", "if_condition", conditional=_conditional_prop())
IIfConditionalInputLayer = L.layer_class("IIfConditionalInputLayer", "if_input", conditional=_conditional_prop())
IIfConditionalOutputLayer = L.layer_class("IIfConditionalOutputLayer", "if_output", conditional=_conditional_prop())
ITripLimitLayer = L.layer_class("ITripLimitLayer", "loop_trip_limit", loop=_loop_prop())
IIteratorLayer = L.layer_class("IIteratorLayer", "loop_iterator", loop=_loop_prop())
ILoopOutputLayer = L.layer_class("ILoopOutputLayer", "loop_output", loop=_loop_prop())


def _recurrence_set_input(self, index, tensor):
    """Input 0 is the initial value; input 1 the value for the next iteration (it may depend on this layer)."""
    if index == 1:
        self._network._check_tensor(tensor, f"recurrence layer {self.name!r} set_input(1)")
        self._next = tensor
        self._network._invalidate()
        return
    L.ILayer.set_input(self, index, tensor)


def _recurrence_get_input(self, index):
    if index == 1:
        return getattr(self, "_next", None)
    return L.ILayer.get_input(self, index)


IRecurrenceLayer = L.layer_class("IRecurrenceLayer", "loop_recurrence", loop=_loop_prop(),
                                 set_input=_recurrence_set_input, get_input=_recurrence_get_input,
                                 num_inputs=property(lambda self: 1 + (getattr(self, "_next", None) is not None)))
IIfLayer = L.layer_class("IIfLayer", "if")
ILoopLayer = L.layer_class("ILoopLayer", "loop")
IRNNLayer = L.layer_class("IRNNLayer", "rnn")


class _Construct:
    """A conditional or loop of ``network``: its boundary layers share one group attribute and point back to it."""

    def __init__(self, network, group: str, label: str):
        self._network = network
        self._group = f"{group}_{next(_ids)}"
        self.name = f"(Unnamed {label} {self._group.rsplit('_', 1)[1]})"

    def _boundary(self, kind, inputs, attrs=None):
        layer = self._network._add(kind, inputs, dict(group=self._group, **(attrs or {})))
        layer._construct = self
        return layer


class IIfConditional(_Construct):
    """TensorRT's IIfConditional: ``set_condition``, ``add_input``, ``add_output``, ``name``."""

    def __init__(self, network):
        super().__init__(network, "if_conditional", "IfConditional")

    def set_condition(self, condition):
        return self._boundary("if_condition", [condition])

    def add_input(self, input):  # noqa: A002 - TensorRT's parameter name
        return self._boundary("if_input", [input])

    def add_output(self, true_subgraph_output, false_subgraph_output):
        return self._boundary("if_output", [true_subgraph_output, false_subgraph_output])


class ILoop(_Construct):
    """TensorRT's ILoop: ``add_recurrence``, ``add_trip_limit``, ``add_iterator``, ``add_loop_output``, ``name``."""

    def __init__(self, network):
        super().__init__(network, "loop", "Loop")

    def add_recurrence(self, initial_value):
        return self._boundary("loop_recurrence", [initial_value])

    def add_trip_limit(self, tensor, kind):
        return self._boundary("loop_trip_limit", [tensor], {"kind": TripLimit.parse(kind)})

    def add_iterator(self, tensor, axis=0, reverse=False):
        return self._boundary("loop_iterator", [tensor], {"axis": int(axis), "reverse": bool(reverse)})

    def add_loop_output(self, tensor, kind, axis=0):
        return self._boundary("loop_output", [tensor], {"kind": LoopOutput.parse(kind), "axis": int(axis)})


@network_method
def add_if_conditional(self) -> IIfConditional:
    return IIfConditional(self)


@network_method
def add_loop(self) -> ILoop:
    return ILoop(self)
