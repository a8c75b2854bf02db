"""Model-level helpers of the ONNX parser: opsets, types of values, the light copy the checker and shape inference
run on, and the network snapshot / restore that makes a failed parse leave the network unchanged."""
from __future__ import annotations


def max_opset() -> int:
    import onnx.defs

    return onnx.defs.onnx_opset_version()


def first_line(e) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


def opset_map(model) -> dict:
    return {("" if o.domain in ("", "ai.onnx") else o.domain): int(o.version) for o in model.opset_import}


def min_ir_version(model) -> int:
    """The lowest IR version the model's opset imports need (onnx's table; a domain or an opset the installed onnx
    does not know counts as IR 3)."""
    import onnx.helper

    return int(onnx.helper.find_min_ir_version_for(list(model.opset_import), ignore_unknown=True))


def written_ir_version(model, input_ir: int, at_least: int = 0) -> int:
    """The IR version a model our tools rewrite is written with: the input model's (``input_ir``), raised only as far
    as the written opsets (``min_ir_version``) and the types written into it (``at_least``) need. Never the installed
    onnx's newest (``onnx.IR_VERSION``, what ``onnx.helper.make_model`` stamps by default): an onnxruntime older than
    that onnx refuses such a model ("Unsupported model IR version")."""
    return max(int(input_ir), min_ir_version(model), int(at_least))


def fill_output_types(model) -> None:
    """Give untyped graph outputs (accepted by onnxruntime, rejected by the checker) their inferred types."""
    if all(o.type.HasField("tensor_type") or o.type.WhichOneof("value") for o in model.graph.output):
        return
    from .native_worker import NativeFailure, infer_shapes

    try:
        inferred = infer_shapes(model)
    except NativeFailure:
        raise
    except Exception:  # noqa: BLE001 - the strict pass later reports real problems
        return
    types = {v.name: v.type for v in inferred.graph.value_info}
    types.update({v.name: v.type for v in inferred.graph.output if v.type.WhichOneof("value")})
    for o in model.graph.output:
        if not o.type.WhichOneof("value") and o.name in types:
            o.type.CopyFrom(types[o.name])


def value_types(graph) -> dict:
    types = {}
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        types[vi.name] = vi.type
    from onnx import helper

    for init in graph.initializer:
        types.setdefault(init.name, helper.make_tensor_type_proto(init.data_type, list(init.dims)))
    return types


def snapshot(network):
    return network.internal.snapshot()


def restore(network, snap):
    network.internal.restore(snap)


_LIGHT_BYTES = 1 << 16


def light_copy(model):
    """The model without the data of its large initializers (they become typed graph inputs). The checker and
    shape inference serialize the whole model, which costs seconds for hundreds of MB of weights; they need only
    types and shapes of weights that large (small ones are kept: shape computations read their values)."""
    import onnx

    light = onnx.ModelProto()
    for f in ("ir_version", "producer_name", "producer_version", "domain", "model_version", "doc_string"):
        setattr(light, f, getattr(model, f))
    light.opset_import.extend(model.opset_import)
    light.functions.extend(model.functions)
    g, lg = model.graph, light.graph
    lg.name = g.name
    lg.node.extend(g.node)
    lg.input.extend(g.input)
    lg.output.extend(g.output)
    lg.value_info.extend(g.value_info)
    lg.sparse_initializer.extend(g.sparse_initializer)
    names = {i.name for i in g.input}
    for t in g.initializer:
        if t.data_location == 0 and len(t.raw_data) >= _LIGHT_BYTES:
            if t.name not in names:
                lg.input.append(onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
        else:
            lg.initializer.append(t)
    return light
