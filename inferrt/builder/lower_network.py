"""Lower an INetworkDefinition to the builder's Graph: weights become constant nodes, names are kept."""
from __future__ import annotations

from ..enums import DataType
from ..ir.graph import Graph, Node
from ..ir.kinds import Kind
from ..ir.node_info import NodeInfo
from ..ops import Spec
from ..ops.base import Attrs
from .lower_control_flow import fold_control_flow


def lower_network(network) -> Graph:
    net = network.internal
    net.refresh()
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
    for t in net.inputs:
        g.inputs.append(t.name)
        g.specs[t.name] = Spec(net.input_dtype(t), net.input_shape(t))
    for layer in net.toposort():
        op = net.layer_op(layer)
        attrs = Attrs(net.layer_attrs(layer))
        inputs = [t.name if t is not None else "" for t in net.layer_inputs(layer)]
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
        kind = net.layer_kind(layer)
        output_types = net.output_types(layer)
        if kind == Kind.IDENTITY and 0 in output_types:
            kind, attrs = Kind.CAST, Attrs(to_type=output_types[0])
        info = NodeInfo(precision=layer.precision.name if layer.precision_is_set else None,
                        output_types={str(k): v.name for k, v in output_types.items()} or None,
                        metadata=str(layer.metadata) if layer.metadata else None)
        g.nodes.append(Node(unique(layer.name), kind, inputs, [t.name for t in net.layer_outputs(layer)], attrs,
                            origin=[layer.name], info=info))
        for t in net.layer_outputs(layer):
            g.specs[t.name] = net.spec(t)
    g.outputs = [t.name for t in net.outputs]
    fold_control_flow(g, network)  # TensorRT-style conditionals and loops (a no-op without them)
    return g


def _dtype_of(arr) -> DataType:
    from ..dtypes import from_numpy_dtype

    return from_numpy_dtype(arr.dtype)
