"""Which inputs and outputs of an ONNX node can change from float32 to the low precision type, read from the op's
schema at the model's opset.

An op schema names a type parameter per input and output (``T``, ``T1``, or a fixed ``tensor(float)``) and the
types each parameter allows. A node binds a parameter to float32 when one of its values of that parameter is float32;
AutoCast can lower the parameter when the schema also allows the low precision type there. Lowering a parameter
changes every value bound to it together (an op's inputs and outputs of one parameter share their type)::

    Resize(X: T1, roi: T2, scales: tensor(float), sizes: tensor(int64)) -> Y: T1
           lowered   lowered  stays float32                                lowered

A few inputs are read in whatever type arrives (``AGNOSTIC_INPUTS``: Shape and Size read only the shape, Cast
converts anything): AutoCast never puts a Cast in front of them.
"""
from __future__ import annotations

import dataclasses

from onnx import TensorProto

#: (op_type -> input indices) read in any type: no Cast is inserted in front of them
AGNOSTIC_INPUTS = {"Shape": {0}, "Size": {0}, "Cast": {0}, "CastLike": {0}}
#: ops whose float output type is set by an attribute, not by their inputs: they stay as they are
OUTPUT_TYPE_BY_ATTRIBUTE = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "EyeLike",
                            "ConstantOfShape", "Bernoulli", "Multinomial"}

_TYPE_STR = {TensorProto.FLOAT: "tensor(float)", TensorProto.FLOAT16: "tensor(float16)",
             TensorProto.BFLOAT16: "tensor(bfloat16)"}


@dataclasses.dataclass
class NodeTypes:
    """The float32 values of one node and which of them can be lowered."""

    float_inputs: list        # input indices (non-agnostic) whose value is float32
    float_outputs: list       # output indices whose value is float32
    lowerable_inputs: list    # the float inputs whose parameter allows the low precision type
    lowerable_outputs: list
    blocked: list             # type parameters bound to float32 that do not allow the low precision type


def schema_of(node, opsets: dict):
    """The node's op schema at the model's opset for its domain, or None when onnx does not define the op."""
    import onnx.defs

    domain = "" if node.domain in ("", "ai.onnx") else node.domain
    version = opsets.get(domain)
    if version is None:
        return None
    try:
        return onnx.defs.get_schema(node.op_type, version, domain)
    except onnx.defs.SchemaError:
        return None


def _formal(params, i):
    """The formal parameter of actual position ``i`` (a variadic last parameter covers every later position)."""
    if i < len(params):
        return params[i]
    if params and str(params[-1].option).endswith("Variadic"):
        return params[-1]
    return None


def node_types(node, schema, types: dict, low: int) -> NodeTypes:
    """Classify the node's float32 values against ``schema`` (``types``: value name -> TensorProto elem type)."""
    agnostic = AGNOSTIC_INPUTS.get(node.op_type, set())
    allowed = {c.type_param_str: set(c.allowed_type_strs) for c in schema.type_constraints}
    low_str = _TYPE_STR[low]
    fin, fout, lin, lout, blocked = [], [], [], [], []

    def visit(names, params, skip, floats, lowerable):
        for i, name in enumerate(names):
            if not name or i in skip or types.get(name) != TensorProto.FLOAT:
                continue
            floats.append(i)
            p = _formal(params, i)
            ts = p.type_str if p is not None else None
            if ts in allowed and low_str in allowed[ts]:
                lowerable.append(i)
            elif ts is not None and ts not in blocked:
                blocked.append(ts)

    visit(node.input, schema.inputs, agnostic, fin, lin)
    visit(node.output, schema.outputs, set(), fout, lout)
    return NodeTypes(fin, fout, lin, lout, blocked)
