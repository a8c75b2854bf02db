"""``surgeon sanitize``: input shape overrides, constant folding and clean-up of an ONNX model, with the result
re-inferred (value_info and output shapes), topologically sorted and checked by onnx.checker."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import NetworkError
from .fold_constants import fold_constants
from .onnx_graph import cleanup, graph_inputs, sort_nodes


@dataclass
class SanitizeReport:
    nodes_before: int
    nodes_after: int = 0
    folded: int = 0
    removed: dict = field(default_factory=dict)
    overridden: dict = field(default_factory=dict)


def override_input_shapes(model, shapes: dict) -> None:
    """Set the shapes of graph inputs (ints or dim_param names) and drop the inferred shapes that depended on them
    (value_info; graph outputs keep their element type). NetworkError naming an unknown input."""
    inputs = {v.name: v for v in graph_inputs(model.graph)}
    for name, shape in shapes.items():
        if name not in inputs:
            raise NetworkError(f"--override-input-shapes: the model has no input {name!r}; its inputs are "
                               f"{', '.join(repr(n) for n in inputs)}")
        tt = inputs[name].type.tensor_type
        tt.shape.ClearField("dim")
        for d in shape:
            dim = tt.shape.dim.add()
            if isinstance(d, int):
                dim.dim_value = d
            else:
                dim.dim_param = d
    del model.graph.value_info[:]
    for o in model.graph.output:
        if o.type.HasField("tensor_type"):
            o.type.tensor_type.ClearField("shape")


def _reinfer(model) -> None:
    """Store shape inference's value_info and output shapes in ``model`` (left as is when inference fails)."""
    from ..onnx import native_worker
    from ..onnx.model_tools import light_copy

    try:
        inferred = native_worker.infer_shapes(light_copy(model))
    except Exception:  # noqa: BLE001 - check_model below reports a model that is really broken
        return
    produced = {o for n in model.graph.node for o in n.output}
    del model.graph.value_info[:]
    model.graph.value_info.extend(v for v in inferred.graph.value_info if v.name in produced)
    by_name = {v.name: v for v in inferred.graph.output}
    for o in model.graph.output:
        if o.name in by_name and by_name[o.name].type.HasField("tensor_type"):
            o.type.CopyFrom(by_name[o.name].type)


def _add(total: dict, more: dict) -> None:
    for k, v in more.items():
        total[k] = total.get(k, 0) + v


def check(model) -> None:
    """onnx.checker on the model (in the helper process); NetworkError with its message."""
    from ..onnx import native_worker
    from ..onnx.model_tools import light_copy

    try:
        native_worker.check_model(light_copy(model))
    except Exception as e:  # noqa: BLE001 - ValidationError and the worker's errors
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise NetworkError(f"the result is not a valid ONNX model: {first}") from None


def sanitize(model, *, fold: bool = False, do_cleanup: bool = False, shapes: dict | None = None,
             size_threshold: int | None = None, remove_unused_inputs: bool = False, fold_qdq: bool = False,
             log=None) -> SanitizeReport:
    """Sanitize ``model`` in place (the steps asked for, in the order overrides, folding, clean-up)."""
    rep = SanitizeReport(len(model.graph.node))
    sort_nodes(model)
    if shapes:
        override_input_shapes(model, shapes)
        rep.overridden = dict(shapes)
        _reinfer(model)
    if fold:
        # folding exposes more to fold (a Shape of a tensor whose shape became static once its producer folded)
        while True:
            n = fold_constants(model, size_threshold, log, fold_qdq)
            rep.folded += n
            if n == 0:
                break
            _add(rep.removed, cleanup(model))
            _reinfer(model)
    if fold or do_cleanup:
        _add(rep.removed, cleanup(model, remove_unused_inputs))
    _reinfer(model)
    check(model)
    rep.nodes_after = len(model.graph.node)
    return rep
