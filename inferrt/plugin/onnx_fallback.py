"""ONNX nodes with no importer, built as plugins (TensorRT's ``FallbackPluginImporter``).

A node whose operator the importer registry lacks is looked up in the plugin registry by its op type, its
``plugin_version`` attribute (default "1") and its ``plugin_namespace`` attribute (default ""). Every other
attribute becomes a plugin field: INT and INTS as INT32, FLOAT and FLOATS as FLOAT32, STRING as CHAR, TENSOR as its
values; for a decorator plugin, ``aot`` (an int) picks the AOT implementation. The creator is called with
``TensorRTPhase.BUILD`` and the layer gets the node's inputs.
"""
from __future__ import annotations

import numpy as np

from .fields import PluginField, PluginFieldCollection, PluginFieldType
from .interfaces import TensorRTPhase, plugin_id
from .registry import get_plugin_registry

_IDENTITY = ("plugin_version", "plugin_namespace")


def _identity(attrs: dict) -> tuple[str, str]:
    return str(attrs.get("plugin_version", "1")), str(attrs.get("plugin_namespace", ""))


def creator_for(op_type: str, attrs: dict):
    version, namespace = _identity(attrs)
    return get_plugin_registry().get_creator(op_type, version, namespace)


def creator_for_proto(proto):
    """The creator an ONNX NodeProto would be built with, or None."""
    from ..onnx.context import attribute_value

    attrs = {a.name: attribute_value(a) for a in proto.attribute if a.name in _IDENTITY}
    return creator_for(proto.op_type, attrs)


def _field(name, v) -> PluginField:
    if isinstance(v, str):
        return PluginField(name, v, PluginFieldType.CHAR)
    if isinstance(v, bool) or isinstance(v, int):
        return PluginField(name, np.array([int(v)], np.int32), PluginFieldType.INT32)
    if isinstance(v, float):
        return PluginField(name, np.array([v], np.float32), PluginFieldType.FLOAT32)
    if isinstance(v, list) and v and all(isinstance(x, int) for x in v):
        return PluginField(name, np.array(v, np.int32), PluginFieldType.INT32)
    if isinstance(v, list) and all(isinstance(x, (int, float)) for x in v):
        return PluginField(name, np.array(v, np.float32), PluginFieldType.FLOAT32)
    if isinstance(v, np.ndarray):
        return PluginField(name, v)
    raise TypeError(f"attribute {name!r} ({type(v).__name__}) cannot be a plugin field; plugins take ints, floats, "
                    f"strings and tensors")


def plugin_importer(view):
    """The importer of ONNX node ``view`` through its registered plugin creator, or None when there is none."""
    attrs = view.attrs
    creator = creator_for(view.op_type, attrs)
    if creator is None:
        return None

    def import_plugin(ctx, node):
        from ..enums import ParserErrorCode
        from ..onnx.registry import ImportFailure

        version, namespace = _identity(attrs)
        who = plugin_id(node.op_type, version, namespace)
        try:
            fields = PluginFieldCollection([_field(k, v) for k, v in attrs.items() if k not in _IDENTITY])
        except TypeError as e:
            raise ImportFailure(ParserErrorCode.UNSUPPORTED_NODE_ATTR, f"node {node.name!r} (plugin {who}): {e}")
        try:
            from .v2 import from_fields, is_v2_creator

            plugin = from_fields(creator, node.name, fields) if is_v2_creator(creator) else \
                creator.create_plugin(node.name, fields, TensorRTPhase.BUILD)
        except Exception as e:  # noqa: BLE001 - the user's creator
            raise ImportFailure(ParserErrorCode.INVALID_NODE, f"node {node.name!r}: the creator of plugin {who} "
                                f"failed on fields {[f.name for f in fields]}: {type(e).__name__}: {e}")
        if plugin is None:
            raise ImportFailure(ParserErrorCode.INVALID_NODE, f"node {node.name!r}: the creator of plugin {who} "
                                f"returned None")
        inputs = [ctx.tensor(name) for name in node.inputs]
        layer = ctx.network.add_plugin_v3(inputs, [], plugin)
        if layer is None:
            raise ImportFailure(ParserErrorCode.INVALID_NODE, f"node {node.name!r}: plugin {who} could not be added "
                                f"(see the logged error)")
        return [layer.get_output(i) for i in range(layer.num_outputs)]

    return import_plugin
