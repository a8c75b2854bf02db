"""The plugin registry: TensorRT's ``IPluginRegistry`` (``get_plugin_registry()``) and ``init_libnvinfer_plugins``.

Creators are keyed by (name, version, namespace). A plan records those three for each plugin layer; a loading
process must have registered the same creator (usually by importing the module that defines it) before it
deserializes the plan. Registration errors follow TensorRT: ``register_creator`` returns False and logs.
"""
from __future__ import annotations

import threading

from ..logger import Severity
from .interfaces import IPluginCreatorInterface, plugin_id


def _key(name, version, namespace) -> tuple:
    return str(name), str(version or "1"), str(namespace or "")


class IPluginRegistry:
    """Plugin creators by (name, version, namespace)."""

    def __init__(self):
        self._creators: dict[tuple, object] = {}
        self._lock = threading.Lock()
        self.error_recorder = None
        self.parent_search_enabled = True
        self.logger = None

    def _log(self, msg):
        from ..logger import Logger

        (self.logger or Logger()).log(Severity.ERROR, msg)
        if self.error_recorder is not None:
            self.error_recorder.report_error(3, msg)
        return False

    def register_creator(self, creator, plugin_namespace: str = "") -> bool:
        """Register ``creator`` under ``plugin_namespace`` (its own ``plugin_namespace`` when empty); False (and an
        error logged) when it is not a creator or a different creator has that name, version and namespace."""
        if not isinstance(creator, IPluginCreatorInterface) and not hasattr(creator, "create_plugin"):
            return self._log(f"register_creator: {type(creator).__name__} is not a plugin creator (subclass "
                             f"trt.IPluginCreatorV3One)")
        ns = plugin_namespace or getattr(creator, "plugin_namespace", "") or ""
        if ns and not getattr(creator, "plugin_namespace", ""):
            try:
                creator.plugin_namespace = ns
            except AttributeError:
                pass
        key = _key(creator.name, creator.plugin_version, ns)
        with self._lock:
            old = self._creators.get(key)
            if old is not None and old is not creator:
                return self._log(f"register_creator: a creator of plugin {plugin_id(*key[:2], key[2])} is already "
                                 f"registered; deregister_creator it first")
            self._creators[key] = creator
        return True

    def deregister_creator(self, creator) -> bool:
        with self._lock:
            for k, c in list(self._creators.items()):
                if c is creator:
                    del self._creators[k]
                    return True
        return self._log(f"deregister_creator: {type(creator).__name__} is not registered")

    def get_creator(self, name: str, version: str, namespace: str = ""):
        """The creator of ``name``/``version`` in ``namespace``, or None."""
        with self._lock:
            return self._creators.get(_key(name, version, namespace))

    get_plugin_creator = get_creator

    @property
    def all_creators(self) -> list:
        with self._lock:
            return list(self._creators.values())

    all_creators_recursive = all_creators

    @property
    def plugin_creator_list(self) -> list:
        return self.all_creators

    def creators_named(self, name: str, namespace: str = "") -> list:
        """Every registered creator of ``name`` in ``namespace`` (any version), newest version first."""
        with self._lock:
            found = [(k[1], c) for k, c in self._creators.items() if k[0] == name and k[2] == (namespace or "")]
        return [c for _, c in sorted(found, key=lambda vc: _version_key(vc[0]), reverse=True)]

    def load_library(self, path: str):
        self._log(f"load_library({path!r}): inferrt plugins are Python classes, not shared libraries; import the "
                  f"module that registers the creator instead")
        return None


def _version_key(v: str):
    return [int(p) if p.isdigit() else p for p in str(v).split(".")]


_REGISTRY = IPluginRegistry()


def get_plugin_registry() -> IPluginRegistry:
    """The process-wide plugin registry."""
    return _REGISTRY


def get_builder_plugin_registry(runtime_platform=None) -> IPluginRegistry:
    return _REGISTRY


def init_libnvinfer_plugins(logger=None, namespace: str = "") -> bool:
    """TensorRT's ``init_libnvinfer_plugins(logger, namespace)``: TensorRT registers its shipped C++ plugin library
    here. inferrt bundles none: the operators TensorRT maps onto libnvinfer_plugin (InstanceNorm, GridSample, NMS,
    ScatterND, the EfficientNMS / BatchedNMS family...) are built-in importers and layers. The call validates its
    arguments (TypeError naming the bad one), makes the registry log to ``logger``, says at INFO what it did, and
    returns True as TensorRT does; calling it any number of times is harmless."""
    if logger is not None and not callable(getattr(logger, "log", None)):
        raise TypeError(f"init_libnvinfer_plugins: logger must be an ILogger (an object with log(severity, msg)), "
                        f"got {type(logger).__name__}")
    if not isinstance(namespace, str):
        raise TypeError(f"init_libnvinfer_plugins: namespace must be a str ('' for the default namespace), got "
                        f"{type(namespace).__name__}")
    if logger is not None:
        if _REGISTRY.logger is None:
            _REGISTRY.logger = logger
        where = f"namespace {namespace!r}" if namespace else "the default namespace"
        logger.log(Severity.INFO, f"init_libnvinfer_plugins ({where}): inferrt has no plugin library to register; "
                                  f"the operators TensorRT implements as bundled plugins are built into its layers")
    return True
