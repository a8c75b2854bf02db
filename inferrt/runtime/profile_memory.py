"""Specs and activation memory of a graph at the min / opt / max shapes of an optimization profile.

Used by the builder, which records ``device_memory`` per profile in the plan; the loader infers the same specs to
verify a plan (and bounds its ``device_memory``; the exact figure is recomputed per shape set at run time).
"""
from __future__ import annotations

from ..ir.kinds import Kind
from ..ops import Spec
from ..plan.schema import WHICH  # noqa: F401 - re-exported: the builder and the loader name profile points
from .executor import plan_arena


def profile_input_specs(graph, shapes: dict, which: int) -> dict:
    """Input specs of ``graph`` at profile point ``which`` (0 min, 1 opt, 2 max); inputs the profile does not
    name keep their declared (static) shape."""
    return {n: Spec(graph.specs[n].dtype, tuple(shapes[n][which]) if n in shapes else graph.specs[n].shape)
            for n in graph.inputs}


def arena_bytes(graph, specs: dict) -> int:
    """Activation bytes the executor needs at concrete ``specs`` (0 when shapes depend on data: eager mode)."""
    if not all(s.static for s in specs.values()):
        return 0
    const_names = {n.outputs[0] for n in graph.nodes if n.kind == Kind.CONSTANT}
    return plan_arena(graph, specs, const_names)[1]
