"""Keep the network's debug tensors (``mark_debug``) through the build.

Before the optimization passes each debug tensor joins the graph's outputs, so no pass fuses away the layer that
produces it or folds it into a view; after them it is moved to ``graph.debug``: it stays a value the executor writes
into a buffer of its own (as it writes outputs), but it is not an I/O tensor of the engine.
"""
from __future__ import annotations

from ..errors import BuildError
from ..ir.api_debug import debug_tensors


def protect_debug_tensors(network, graph) -> list[str]:
    """Add the debug tensors of ``network`` to ``graph.outputs``; returns their names (those not already outputs)."""
    names = []
    for t in debug_tensors(network):
        name = t.name
        if name not in graph.specs:
            raise BuildError(f"debug tensor {name!r} is not computed by the network (no layer produces it); unmark "
                             f"it with network.unmark_debug(tensor) or mark a tensor that a layer outputs")
        if name not in graph.outputs and name not in names:
            names.append(name)
    graph.outputs.extend(names)
    return names


def split_debug_tensors(graph, names: list[str]) -> None:
    """After the passes: record ``names`` as the graph's debug tensors (they stay in ``graph.outputs``, last)."""
    missing = [n for n in names if n not in graph.outputs]
    if missing:
        raise BuildError(f"internal error: optimization removed the debug tensors {missing}")
    graph.outputs = [o for o in graph.outputs if o not in names] + list(names)
    graph.debug = list(names)


def add_unfused_debug_tensors(network, graph) -> list[str]:
    """With ``network.mark_unfused_tensors_as_debug_tensors()``: after the passes, make the values that survived them
    debug tensors too (``graph.unfused``; they also join ``graph.debug`` and the end of ``graph.outputs``). Left out:
    graph I/O, constants, values already debug tensors, and values of channels-last regions (they are stored NHWC,
    not in the row-major layout a listener reads; TensorRT also promises no particular set). Returns their names."""
    from ..ir.api_debug import marks_unfused
    from ..ir.kinds import Kind
    from ..tactics.select import nhwc_values

    if not marks_unfused(network):
        return []
    io = set(graph.inputs) | set(graph.outputs)
    nhwc = nhwc_values(graph)
    names = [o for n in graph.nodes if n.kind != Kind.CONSTANT for o in n.outputs
             if o and o not in io and o not in nhwc and o in graph.specs]
    names = list(dict.fromkeys(names))
    graph.outputs.extend(names)
    graph.debug = graph.debug + names
    graph.unfused = names
    return names
