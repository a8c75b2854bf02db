"""TensorRT 10's legacy plugin interface, accepted through an adapter: ``IPluginV2DynamicExt`` (with
``IPluginV2``/``IPluginV2Ext``) and ``IPluginCreator``, added with ``network.add_plugin_v2(inputs, plugin)``.

A V2 plugin runs as a V3 plugin (``V2Plugin`` below maps each call: ``get_output_datatype`` per output,
``get_output_dimensions`` per output, format combinations on PluginTensorDesc, ``initialize`` when attached to an
engine). The plan stores the bytes of its ``serialize()`` as the field ``inferrt_v2_data`` (UNKNOWN, one value per
byte); a loading process recreates it with the registered creator's ``deserialize_plugin(name, data)``.
"""
from __future__ import annotations

import numpy as np

from .fields import PluginField, PluginFieldCollection, PluginFieldType
from .interfaces import IPluginCreatorInterface, IPluginV3, IPluginV3OneBuild, IPluginV3OneCore, IPluginV3OneRuntime

V2_DATA = "inferrt_v2_data"


class IPluginV2:
    """Legacy plugin base (TensorRT's defaults)."""

    num_outputs = 1
    plugin_type = ""
    plugin_version = "1"
    plugin_namespace = ""

    def initialize(self):
        return 0

    def terminate(self):
        pass

    def serialize(self) -> bytes:
        return b""

    def get_serialization_size(self) -> int:
        return len(self.serialize())

    def clone(self):
        raise NotImplementedError(f"{type(self).__name__}.clone() must return a copy of the plugin")

    def destroy(self):
        pass


class IPluginV2Ext(IPluginV2):
    def attach_to_context(self, *args):
        pass

    def detach_from_context(self):
        pass


class IPluginV2DynamicExt(IPluginV2Ext):
    """``get_output_datatype(index, input_types)``, ``get_output_dimensions(output_index, inputs, expr_builder)``,
    ``supports_format_combination(pos, in_out, num_inputs)`` (PluginTensorDesc), ``configure_plugin(inp, out)``
    (DynamicPluginTensorDesc), ``get_workspace_size(inp, out)`` (PluginTensorDesc), ``enqueue(...)``."""

    def get_output_datatype(self, index, input_types):
        return input_types[0]

    def supports_format_combination(self, pos, in_out, num_inputs):
        from ..enums import TensorFormat

        return in_out[pos].format == TensorFormat.LINEAR

    def configure_plugin(self, inp, out):
        pass

    def get_workspace_size(self, inp, out):
        return 0


class IPluginCreator(IPluginCreatorInterface):
    """Legacy creator: ``create_plugin(name, field_collection)`` and ``deserialize_plugin(name, data)``."""

    name = ""
    plugin_version = "1"
    plugin_namespace = ""
    field_names = None

    def deserialize_plugin(self, name, serialized_plugin):
        raise NotImplementedError(f"{type(self).__name__} must implement deserialize_plugin(name, data)")


def is_v2_creator(creator) -> bool:
    return isinstance(creator, IPluginCreator) or (hasattr(creator, "deserialize_plugin")
                                                   and not hasattr(creator, "create_plugin_v3"))


class V2Plugin(IPluginV3, IPluginV3OneCore, IPluginV3OneBuild, IPluginV3OneRuntime):
    """A V2 plugin seen through the V3 interface."""

    def __init__(self, v2):
        self.v2 = v2
        self.plugin_name = str(v2.plugin_type)
        self.plugin_version = str(v2.plugin_version or "1")
        self.plugin_namespace = str(v2.plugin_namespace or "")

    @property
    def num_outputs(self) -> int:
        return int(self.v2.num_outputs)

    def clone(self):
        return V2Plugin(self.v2.clone())

    def get_output_data_types(self, input_types):
        return [self.v2.get_output_datatype(i, list(input_types)) for i in range(self.num_outputs)]

    def get_output_shapes(self, inputs, shape_inputs, expr_builder):
        return [self.v2.get_output_dimensions(i, inputs, expr_builder) for i in range(self.num_outputs)]

    def supports_format_combination(self, pos, in_out, num_inputs):
        return self.v2.supports_format_combination(pos, [d.desc for d in in_out], num_inputs)

    def configure_plugin(self, inp, out):
        self.v2.configure_plugin(inp, out)

    def get_workspace_size(self, inp, out):
        return self.v2.get_workspace_size([d.desc for d in inp], [d.desc for d in out])

    def attach_to_context(self, resource_context):
        c = self.clone()
        rc = c.v2.initialize()
        if rc not in (None, 0):
            raise RuntimeError(f"plugin {self.plugin_name}: initialize() returned {rc}")
        return c

    def get_fields_to_serialize(self):
        data = np.frombuffer(bytes(self.v2.serialize()), dtype=np.uint8)
        return PluginFieldCollection([PluginField(V2_DATA, data, PluginFieldType.UNKNOWN)])

    def enqueue(self, input_desc, output_desc, inputs, outputs, workspace, stream):
        return self.v2.enqueue(input_desc, output_desc, inputs, outputs, workspace, stream)


def from_plan(creator, name: str, fields) -> V2Plugin:
    """A V2 plugin recreated from a plan's fields with its creator's ``deserialize_plugin``."""
    data = bytes(np.asarray(fields[V2_DATA].data, dtype=np.uint8).tobytes()) if V2_DATA in fields else b""
    return V2Plugin(creator.deserialize_plugin(name, data))


def from_fields(creator, name: str, fields) -> V2Plugin:
    """A V2 plugin made by its creator from fields (ONNX attributes)."""
    return V2Plugin(creator.create_plugin(name, fields))
