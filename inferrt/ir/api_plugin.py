"""Network API for ops/plugin.py: ``add_plugin_v3`` (an IPluginV3) and ``add_plugin`` (a decorator plugin,
``tensorrt.plugin``), both making an IPluginV3Layer, and ``add_plugin_v2`` (TensorRT 10's legacy
IPluginV2DynamicExt, run through plugin/v2.py) making an IPluginV2Layer."""
from __future__ import annotations

from .layer import layer_class
from .network import network_method


def _get_plugin(self):
    return self._attrs["plugin"]


IPluginV3Layer = layer_class("IPluginV3Layer", "plugin_v3", get_plugin=_get_plugin)


@network_method
def add_plugin_v3(self, inputs, shape_inputs, plugin):
    """A layer running ``plugin`` (an IPluginV3) on ``inputs``; ``shape_inputs`` (shape tensors) feed its
    get_output_shapes only. None (and an error logged) when ``plugin`` is not an IPluginV3."""
    from ..plugin.plan_record import check_plugin
    from ..plugin.shapes import identity_of

    try:
        check_plugin(plugin)
        n_out = int(plugin.get_capability_interface(_build()).num_outputs)
    except (TypeError, ValueError, AttributeError) as e:
        self._log_error(f"add_plugin_v3: {e}")
        return None
    if n_out < 1:
        self._log_error(f"add_plugin_v3: plugin {identity_of(plugin)} has num_outputs {n_out}")
        return None
    shape_inputs = list(shape_inputs or [])
    return self._add("plugin_v3", list(inputs) + shape_inputs,
                     {"plugin": plugin, "num_shape_inputs": len(shape_inputs)}, num_outputs=n_out)


def _build():
    from ..plugin.interfaces import PluginCapabilityType

    return PluginCapabilityType.BUILD


@network_method
def add_plugin(self, plugin_call, aot=None):
    """A layer of a decorator plugin: ``network.add_plugin(trtp.op.ns.name(t0, attr=v), aot=None)``. ``aot``
    picks the implementation when the plugin has both (else the network's PREFER_*_PYTHON_PLUGINS flag)."""
    from ..plugin.decorators import PluginCall, make_plugin

    if not isinstance(plugin_call, PluginCall):
        self._log_error(f"add_plugin: expected trtp.op.<namespace>.<name>(inputs..., attrs...), got "
                        f"{type(plugin_call).__name__}")
        return None
    try:
        plugin = make_plugin(plugin_call, aot, self)
    except ValueError as e:
        self._log_error(f"add_plugin: {e}")
        return None
    return add_plugin_v3(self, plugin_call.inputs, [], plugin)


class IPluginV2Layer(IPluginV3Layer):
    """TensorRT's IPluginV2Layer: ``plugin`` is the V2 plugin the layer runs (through plugin/v2.py's adapter)."""

    @property
    def type(self):
        from ..enums import LayerType

        return LayerType.PLUGIN_V2

    @property
    def plugin(self):
        return self._attrs["plugin"].v2

    def get_plugin(self):
        return self.plugin


@network_method
def add_plugin_v2(self, inputs, plugin):
    """A layer running the legacy ``plugin`` (an IPluginV2DynamicExt) on ``inputs``."""
    from ..plugin.v2 import IPluginV2, V2Plugin

    if not isinstance(plugin, IPluginV2) and not hasattr(plugin, "get_output_dimensions"):
        self._log_error(f"add_plugin_v2: expected an IPluginV2DynamicExt, got {type(plugin).__name__}")
        return None
    adapter = V2Plugin(plugin)
    try:
        n_out = adapter.num_outputs
    except (TypeError, ValueError, AttributeError) as e:
        self._log_error(f"add_plugin_v2: {e}")
        return None
    return self._add("plugin_v3", list(inputs), {"plugin": adapter, "num_shape_inputs": 0}, num_outputs=n_out,
                     cls=IPluginV2Layer)
