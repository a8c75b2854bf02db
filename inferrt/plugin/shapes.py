"""Output types and shapes of a plugin layer: asked of the plugin while the network is built, recorded as
dimension-expression trees (plugin/exprs.py) and evaluated from those at run time."""
from __future__ import annotations

import numpy as np

from ..enums import DataType
from ..ops.base import OpError, Spec
from .exprs import DimsExprs, IDimensionExpr, IExprBuilder, check_tree, dim_expr, evaluate, tree_json
from .interfaces import PluginCapabilityType


def identity_of(plugin) -> str:
    """``namespace::name (version v)`` of a live plugin or a plan record."""
    from .interfaces import plugin_id

    core = _core(plugin)
    return plugin_id(getattr(core, "plugin_name", "?"), getattr(core, "plugin_version", "?"),
                     getattr(core, "plugin_namespace", ""))


def _core(plugin):
    get = getattr(plugin, "get_capability_interface", None)
    core = get(PluginCapabilityType.CORE) if get is not None else None
    return core if core is not None else plugin


def build_interface(plugin):
    """The plugin's IPluginV3OneBuild capability; OpError when it has none."""
    get = getattr(plugin, "get_capability_interface", None)
    build = get(PluginCapabilityType.BUILD) if get is not None else None
    if build is None:
        raise OpError(f"plugin {identity_of(plugin)} has no build capability: get_capability_interface("
                      f"PluginCapabilityType.BUILD) returned None (subclass trt.IPluginV3OneBuild)")
    return build


def _call(plugin, what, fn, *args):
    try:
        return fn(*args)
    except OpError:
        raise
    except Exception as e:  # noqa: BLE001 - the user's code: any failure names the plugin and the function
        raise OpError(f"plugin {identity_of(plugin)}: {what} failed: {type(e).__name__}: {e}") from None


def _shape_input_exprs(spec: Spec, j: int) -> DimsExprs:
    """A shape input's values as expressions: constants when known, unknown leaves (``("s", j, k)``) otherwise."""
    if spec.value is not None:
        return DimsExprs([int(v) for v in np.asarray(spec.value).reshape(-1)])
    n = spec.shape[0] if spec.shape and spec.shape[0] >= 0 else 0
    return DimsExprs([IDimensionExpr(("s", j, k), None) for k in range(n)])


def infer_outputs(plugin, data: list, shape_ins: list):
    """(output DataType names, output dim trees, output Specs) from the plugin's build capability."""
    build = build_interface(plugin)
    who = identity_of(plugin)
    n_out = _call(plugin, "num_outputs", lambda: int(build.num_outputs))
    if n_out < 1:
        raise OpError(f"plugin {who}: num_outputs is {n_out}; a plugin has at least one output")
    inputs = [DimsExprs([dim_expr(i, k, d) for k, d in enumerate(s.shape)]) for i, s in enumerate(data)]
    if hasattr(build, "inferrt_input_exprs"):  # a decorator plugin: one function gives types and shapes
        build.inferrt_input_exprs = [list(x) for x in inputs]
    types = _call(plugin, "get_output_data_types", build.get_output_data_types, [s.dtype for s in data])
    types = list(types) if isinstance(types, (list, tuple)) else [types]
    if len(types) != n_out:
        raise OpError(f"plugin {who}: get_output_data_types returned {len(types)} type(s) for its {n_out} "
                      f"output(s) (num_outputs)")
    try:
        types = [DataType.parse(t) for t in types]
    except ValueError as e:
        raise OpError(f"plugin {who}: get_output_data_types returned a value that is not a DataType: {e}") from None
    shape_inputs = [_shape_input_exprs(s, j) for j, s in enumerate(shape_ins)]
    shapes = _call(plugin, "get_output_shapes", build.get_output_shapes, inputs, shape_inputs, IExprBuilder())
    shapes = list(shapes) if isinstance(shapes, (list, tuple)) else []
    if len(shapes) != n_out:
        raise OpError(f"plugin {who}: get_output_shapes returned {len(shapes)} shape(s) for its {n_out} output(s)")
    trees, dims = [], []
    for i, shape in enumerate(shapes):
        if not isinstance(shape, (list, tuple)):
            raise OpError(f"plugin {who}: get_output_shapes returned {type(shape).__name__} for output {i}; "
                          f"return a DimsExprs (a list of IDimensionExpr)")
        row_t, row_d = [], []
        for k, d in enumerate(shape):
            if isinstance(d, (int, np.integer)) and not isinstance(d, bool):
                d = IDimensionExpr(("c", int(d)), int(d))
            if not isinstance(d, IDimensionExpr):
                raise OpError(f"plugin {who}: get_output_shapes: dim {k} of output {i} is {d!r}, not an "
                              f"IDimensionExpr (build it with the expr_builder)")
            if d.value is not None and d.value < 0:
                raise OpError(f"plugin {who}: get_output_shapes: dim {k} of output {i} is {d.value}, which is "
                              f"negative (inputs {[tuple(s.shape) for s in data]})")
            row_t.append(tree_json(d.tree))
            row_d.append(-1 if d.value is None else d.value)
        trees.append(row_t)
        dims.append(row_d)
    specs = [Spec(t, tuple(d)) for t, d in zip(types, dims)]
    _configure(plugin, build, data, specs)
    return [t.name for t in types], trees, specs


def _configure(plugin, build, data, outs) -> None:
    """TensorRT's format negotiation on LINEAR (inferrt's only plugin format): every position must accept its type
    in LINEAR, then ``configure_plugin`` gets the inputs' and outputs' descriptions."""
    from ..enums import TensorFormat
    from .interfaces import DynamicPluginTensorDesc, PluginTensorDesc

    def dyn(s):
        dims = tuple(s.shape)
        return DynamicPluginTensorDesc(PluginTensorDesc(dims, s.dtype, TensorFormat.LINEAR), dims, dims, dims)

    ins, outs_d = [dyn(s) for s in data], [dyn(s) for s in outs]
    in_out = ins + outs_d
    for pos in range(len(in_out)):
        ok = _call(plugin, "supports_format_combination", build.supports_format_combination, pos, in_out, len(ins))
        if not ok:
            what = f"input {pos}" if pos < len(ins) else f"output {pos - len(ins)}"
            raise OpError(f"plugin {identity_of(plugin)}: supports_format_combination rejects {what} as "
                          f"{in_out[pos].desc.type.name} LINEAR (the types here: inputs "
                          f"{[s.dtype.name for s in data]}, outputs {[s.dtype.name for s in outs]}); cast the "
                          f"input or accept this type")
    _call(plugin, "configure_plugin", build.configure_plugin, ins, outs_d)


def evaluate_outputs(a, data: list, shape_ins: list) -> list:
    """Output Specs from the recorded types and trees at these input specs (-1 where an input dim is unknown)."""
    types, exprs = a.output_types, a.output_exprs
    if not isinstance(types, list) or not isinstance(exprs, list) or len(types) != len(exprs) or not types:
        raise OpError("the plan records no output types and shapes for this plugin layer")
    shapes = [list(s.shape) for s in data]
    values = [[int(v) for v in np.asarray(s.value).reshape(-1)] if s is not None and s.value is not None else None
              for s in shape_ins]
    out = []
    for t, row in zip(types, exprs):
        if t not in DataType.__members__:
            raise OpError(f"recorded output type {str(t)[:40]!r} is not a DataType")
        dims = []
        for tree in row:
            dims.append(_value(check_tree(tree, len(data), "plugin output shape", shape_inputs=len(shape_ins)),
                               shapes, values))
        out.append(Spec(DataType[t], tuple(dims)))
    return out


def _value(tree, shapes, values) -> int:
    """The tree's value, -1 when it reads an unknown dim or shape-input value."""
    if _unknown(tree, shapes, values):
        return -1
    v = evaluate(tree, shapes, values)
    if v < 0:
        raise OpError(f"an output dim evaluates to {v} at input shapes {shapes}")
    return v


def _unknown(tree, shapes, values) -> bool:
    if tree[0] == "d":
        return tree[2] >= len(shapes[tree[1]]) or shapes[tree[1]][tree[2]] < 0
    if tree[0] == "s":
        return values[tree[1]] is None or tree[2] >= len(values[tree[1]])
    if tree[0] == "op":
        return _unknown(tree[2], shapes, values) or _unknown(tree[3], shapes, values)
    return False
