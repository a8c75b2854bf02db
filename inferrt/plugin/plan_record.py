"""How a plugin is stored in a plan, and recreated from it.

Plan form of a plugin layer's ``plugin`` attribute (plain JSON, no code)::

    {"name": "CircPad", "version": "1", "namespace": "my", "fields": [PluginField.to_json()...], "aot": false}

``fields`` are what the plugin's ``get_fields_to_serialize()`` returned at build time. Loading a plan recreates a
JIT plugin with ``creator.create_plugin(name, fields, TensorRTPhase.RUNTIME)`` from the creator registered under that
name, version and namespace in the loading process; a plan whose creator is not registered is refused with a
PlanError that names the plugin and how to register it. An AOT plugin (``"aot": true``, decorator plugins with an
``aot_impl`` compiled at build time) needs no creator: its kernel travels in the plan (plugin/aot.py).
"""
from __future__ import annotations

from ..errors import PlanError
from .fields import PluginFieldCollection, fields_from_json, fields_to_json
from .interfaces import PluginCapabilityType, TensorRTPhase, plugin_id

_KEYS = {"name", "version", "namespace", "fields", "aot"}


class PlanPlugin:
    """A plugin as a plan records it: its identity and fields, and (JIT) the runtime plugin its creator made."""

    def __init__(self, name: str, version: str, namespace: str, fields: PluginFieldCollection, aot: bool,
                 plugin=None):
        self.plugin_name, self.plugin_version, self.plugin_namespace = name, version, namespace
        self.fields = fields
        self.aot = aot
        self.plugin = plugin

    def get_capability_interface(self, type):  # noqa: A002 - identity for messages (plugin/shapes.identity_of)
        if PluginCapabilityType.parse(type) == PluginCapabilityType.CORE:
            return self
        return None if self.plugin is None else self.plugin.get_capability_interface(type)

    def __repr__(self):
        return f"PlanPlugin({plugin_id(self.plugin_name, self.plugin_version, self.plugin_namespace)})"


def check_plugin(v):
    """The value of a layer's ``plugin`` attribute: an IPluginV3 (or a plan's record of one)."""
    if isinstance(v, PlanPlugin):
        return v
    get = getattr(v, "get_capability_interface", None)
    if get is None or get(PluginCapabilityType.CORE) is None:
        raise TypeError(f"expected an IPluginV3 (with an IPluginV3OneCore capability), got {type(v).__name__}")
    return v


def identity(plugin) -> tuple[str, str, str]:
    core = plugin if isinstance(plugin, PlanPlugin) else plugin.get_capability_interface(PluginCapabilityType.CORE)
    return str(core.plugin_name), str(core.plugin_version or "1"), str(core.plugin_namespace or "")


def plugin_to_json(plugin) -> dict:
    name, version, namespace = identity(plugin)
    if isinstance(plugin, PlanPlugin):
        return {"name": name, "version": version, "namespace": namespace, "fields": fields_to_json(plugin.fields),
                "aot": plugin.aot}
    aot = bool(getattr(plugin, "inferrt_aot", False))
    runtime = plugin.get_capability_interface(PluginCapabilityType.RUNTIME)
    if runtime is None:
        raise ValueError(f"plugin {plugin_id(name, version, namespace)} has no runtime capability (subclass "
                         f"trt.IPluginV3OneRuntime)")
    fields = runtime.get_fields_to_serialize()
    return {"name": name, "version": version, "namespace": namespace, "fields": fields_to_json(fields), "aot": aot}


def how_to_register(name, version, namespace) -> str:
    return (f"import the module that defines it before loading the plan, so that it calls "
            f"trt.get_plugin_registry().register_creator(creator, {namespace!r}) for a creator with name {name!r} "
            f"and plugin_version {version!r} (a decorator plugin registers itself with "
            f"@inferrt.plugin.register({(namespace + '::' + name)!r}))")


def plugin_from_json(j) -> PlanPlugin:
    """The plan's record of a plugin; a JIT plugin is recreated from the registered creator (PlanError when none
    is registered, naming the plugin and how to register it)."""
    if not isinstance(j, dict) or set(j) != _KEYS or not all(isinstance(j[k], str) for k in ("name", "version",
                                                                                             "namespace")) \
            or not isinstance(j["aot"], bool):
        raise PlanError(f"corrupt plan: a plugin record must be an object with string name, version and namespace, "
                        f"a fields list and a bool aot, got {str(j)[:120]}")
    name, version, namespace = j["name"], j["version"], j["namespace"]
    who = plugin_id(name, version, namespace)
    fields = fields_from_json(j["fields"], f"plugin {who}")
    if j["aot"]:
        return PlanPlugin(name, version, namespace, fields, True)
    from .registry import get_plugin_registry

    creator = get_plugin_registry().get_creator(name, version, namespace)
    if creator is None:
        raise PlanError(f"the plan uses plugin {who}, whose creator is not registered in this process: "
                        f"{how_to_register(name, version, namespace)}")
    try:
        from .v2 import from_plan, is_v2_creator

        if is_v2_creator(creator):
            plugin = from_plan(creator, name, fields)
        else:
            plugin = creator.create_plugin(name, PluginFieldCollection(fields), TensorRTPhase.RUNTIME)
    except Exception as e:  # noqa: BLE001 - the user's creator failing on the plan's fields
        raise PlanError(f"the creator of plugin {who} failed to recreate it from the plan's fields "
                        f"{[f.name for f in fields]}: {type(e).__name__}: {e}") from None
    if plugin is None or getattr(plugin, "get_capability_interface", None) is None:
        raise PlanError(f"the creator of plugin {who} returned {type(plugin).__name__} from create_plugin(..., "
                        f"TensorRTPhase.RUNTIME); it must return an IPluginV3")
    return PlanPlugin(name, version, namespace, fields, False, plugin)
