"""TensorRT's V3 plugin interfaces: ``IPluginV3`` with its capabilities ``IPluginV3OneCore``, ``IPluginV3OneBuild``
and ``IPluginV3OneRuntime``, the creator ``IPluginCreatorV3One``, the tensor descriptors and ``TensorRTPhase``.

A plugin is one Python object that subclasses ``IPluginV3`` and the capability classes it implements (TensorRT's
Python samples do exactly this) and returns itself from ``get_capability_interface``. The builder calls the build
capability (output types and shapes, format combinations, ``configure_plugin``, workspace size, valid tactics: each
tactic is timed by the autotuner like any other), the engine the runtime capability (``set_tactic``,
``on_shape_change``, ``attach_to_context``, ``enqueue``), and the plan stores ``plugin_name``, ``plugin_version``,
``plugin_namespace`` and ``get_fields_to_serialize()``: a loading process recreates the plugin from the creator
registered under that name, version and namespace, with phase ``TensorRTPhase.RUNTIME``.
"""
from __future__ import annotations

from ..enums import DataType, TensorFormat, make_enum

TensorRTPhase = make_enum("TensorRTPhase", "BUILD RUNTIME")
PluginCapabilityType = make_enum("PluginCapabilityType", "CORE BUILD RUNTIME")


class PluginTensorDesc:
    """A plugin tensor's description: ``dims`` (a tuple; -1 where unknown at build time), ``type`` (DataType),
    ``format`` (TensorFormat) and ``scale``."""

    __slots__ = ("dims", "type", "format", "scale")

    def __init__(self, dims=(), type=DataType.FLOAT, format=TensorFormat.LINEAR, scale=1.0):  # noqa: A002
        self.dims = tuple(int(d) for d in dims)
        self.type = DataType.parse(type)
        self.format = TensorFormat.parse(format)
        self.scale = float(scale)

    def __repr__(self):
        return f"PluginTensorDesc(dims={self.dims}, type={self.type.name}, format={self.format.name})"


class DynamicPluginTensorDesc:
    """A tensor's description at build time with the range of its shape over the profile: ``desc`` (dims with -1
    where dynamic), ``min``, ``opt`` and ``max``."""

    __slots__ = ("desc", "min", "opt", "max")

    def __init__(self, desc=None, min=(), opt=(), max=()):  # noqa: A002 - TensorRT's names
        self.desc = desc if desc is not None else PluginTensorDesc()
        self.min, self.opt, self.max = tuple(min), tuple(opt), tuple(max)

    def __repr__(self):
        return f"DynamicPluginTensorDesc({self.desc!r}, min={self.min}, opt={self.opt}, max={self.max})"


class IPluginResourceContext:
    """What ``attach_to_context`` receives: the device the execution context runs on (``device``, a torch.device)
    and its ``gpu_allocator`` (None: PyTorch's caching allocator)."""

    def __init__(self, device, gpu_allocator=None):
        self.device = device
        self.gpu_allocator = gpu_allocator


class IPluginCapability:
    """Base of the capability interfaces."""


class IPluginV3:
    """A V3 plugin: ``get_capability_interface(PluginCapabilityType)`` returns the object implementing that
    capability (usually ``self``); ``clone()`` returns an independent copy (the builder and every execution
    context get their own)."""

    def get_capability_interface(self, type):  # noqa: A002 - TensorRT's parameter name
        wanted = {PluginCapabilityType.CORE: IPluginV3OneCore, PluginCapabilityType.BUILD: IPluginV3OneBuild,
                  PluginCapabilityType.RUNTIME: IPluginV3OneRuntime}[PluginCapabilityType.parse(type)]
        return self if isinstance(self, wanted) else None

    def clone(self):
        raise NotImplementedError(f"{type(self).__name__}.clone() must return a copy of the plugin")

    def destroy(self):
        pass


class IPluginV3OneCore(IPluginCapability):
    """Identity of a plugin: ``plugin_name``, ``plugin_version`` and ``plugin_namespace`` (attributes; the
    registry finds the creator by these three)."""

    plugin_name = ""
    plugin_version = "1"
    plugin_namespace = ""


class IPluginV3OneBuild(IPluginCapability):
    """What the builder asks a plugin. Defaults follow TensorRT where it has one: LINEAR FLOAT-family formats of the
    types the plugin declares, no workspace, no custom tactics."""

    num_outputs = 1
    format_combination_limit = 100
    metadata_string = ""
    timing_cache_id = ""

    def get_output_data_types(self, input_types):
        raise NotImplementedError(f"{type(self).__name__} must implement get_output_data_types(input_types)")

    def get_output_shapes(self, inputs, shape_inputs, expr_builder):
        raise NotImplementedError(f"{type(self).__name__} must implement "
                                  f"get_output_shapes(inputs, shape_inputs, expr_builder)")

    def supports_format_combination(self, pos, in_out, num_inputs) -> bool:
        return in_out[pos].desc.format == TensorFormat.LINEAR

    def configure_plugin(self, inp, out):
        pass

    def get_workspace_size(self, inp, out) -> int:
        return 0

    def get_valid_tactics(self):
        return []


class IPluginV3OneRuntime(IPluginCapability):
    """What an engine asks a plugin at run time."""

    def set_tactic(self, tactic: int):
        pass

    def on_shape_change(self, inp, out):
        pass

    def attach_to_context(self, resource_context):
        return self.clone()

    def get_fields_to_serialize(self):
        from .fields import PluginFieldCollection

        return PluginFieldCollection()

    def enqueue(self, input_desc, output_desc, inputs, outputs, workspace, stream):
        raise NotImplementedError(f"{type(self).__name__} must implement "
                                  f"enqueue(input_desc, output_desc, inputs, outputs, workspace, stream)")


class IPluginCreatorInterface:
    """Base of the creator interfaces."""


class IPluginCreatorV3One(IPluginCreatorInterface):
    """Creates plugins of one name, version and namespace: ``create_plugin(name, field_collection, phase)``;
    ``field_names`` lists the fields it understands (a PluginFieldCollection)."""

    name = ""
    plugin_version = "1"
    plugin_namespace = ""
    field_names = None

    def create_plugin(self, name, field_collection, phase):
        raise NotImplementedError(f"{type(self).__name__} must implement create_plugin(name, fc, phase)")


def plugin_id(name, version, namespace) -> str:
    """``namespace::name (version v)``, as errors name a plugin."""
    return f"{namespace + '::' if namespace else ''}{name} (version {version})"
