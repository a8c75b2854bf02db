"""TensorRT's decorator plugins (``tensorrt.plugin``): ``register``, ``impl``, ``aot_impl``, ``autotune`` and the
``op`` namespace that ``network.add_plugin`` takes.

``@register("ns::name")`` declares the plugin with its shape-and-type function ``f(inp0: TensorDesc, ...,
attr: type, ...) -> TensorDesc | tuple[TensorDesc, ...]`` and registers a creator for it (name ``name``, version
"1", namespace ``ns``) in the plugin registry, so plans and ONNX models find it like any V3 plugin. ``@impl``
gives the run-time Python (``f(inp0: Tensor, ..., attrs, outputs, stream[, tactic])``, PyTorch or a Triton launch),
``@aot_impl`` a kernel compiled at build time (``f(inp0: TensorDesc, ..., attrs, outputs, tactic) -> (kernel name,
PTX or cubin, KernelLaunchParams, SymExprs)``, see plugin/aot.py) and ``@autotune`` the type/format combinations and
tactics (``f(inp0: TensorDesc, ..., attrs, outputs) -> [AutoTuneCombination]``).

Which implementation a layer uses: ``add_plugin(op, aot=...)``; without ``aot``, the only one registered, else
the network's ``PREFER_AOT_PYTHON_PLUGINS`` / ``PREFER_JIT_PYTHON_PLUGINS`` flag, else an error (as TensorRT). A JIT
layer stores the plugin's attributes in the plan and a loading process needs the decorated definitions (import
their module); an AOT layer stores its compiled kernel and needs nothing. On the CPU there is no AOT kernel: an AOT
layer built for the CPU runs its ``impl`` when one is registered, and the build fails naming the plugin when not.
"""
from __future__ import annotations

import inspect
import typing

import numpy as np

from ..enums import DataType, TensorFormat
from .descs import AutoTuneCombination, ShapeExprs, Tensor, TensorDesc
from .fields import PluginField, PluginFieldCollection, PluginFieldType
from .interfaces import (IPluginCreatorV3One, IPluginV3, IPluginV3OneBuild, IPluginV3OneCore, IPluginV3OneRuntime,
                         TensorRTPhase)

QDP_REGISTRY: dict[str, "PluginDef"] = {}
_SCALARS = (int, float, bool, str)


def _split_id(plugin_id: str) -> tuple[str, str]:
    ns, sep, name = str(plugin_id).rpartition("::")
    if not sep or not ns or not name:
        raise ValueError(f"plugin id {plugin_id!r} must be '<namespace>::<name>'")
    return ns, name


class PluginDef:
    """One decorator plugin: its shape function, attributes (name -> annotation), implementations."""

    def __init__(self, plugin_id: str, fn):
        self.id = plugin_id
        self.namespace, self.name = _split_id(plugin_id)
        self.register_func = fn
        sig = inspect.signature(fn)
        try:
            hints = typing.get_type_hints(fn)
        except Exception as e:  # noqa: BLE001 - an annotation naming something the function's module lacks
            raise ValueError(f"plugin {plugin_id}: the annotations of {fn.__name__} cannot be resolved ({e}); "
                             f"import what they name (e.g. inferrt.plugin as trtp) at module level") from None
        self.input_names, self.attrs = [], {}
        for p in sig.parameters.values():
            ann = hints.get(p.name, p.annotation)
            if ann is TensorDesc:
                if self.attrs:
                    raise ValueError(f"plugin {plugin_id}: input {p.name!r} comes after attributes; declare the "
                                     f"TensorDesc inputs first")
                self.input_names.append(p.name)
            else:
                if ann is inspect.Parameter.empty:
                    raise ValueError(f"plugin {plugin_id}: attribute {p.name!r} has no type annotation")
                self.attrs[p.name] = (ann, p.default)
        self.impl_func = self.aot_impl_func = self.autotune_func = None
        self.creator = None

    def register_creator(self):
        """Register this plugin's creator in the plugin registry (once)."""
        from .registry import get_plugin_registry

        if self.creator is None:
            self.creator = QuickPluginCreator(self)
            get_plugin_registry().register_creator(self.creator, self.namespace)
        return self.creator

    def __call__(self, *inputs, **attrs):
        """``trtp.op.ns.name(t0, t1, attr=v)``: what ``network.add_plugin`` takes."""
        return PluginCall(self, list(inputs), attrs)

    # ----------------------------------------------------------------------------------------- attributes
    def check_attrs(self, attrs: dict) -> dict:
        out = {}
        for k in attrs:
            if k not in self.attrs:
                raise ValueError(f"plugin {self.id} has no attribute {k!r}; it has {list(self.attrs) or 'none'}")
        for k, (ann, default) in self.attrs.items():
            if k not in attrs:
                if default is inspect.Parameter.empty:
                    raise ValueError(f"plugin {self.id}: attribute {k!r} is required")
                out[k] = default
            else:
                out[k] = _coerce(self.id, k, ann, attrs[k])
        return out

    def call_with(self, fn, head: list, attrs: dict, **tail):
        names = inspect.signature(fn).parameters
        kw = {k: v for k, v in attrs.items() if k in names}
        kw.update({k: v for k, v in tail.items() if k in names})
        return fn(*head, **kw)


def _coerce(pid, key, ann, v):
    origin = typing.get_origin(ann)
    try:
        if ann in (int, float, str):
            if ann is not str and isinstance(v, bool):
                raise TypeError("a bool")
            return ann(v) if not (ann is int and isinstance(v, float) and v != int(v)) else _bad()
        if ann is bool:
            return bool(v)
        if ann is np.ndarray:
            return np.asarray(v)
        if origin in (list, tuple) or ann in (list, tuple):
            (elem,) = typing.get_args(ann)[:1] or (None,)
            vals = list(np.asarray(v).reshape(-1).tolist()) if not isinstance(v, (list, tuple)) else list(v)
            return [elem(x) for x in vals] if elem in (int, float) else vals
    except (TypeError, ValueError) as e:
        raise ValueError(f"plugin {pid}: attribute {key!r} = {v!r} is not a {getattr(ann, '__name__', ann)} "
                         f"({e})") from None
    raise ValueError(f"plugin {pid}: attribute {key!r} has unsupported type {ann!r}; use int, float, bool, str, "
                     f"list[int], list[float] or numpy.ndarray")


def _bad():
    raise ValueError("not an integer")


class PluginCall:
    """A decorator plugin applied to network tensors with attribute values (``trtp.op.ns.name(...)``)."""

    def __init__(self, plugin_def: PluginDef, inputs: list, attrs: dict):
        self.plugin_def, self.inputs, self.attrs = plugin_def, inputs, attrs


class _Namespace:
    def __init__(self, ns):
        self._ns = ns

    def __getattr__(self, name):
        d = QDP_REGISTRY.get(f"{self._ns}::{name}")
        if d is None:
            raise AttributeError(f"no plugin {self._ns}::{name} is registered (decorate its shape function with "
                                 f"@inferrt.plugin.register('{self._ns}::{name}'))")
        d.register_creator()   # a lazily registered plugin joins the registry on first use
        return d


class _Op:
    """``trtp.op.<namespace>.<name>``: the registered decorator plugins."""

    def __getattr__(self, ns):
        if ns.startswith("__"):
            raise AttributeError(ns)
        return _Namespace(ns)


op = _Op()


# ------------------------------------------------------------------------------------------------- decorators
def register(plugin_id: str, lazy_register: bool = False):
    """Declare a plugin with its shape-and-type function and register its creator: now, or with
    ``lazy_register=True`` when the plugin is first used (``trtp.op.ns.name``), as TensorRT does."""

    def deco(fn):
        if plugin_id in QDP_REGISTRY:
            raise ValueError(f"plugin {plugin_id} is already registered")
        d = PluginDef(plugin_id, fn)
        QDP_REGISTRY[plugin_id] = d
        if not lazy_register:
            d.register_creator()
        return fn

    return deco


def _registered(plugin_id, what):
    d = QDP_REGISTRY.get(plugin_id)
    if d is None:
        raise ValueError(f"@{what}({plugin_id!r}): the plugin is not registered; decorate its shape function with "
                         f"@inferrt.plugin.register({plugin_id!r}) first")
    return d


def impl(plugin_id: str):
    def deco(fn):
        _registered(plugin_id, "impl").impl_func = fn
        return fn

    return deco


def aot_impl(plugin_id: str):
    def deco(fn):
        _registered(plugin_id, "aot_impl").aot_impl_func = fn
        return fn

    return deco


def autotune(plugin_id: str):
    def deco(fn):
        _registered(plugin_id, "autotune").autotune_func = fn
        return fn

    return deco


# ------------------------------------------------------------------------------------------------- the plugin
class QuickPlugin(IPluginV3, IPluginV3OneCore, IPluginV3OneBuild, IPluginV3OneRuntime):
    """The IPluginV3 behind a decorator plugin."""

    def __init__(self, d: PluginDef, attrs: dict, aot: bool = False):
        self.d = d
        self.attrs = attrs
        self.inferrt_aot = bool(aot)
        self.plugin_name, self.plugin_version, self.plugin_namespace = d.name, "1", d.namespace
        self.tactic = 0
        self._combos = None
        self.inferrt_input_exprs = None

    @property
    def num_outputs(self) -> int:
        """The number of descriptions the shape function returns (at the inputs' dims when known)."""
        shapes = self.inferrt_input_exprs or [[1] * 8 for _ in self.d.input_names]
        types = getattr(self, "_types", None) or [DataType.FLOAT] * len(shapes)
        out = self._descs([TensorDesc(s, t) for s, t in zip(shapes, types)], probe=True)
        return len(out) if out is not None else 1

    def _descs(self, ins, probe=False):
        try:
            out = self.d.call_with(self.d.register_func, ins, self.attrs)
        except Exception:
            if probe:
                return None
            raise
        out = list(out) if isinstance(out, (list, tuple)) else [out]
        for i, o in enumerate(out):
            if not isinstance(o, TensorDesc):
                raise TypeError(f"the shape function returned {type(o).__name__} for output {i}; return TensorDesc "
                                f"(e.g. inp0.like())")
        return out

    def clone(self):
        c = QuickPlugin(self.d, dict(self.attrs), self.inferrt_aot)
        c.tactic = self.tactic
        return c

    # -------------------------------------------------------------------------------------------- build
    def _input_descs(self, types=None, shapes=None):
        n = len(self.d.input_names)
        return [TensorDesc(shapes[i] if shapes else [], types[i] if types else DataType.FLOAT) for i in range(n)]

    def get_output_data_types(self, input_types):
        self._types = list(input_types)
        if len(input_types) != len(self.d.input_names):
            raise ValueError(f"it takes {len(self.d.input_names)} input(s) ({', '.join(self.d.input_names)}), "
                             f"got {len(input_types)}")
        shapes = getattr(self, "inferrt_input_exprs", None) or [[] for _ in input_types]
        return [o.dtype for o in self._descs(self._input_descs(types=input_types, shapes=shapes))]

    def get_output_shapes(self, inputs, shape_inputs, expr_builder):
        types = getattr(self, "_types", None) or [DataType.FLOAT] * len(inputs)
        descs = [TensorDesc(list(s), t) for s, t in zip(inputs, types)]
        return [list(o.shape_expr) for o in self._descs(descs)]

    def _combinations(self, in_out=None):
        if self.d.autotune_func is None:
            return None
        if self._combos is None and in_out is not None:
            n_in = len(self.d.input_names)
            ins = [TensorDesc(list(d.desc.dims), d.desc.type) for d in in_out[:n_in]]
            outs = tuple(TensorDesc(list(d.desc.dims), d.desc.type) for d in in_out[n_in:])
            self._combos = list(self.d.call_with(self.d.autotune_func, ins, self.attrs, outputs=outs) or [])
        return self._combos

    def supports_format_combination(self, pos, in_out, num_inputs):
        combos = self._combinations(in_out)
        d = in_out[pos].desc
        if combos is None:
            return d.format == TensorFormat.LINEAR
        return any(all(c.allows(i, x.desc.type, x.desc.format) for i, x in enumerate(in_out[:pos + 1]))
                   for c in combos)

    def configure_plugin(self, inp, out):
        self._io = [x.desc for x in list(inp) + list(out)]

    def get_valid_tactics(self):
        combos = self._combos
        if combos is None and self.d.autotune_func is not None and getattr(self, "_io", None):
            from .interfaces import DynamicPluginTensorDesc

            self._combinations([DynamicPluginTensorDesc(d) for d in self._io])
            combos = self._combos
        if not combos:
            return []
        io = getattr(self, "_io", None)
        fits = [c for c in combos if io is None or all(c.allows(i, d.type, d.format) for i, d in enumerate(io))]
        return list(dict.fromkeys(t for c in fits for t in c.tactics))

    # -------------------------------------------------------------------------------------------- runtime
    def set_tactic(self, tactic):
        self.tactic = int(tactic)

    def attach_to_context(self, resource_context):
        return self.clone()

    def get_fields_to_serialize(self):
        if self.inferrt_aot:  # TensorRT: an AOT plugin's attributes are not serialized
            return PluginFieldCollection()
        return PluginFieldCollection([_field(k, v) for k, v in self.attrs.items()])

    def enqueue(self, input_desc, output_desc, inputs, outputs, workspace, stream):
        if self.d.impl_func is None:
            raise RuntimeError(f"plugin {self.d.id} has no @impl to run (its aot_impl kernel runs on the GPU only); "
                               f"register one with @inferrt.plugin.impl({self.d.id!r})")
        ins = [Tensor(p.tensor, d.type) for p, d in zip(inputs, input_desc)]
        outs = tuple(Tensor(p.tensor, d.type) for p, d in zip(outputs, output_desc))
        self.d.call_with(self.d.impl_func, ins, self.attrs, outputs=outs, stream=stream, tactic=self.tactic)


def _field(name, v) -> PluginField:
    if isinstance(v, str):
        return PluginField(name, v, PluginFieldType.CHAR)
    if isinstance(v, bool):
        return PluginField(name, np.array([int(v)], np.int32), PluginFieldType.INT32)
    if isinstance(v, int):
        return PluginField(name, np.array([v], np.int64), PluginFieldType.INT64)
    if isinstance(v, float):
        return PluginField(name, np.array([v], np.float64), PluginFieldType.FLOAT64)
    return PluginField(name, np.asarray(v))


def _from_field(d: PluginDef, f: PluginField):
    ann = d.attrs[f.name][0]
    if f.type == PluginFieldType.CHAR:
        return _coerce(d.id, f.name, ann, f.text())
    arr = np.asarray(f.data)
    if ann in _SCALARS:
        if arr.size != 1:
            raise ValueError(f"plugin {d.id}: field {f.name!r} holds {arr.size} values for a scalar attribute")
        return _coerce(d.id, f.name, ann, arr.reshape(-1)[0].item())
    return _coerce(d.id, f.name, ann, arr)


class QuickPluginCreator(IPluginCreatorV3One):
    """The creator of a decorator plugin: fields -> attributes by the shape function's annotations; an ``aot``
    field (an ONNX node's ``aot`` attribute) selects the AOT implementation."""

    def __init__(self, d: PluginDef):
        self.d = d
        self.name, self.plugin_version, self.plugin_namespace = d.name, "1", d.namespace
        self.field_names = PluginFieldCollection([PluginField(k) for k in d.attrs])

    def create_plugin(self, name, field_collection, phase=TensorRTPhase.BUILD):
        attrs, aot = {}, None
        for f in field_collection or []:
            if f.name == "aot":
                aot = bool(np.asarray(f.data).reshape(-1)[0]) if f.size else True
                continue
            if f.name not in self.d.attrs:
                raise ValueError(f"plugin {self.d.id} has no attribute {f.name!r}; it has {list(self.d.attrs)}")
            attrs[f.name] = _from_field(self.d, f)
        if aot is None and TensorRTPhase.parse(phase) == TensorRTPhase.RUNTIME:
            aot = False   # a plan recreates only JIT plugins through their creator (AOT ones carry a kernel)
        aot = choose_aot(self.d, aot, None)
        return QuickPlugin(self.d, self.d.check_attrs(attrs), aot)


def choose_aot(d: PluginDef, aot, network) -> bool:
    """Whether a layer of ``d`` uses its AOT implementation (see the module docstring)."""
    has_jit, has_aot = d.impl_func is not None, d.aot_impl_func is not None
    if not has_jit and not has_aot:
        raise ValueError(f"plugin {d.id} has neither @impl nor @aot_impl; register one of them")
    if aot is None:
        if has_jit != has_aot:
            return has_aot
        from ..enums import NetworkDefinitionCreationFlag as F

        prefer_aot = network is not None and network.get_flag(F.PREFER_AOT_PYTHON_PLUGINS)
        prefer_jit = network is not None and network.get_flag(F.PREFER_JIT_PYTHON_PLUGINS)
        if prefer_aot == prefer_jit:
            raise ValueError(f"plugin {d.id} has both @impl and @aot_impl: pass aot=True or aot=False to "
                             f"add_plugin, or create the network with NetworkDefinitionCreationFlag."
                             f"PREFER_AOT_PYTHON_PLUGINS or PREFER_JIT_PYTHON_PLUGINS (one of them)")
        return prefer_aot
    if aot and not has_aot:
        raise ValueError(f"plugin {d.id}: aot=True but it has no @aot_impl")
    if not aot and not has_jit:
        raise ValueError(f"plugin {d.id}: aot=False but it has no @impl")
    return bool(aot)


def make_plugin(call: PluginCall, aot, network) -> QuickPlugin:
    d = call.plugin_def
    return QuickPlugin(d, d.check_attrs(call.attrs), choose_aot(d, aot, network))


__all__ = ["register", "impl", "aot_impl", "autotune", "op", "QDP_REGISTRY", "ShapeExprs"]
