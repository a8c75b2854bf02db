"""Decide, node by node, which top-level nodes run in low precision and which stay FP32, and why.

Order of the checks (all the reasons that apply are kept, for the report):

1. structure, final: a node with a subgraph (If, Loop, Scan), an op onnx has no schema for (custom domains), an op
   whose float output type is an attribute (RandomNormal, ConstantOfShape, ...), or an op whose schema at the
   model's opset does not allow the low precision type where the node has float32 values stays FP32;
2. nodes with no float32 value (integer shape arithmetic, a Shape of a float tensor) are left unchanged;
3. the rules (``rules.py``): exclusions by name and op type, ``init_max``, ``data_max``,
   ``max_depth_of_reduction``, the variance path of decomposed norms (``keep_norm_variance``); a node that any of
   them flags stays FP32 unless ``nodes_to_include`` or ``op_types_to_include`` names it (then its reasons are
   reported as overridden);
4. a Cast to float32 that survives is lowered only if some reader takes its output in low precision (else
   retargeting it would only add a Cast back).
"""
from __future__ import annotations

import dataclasses

from onnx import AttributeProto, TensorProto, numpy_helper

from . import rules
from .norm_variance import variance_nodes
from .rules import Reason
from .type_constraints import OUTPUT_TYPE_BY_ATTRIBUTE, node_types, schema_of

LOW, FP32, UNCHANGED = "low", "fp32", "unchanged"


@dataclasses.dataclass
class NodeDecision:
    name: str
    op_type: str
    precision: str                      # LOW, FP32 or UNCHANGED
    reasons: list = dataclasses.field(default_factory=list)      # Reason: why FP32 (or why forced low)
    overridden: list = dataclasses.field(default_factory=list)   # Reason: rules an include knob overrode
    lowered_inputs: list = dataclasses.field(default_factory=list)
    lowered_outputs: list = dataclasses.field(default_factory=list)


def _has_subgraph(node) -> bool:
    return any(a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS) for a in node.attribute)


def _float_values(node, types) -> bool:
    return any(types.get(v) == TensorProto.FLOAT for v in list(node.input) + list(node.output) if v)


def _structural(node, schema, nt, types, low_name) -> Reason | None:
    if _has_subgraph(node):
        return Reason("control_flow", f"{node.op_type} has a subgraph; autocast converts top-level nodes only")
    if schema is None:
        return Reason("unknown_op", f"onnx has no schema for {node.domain or 'ai.onnx'}::{node.op_type} at the "
                                    f"model's opset, so which inputs may take {low_name} is unknown")
    if node.op_type in OUTPUT_TYPE_BY_ATTRIBUTE:
        return Reason("output_type_attribute", f"{node.op_type}'s float output type is set by an attribute")
    if nt.blocked and not nt.lowerable_inputs and not nt.lowerable_outputs:
        return Reason("schema", f"{node.op_type}-{schema.since_version} allows no {low_name} for "
                                f"{', '.join(nt.blocked)}")
    return None


class Classifier:
    def __init__(self, model, types: dict, stats: dict, opts, opsets: dict):
        self.graph = model.graph
        self.types = types
        self.stats = stats
        self.opts = opts
        self.opsets = opsets
        self.inits = {t.name: t for t in self.graph.initializer}
        self._init_abs = {}
        self._arrays = {}
        self.variance_path = variance_nodes(self.graph) if opts.keep_norm_variance else {}

    def _init_max_abs(self, names) -> dict:
        out = {}
        for n in names:
            t = self.inits.get(n)
            if t is None or t.data_type != TensorProto.FLOAT:
                continue
            if n not in self._init_abs:
                a = self._const(n)
                self._init_abs[n] = float(abs(a).max()) if a.size else 0.0
            out[n] = self._init_abs[n]
        return out

    def _const(self, name):
        if name not in self.inits:
            return None
        if name not in self._arrays:
            self._arrays[name] = numpy_helper.to_array(self.inits[name])
        return self._arrays[name]

    def _shape(self, name):
        s = self.stats.get(name)
        if s is not None:
            return s.shape
        t = self.inits.get(name)
        return tuple(t.dims) if t is not None else None

    def decide(self, node) -> NodeDecision:
        low_name = self.opts.low_name
        d = NodeDecision(node.name, node.op_type, UNCHANGED)
        schema = schema_of(node, self.opsets)
        nt = node_types(node, schema, self.types, self.opts.low) if schema is not None else None
        if not _float_values(node, self.types) or (nt is not None and not nt.float_inputs and not nt.float_outputs):
            return d
        hard = _structural(node, schema, nt, self.types, low_name)
        if hard is not None:
            d.precision, d.reasons = FP32, [hard]
            return d
        found = [r for r in (
            rules.excluded_by_op_type(node, self.opts.op_types_to_exclude),
            rules.excluded_by_name(node, self.opts.nodes_to_exclude),
            rules.initializer_range(node, nt.lowerable_inputs,
                                    self._init_max_abs(node.input[i] for i in nt.lowerable_inputs),
                                    self.opts.init_max),
            rules.io_range(node, nt, self.stats, self.opts.data_max),
            rules.depth_of_reduction(node, self._shape, self._const, self.opts.max_depth_of_reduction),
            rules.norm_variance(node, self.variance_path),
        ) if r is not None]
        d.lowered_inputs, d.lowered_outputs = list(nt.lowerable_inputs), list(nt.lowerable_outputs)
        if found:
            forced = rules.included(node, self.opts)
            if forced is None:
                d.precision, d.reasons = FP32, found
                d.lowered_inputs, d.lowered_outputs = [], []
                return d
            d.reasons, d.overridden = [forced], found
        d.precision = LOW
        return d


def classify(model, types: dict, stats: dict, opts, opsets: dict) -> list:
    """A NodeDecision per top-level node, in graph order."""
    c = Classifier(model, types, stats, opts, opsets)
    decisions = [c.decide(n) for n in model.graph.node]
    _settle_casts(model, decisions, opts)
    return decisions


def _settle_casts(model, decisions, opts) -> None:
    """Keep a Cast to float32 as it is when no reader would take its output in low precision."""
    readers = {}
    for n, d in zip(model.graph.node, decisions):
        for i, v in enumerate(n.input):
            readers.setdefault(v, []).append((d, i))
    outputs = {o.name for o in model.graph.output}
    for n, d in zip(model.graph.node, decisions):
        if n.op_type != "Cast" or d.precision != LOW or not d.lowered_outputs:
            continue
        v = n.output[0]
        wants_low = any(i in rd.lowered_inputs for rd, i in readers.get(v, []) if rd.precision == LOW)
        if v in outputs and not opts.keep_io_types:
            wants_low = True
        if not wants_low:
            d.precision, d.lowered_inputs, d.lowered_outputs = FP32, [], []
            d.reasons = [Reason("readers", "no reader takes its output in low precision (graph output kept "
                                           "float32 or FP32 readers only)")] + d.reasons
