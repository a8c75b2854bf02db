"""Lower an INetworkDefinition to the builder's Graph: weights become constant nodes, names are kept."""
from __future__ import annotations

from ..enums import DataType
from ..ir.graph import Graph, Node
from ..ir.kinds import Kind
from ..ir.node_info import NodeInfo
from ..ops import Spec
from ..ops.base import Attrs


def lower_network(network) -> Graph:
    network._refresh()
    g = Graph()
    used: set[str] = set()

    def unique(name: str) -> str:
        """Layer names need not be unique in a network (ONNX importers reuse node names); graph nodes must be."""
        base, k = name, 1
        while name in used:
            name = f"{base} [{k}]"
            k += 1
        used.add(name)
        return name
    for t in network._inputs:
        g.inputs.append(t.name)
        g.specs[t.name] = Spec(t._input_dtype, t._input_shape)
    for layer in network._toposort():
        op = layer._op
        attrs = Attrs(layer._attrs)
        inputs = [t.name if t is not None else "" for t in layer._inputs]
        for slot, attr in op.weight_inputs.items():
            arr = attrs.get(attr)
            if arr is None or (slot < len(inputs) and inputs[slot]):
                attrs[attr] = None
                continue
            cname = f"{layer.name} [{attr}]"
            g.nodes.append(Node(unique(cname), Kind.CONSTANT, [], [cname], Attrs(weights=arr, shape=tuple(arr.shape)),
                                origin=[layer.name]))
            g.specs[cname] = Spec(_dtype_of(arr), tuple(arr.shape), None)
            while len(inputs) <= slot:
                inputs.append("")
            inputs[slot] = cname
            attrs[attr] = None
        while inputs and inputs[-1] == "":
            inputs.pop()
        kind = layer._kind
        if kind == Kind.IDENTITY and 0 in layer._output_types:
            kind, attrs = Kind.CAST, Attrs(to_type=layer._output_types[0])
        info = NodeInfo(precision=layer.precision.name if layer.precision_is_set else None,
                        output_types={str(k): v.name for k, v in layer._output_types.items()} or None,
                        metadata=str(layer.metadata) if layer.metadata else None)
        g.nodes.append(Node(unique(layer.name), kind, inputs, [t.name for t in layer._outputs], attrs,
                            origin=[layer.name], info=info))
        for t in layer._outputs:
            g.specs[t.name] = network._spec(t)
    g.outputs = [t.name for t in network._outputs]
    if any(n.kind.startswith(("if_", "loop_")) for n in g.nodes):  # TensorRT-style conditionals and loops
        from ..ir.api_control_flow import fold_control_flow

        fold_control_flow(g, network)
    return g


def _dtype_of(arr) -> DataType:
    from ..dtypes import from_numpy_dtype

    return from_numpy_dtype(arr.dtype)
