"""Load the FP32 model and put it in the form AutoCast works on.

1. load: a path (external data resolved next to it), ONNX bytes, or an ``onnx.ModelProto`` (copied, never changed);
2. opset: raised to the low precision type's minimum (13 for fp16, 22 for bf16, as Model Optimizer) or set to the
   ``opset`` knob, with onnx's version converter; the IR version stays the input's, raised only as far as that
   opset needs (``model_tools.written_ir_version``);
3. names: every top-level node gets a unique name (``<op_type>_<index>`` for unnamed ones), so rules and the report
   can name it;
4. constants: top-level ``Constant`` nodes holding a tensor become initializers, so they are converted like weights;
5. types: every value's element type, from onnx's type inference (the reference run fills in the rest).
"""
from __future__ import annotations

import os
import warnings

from ..errors import BuildError, ParseError
from ..onnx.model_tools import light_copy, opset_map, written_ir_version
from .options import MIN_OPSET, SHORT_NAME


def load(source, tool="autocast"):
    """The model as a fresh ModelProto (its external data loaded); ``tool`` names the caller in errors."""
    import onnx

    if isinstance(source, onnx.ModelProto):
        model = onnx.ModelProto()
        model.CopyFrom(source)
        return model
    if isinstance(source, (bytes, bytearray, memoryview)):
        model = onnx.ModelProto()
        try:
            model.ParseFromString(bytes(source))
        except Exception as e:  # noqa: BLE001 - protobuf raises several types
            raise ParseError(f"the bytes are not an ONNX model ({type(e).__name__}: {e}); pass the content of a "
                             f".onnx file") from None
        return model
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise ParseError(f"ONNX model {path!r} does not exist; pass the path of a .onnx file")
        try:
            return onnx.load(path)
        except Exception as e:  # noqa: BLE001
            raise ParseError(f"cannot load ONNX model {path!r}: {type(e).__name__}: {e}") from None
    raise TypeError(f"{tool} takes an ONNX file path, ONNX bytes or an onnx.ModelProto, not a "
                    f"{type(source).__name__}")


def target_opset(model, low: int, requested) -> int:
    current = opset_map(model).get("", 1)
    if requested is not None:
        if requested < MIN_OPSET[low]:
            warnings.warn(f"opset {requested} is below {MIN_OPSET[low]}, the lowest at which most ops accept "
                          f"{SHORT_NAME[low]}: nodes whose schema lacks it stay FP32", stacklevel=3)
        if requested < current:
            warnings.warn(f"opset {requested} is below the model's opset {current}: converting down may fail or "
                          f"change ops", stacklevel=3)
        return requested
    return max(current, MIN_OPSET[low])


def convert_opset(model, opset: int):
    from ..onnx import native_worker

    current = opset_map(model).get("", 1)
    if opset == current:
        return model
    try:   # onnx's C++ converter runs in the helper process: an abort there cannot end this one
        return native_worker.convert_version(model, opset)
    except native_worker.NativeFailure as e:
        raise BuildError(native_worker.failure_message(f"converting the model from opset {current} to {opset}",
                                                       e)) from None
    except Exception as e:  # noqa: BLE001 - the converter raises several types
        raise BuildError(f"cannot convert the model from opset {current} to {opset} "
                         f"({type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}); pass "
                         f"opset={current} to keep the model's opset (nodes whose schema lacks the low precision "
                         f"type then stay FP32)") from None


def name_nodes(graph) -> None:
    taken = {n.name for n in graph.node if n.name}
    for i, n in enumerate(graph.node):
        if n.name:
            continue
        base = name = f"{n.op_type}_{i}"
        k = 1
        while name in taken:
            name, k = f"{base}_{k}", k + 1
        n.name = name
        taken.add(name)


def constants_to_initializers(graph) -> None:
    """Top-level Constant nodes with a ``value`` / ``value_float`` / ``value_floats`` become initializers."""
    from onnx import TensorProto, helper

    keep = []
    for n in graph.node:
        t = None
        if n.op_type == "Constant" and n.domain in ("", "ai.onnx") and len(n.attribute) == 1:
            a = n.attribute[0]
            if a.name == "value" and a.t.data_location == TensorProto.DEFAULT:
                t = TensorProto()
                t.CopyFrom(a.t)
            elif a.name == "value_float":
                t = helper.make_tensor("", TensorProto.FLOAT, [], [a.f])
            elif a.name == "value_floats":
                t = helper.make_tensor("", TensorProto.FLOAT, [len(a.floats)], list(a.floats))
        if t is None:
            keep.append(n)
            continue
        t.name = n.output[0]
        graph.initializer.append(t)
    if len(keep) != len(graph.node):
        del graph.node[:]
        graph.node.extend(keep)


def infer_types(model) -> dict:
    """value name -> TensorProto elem type, for every value onnx's type inference can type."""
    from ..onnx import native_worker

    types = {}
    try:   # onnx's C++ inference runs in the helper process: an abort there cannot end this one
        inferred = native_worker.infer_shapes(light_copy(model))
    except native_worker.NativeFailure as e:
        raise BuildError(native_worker.failure_message("ONNX shape inference", e)) from None
    except Exception:  # noqa: BLE001 - partial types are enough: the reference run supplies the rest
        inferred = model
    g = inferred.graph
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type:
            types[vi.name] = vi.type.tensor_type.elem_type
    for t in model.graph.initializer:
        types[t.name] = t.data_type
    return types


def prepare(source, low: int, opset):
    """(model ready for AutoCast, its opset, the opset it came with)."""
    model = load(source)
    if not model.HasField("graph"):
        raise ParseError("the model has no graph (empty or not an ONNX model)")
    original = opset_map(model).get("", 1)
    input_ir = model.ir_version
    opset = target_opset(model, low, opset)
    model = convert_opset(model, opset)
    model.ir_version = written_ir_version(model, input_ir)   # the input's, raised only as far as the opset needs
    name_nodes(model.graph)
    constants_to_initializers(model.graph)
    return model, opset, original
