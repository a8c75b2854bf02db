"""Plugin layers (IPluginV3Layer, kind ``plugin_v3``): a user's ``IPluginV3``, decorator plugin or (adapted)
``IPluginV2DynamicExt`` in the graph.

Attributes: ``plugin`` (the plugin; in a plan its name, version, namespace and serialized fields, see
plugin/plan_record.py) and ``num_shape_inputs`` (the trailing inputs that are shape inputs: their values feed the
shape function, enqueue never sees them); then what the build records for the run phase: ``input_types``
([DataType name, rank] of each data input), ``output_types`` (DataType names), ``output_exprs`` (each output dim as a
dimension-expression tree over the inputs' dims, plugin/exprs.py), ``aot_kernel`` (an AOT plugin's kernel and launch
parameters, plugin/aot.py) and ``default_tactic`` (the plugin's first valid tactic, run when the build timed none:
CPU builds). While the network is built, shape inference calls the plugin's ``get_output_data_types`` and
``get_output_shapes`` and records their answers; an engine evaluates the recorded trees at each call's shapes, so it
needs no build-time code of the plugin (TensorRT does the same). Any failure or bad answer of the plugin's functions
is an OpError naming the plugin and what it returned; the network prefixes the layer's name.

Plugins run through their own tactic (plugin/tactic.py), never the generic one: ``run`` here is not used.
"""
from __future__ import annotations

from ..enums import LayerType
from .base import INT, JSON, AttrType, OpDef, OpError, register


class _PluginAttr(AttrType):
    """The plugin object; stored in the plan as plain JSON (plugin/plan_record.py), recreated from the registry."""

    name = "plugin"

    def convert(self, v):
        from ..plugin.plan_record import check_plugin

        return check_plugin(v)

    def to_json(self, v, blobs):
        from ..plugin.plan_record import plugin_to_json

        return plugin_to_json(v)

    def from_json(self, j, blobs):
        from ..plugin.plan_record import plugin_from_json

        return plugin_from_json(j)


PLUGIN = _PluginAttr()


@register
class PluginV3(OpDef):
    kind = "plugin_v3"
    layer_type = LayerType.PLUGIN_V3
    attrs = {"plugin": (PLUGIN, None), "num_shape_inputs": (INT, 0), "input_types": (JSON, None),
             "output_types": (JSON, None), "output_exprs": (JSON, None), "aot_kernel": (JSON, None),
             "default_tactic": (INT, 0)}
    inputs = tuple(f"input{i}" for i in range(64))
    min_inputs = 0

    def foldable(self, a) -> bool:
        return False  # a plugin runs at run time only, never during shape inference

    def infer(self, a, ins):
        from ..plugin.plan_record import PlanPlugin
        from ..plugin.shapes import evaluate_outputs, infer_outputs

        if a.plugin is None:
            raise OpError("the layer has no plugin")
        n_data = len(ins) - a.num_shape_inputs
        if n_data < 0:
            raise OpError(f"num_shape_inputs {a.num_shape_inputs} is more than its {len(ins)} inputs")
        data, shape_ins = ins[:n_data], ins[n_data:]
        if any(s is None for s in data):
            raise OpError("a plugin input is missing")
        if isinstance(a.plugin, PlanPlugin):  # an engine: evaluate what the build recorded
            return evaluate_outputs(a, data, shape_ins)
        types, exprs, specs = infer_outputs(a.plugin, data, shape_ins)
        a["input_types"] = [[s.dtype.name, len(s.shape)] for s in data]
        a["output_types"] = types
        a["output_exprs"] = exprs
        return specs

    def run(self, a, ins, outs):
        raise NotImplementedError("plugin layers run through their plugin's tactic (plugin/tactic.py)")




from ..plugin import tactic as _tactic  # noqa: E402,F401 - registers the ``plugin`` tactic with this kind
