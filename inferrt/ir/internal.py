"""NetworkInternals: ``network.internal``, the network's accessor for inferrt's own parser and builder.

TensorRT's API (``add_*``, ``get_layer``, ``num_layers``...) is what users call; inferrt's ONNX parser, its importers
and its builder need a little more: adding a layer of an op kind that has no TensorRT ``add_*`` method (ONNX-only
ops such as ``dft`` or ``integer_matmul``), reading the inferred spec of a tensor, the shape-inference errors recorded
on layers, and rolling a network back to an earlier state. They go through this accessor instead of reaching into the
network's private members, so the network's bookkeeping can change behind one interface. It is not part of TensorRT's
API and user code should not need it.
"""
from __future__ import annotations


class NetworkInternals:
    """Internal operations on one INetworkDefinition (see the module docstring)."""

    __slots__ = ("_net",)

    def __init__(self, network):
        self._net = network

    # ------------------------------------------------------------------ building
    def add_layer(self, kind: str, inputs, attrs=None, num_outputs=None, name=None):
        """A layer of op ``kind`` (any registered op, ONNX-only ones included) on ``inputs`` (None for an absent
        optional input); its outputs are inferred now and an inference error is recorded on the layer."""
        return self._net._add(kind, inputs, attrs, num_outputs=num_outputs, name=name)

    # ------------------------------------------------------------------ reading
    @property
    def layers(self) -> list:
        """The layers in creation order (the network's own list: do not mutate it; see ``restore``)."""
        return self._net._layers

    def toposort(self) -> list:
        """The layers in dependency order (producers before consumers); ValueError naming a layer on a cycle."""
        return self._net._toposort()

    @property
    def inputs(self) -> list:
        return self._net._inputs

    @property
    def outputs(self) -> list:
        return self._net._outputs

    def has_tensor_name(self, name: str) -> bool:
        """Whether a tensor of the network is named ``name`` (renaming a tensor onto a taken name is refused)."""
        return name in self._net._tensors

    def spec(self, tensor):
        """The inferred Spec (dtype, shape, known value) of ``tensor``, re-inferring stale layers first."""
        return self._net._spec(tensor)

    def known_value(self, tensor):
        """The value of ``tensor`` when shape inference folded it (a constant or shape arithmetic), else None."""
        return tensor._value()

    @staticmethod
    def producer(tensor):
        """The layer that produces ``tensor``, None for a network input."""
        return tensor._producer

    @staticmethod
    def input_shape(tensor) -> tuple | None:
        """The shape declared for network input ``tensor`` (a plain tuple, -1 where dynamic); None otherwise."""
        return tensor._input_shape

    @staticmethod
    def input_dtype(tensor):
        """The DataType declared for network input ``tensor``; None when it has none."""
        return tensor._input_dtype

    # per-layer fields, as the builder lowers them (the layer's own objects: do not mutate them)
    @staticmethod
    def layer_kind(layer) -> str:
        """The op kind of ``layer`` (a registered op name, e.g. ``"convolution"``)."""
        return layer._kind

    @staticmethod
    def layer_op(layer):
        """The OpDef implementing ``layer``'s kind."""
        return layer._op

    @staticmethod
    def layer_attrs(layer) -> dict:
        """The layer's attributes {name: converted value}, defaults included."""
        return layer._attrs

    @staticmethod
    def layer_inputs(layer) -> list:
        """The layer's input tensors, None for an absent optional input."""
        return layer._inputs

    @staticmethod
    def layer_outputs(layer) -> list:
        return layer._outputs

    @staticmethod
    def output_types(layer) -> dict:
        """The output types set with ``set_output_type``: {output index: DataType}."""
        return layer._output_types

    @staticmethod
    def construct_of(layer):
        """The IIfConditional or ILoop whose boundary layer ``layer`` is, else None."""
        return getattr(layer, "_construct", None)

    @staticmethod
    def recurrence_next(layer):
        """The next-iteration value of recurrence layer ``layer`` (its ``set_input(1, ...)``), None if unset."""
        return getattr(layer, "_next", None)

    @staticmethod
    def layer_error(layer) -> str | None:
        """The shape-inference error recorded on ``layer`` by its last inference, or None."""
        return getattr(layer, "_error", None)

    def layer_errors(self) -> list[str]:
        """The shape-inference errors of the network as it stands now (not logged: the caller reports them)."""
        return self._net._layer_errors()

    def logged_errors(self) -> list[str]:
        """Errors logged by API calls (bad arguments...), shape-inference ones excluded."""
        return [e for e in self._net._errors if not e.startswith("layer ")]

    def refresh(self) -> None:
        """Re-infer the layers whose inputs or attributes changed since their last inference."""
        self._net._refresh()

    # ------------------------------------------------------------------ rollback
    def snapshot(self):
        """A token for ``restore``: the layers, inputs, outputs and tensor names as they are now."""
        net = self._net
        return (len(net._layers), list(net._inputs), list(net._outputs), dict(net._tensors))

    def restore(self, snap) -> None:
        """Drop what was added since ``snapshot`` (layers, inputs, outputs, tensor names); shapes are re-inferred
        on next use and the shape-inference errors are cleared."""
        net = self._net
        n, inputs, outputs, tensors = snap
        del net._layers[n:]
        net._inputs[:] = inputs
        net._outputs[:] = outputs
        net._tensors.clear()
        net._tensors.update(tensors)
        net._invalidate()
        net._errors = [e for e in net._errors if not e.startswith("layer ")]
