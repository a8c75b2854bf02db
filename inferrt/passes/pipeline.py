"""The pass manager: one explicit, ordered pipeline; INFO logs what each pass changed; a debug switch dumps the
graph after each pass and checks the IR's invariants (well-formed, shapes infer, no origin name lost).

Choosing passes: ``config.passes`` (a list of pass names; ``[]`` turns optimization off) or the environment
variable ``INFERRT_PASSES`` (comma-separated names, or ``none``) select a subset, still run in pipeline order;
``INFERRT_DISABLE_PASSES`` (comma-separated) removes passes from whatever was selected.
"""
from __future__ import annotations

import copy
import dataclasses
import os
import time

from ..errors import BuildError
from ..logger import Severity
from ..ops.base import Attrs
from .eliminate_common_subexpressions import eliminate_common_subexpressions
from .eliminate_concat import eliminate_concat
from .eliminate_dead_layers import eliminate_dead_layers
from .eliminate_noops import eliminate_noops
from .fold_batchnorm_into_weights import fold_batchnorm_into_weights
from .fold_constants import fold_constants
from .fold_padding_into_conv import fold_padding_into_conv
from .fuse_attention import fuse_attention
from .fuse_conv_matmul_epilogue import fuse_conv_matmul_epilogue
from .fuse_gelu import fuse_gelu
from .fuse_horizontal_convs import fuse_horizontal_convs
from .fuse_horizontal_matmuls import fuse_horizontal_matmuls
from .fuse_norms import fuse_norms
from .fuse_pointwise import fuse_pointwise
from .fuse_softmax import fuse_softmax
from .merge_shuffles import merge_shuffles
from .sink_reshapes import sink_reshapes
from .rewrite import refresh_specs

#: (name, function(graph, ctx) -> number of changes, what a change is called), in order.
PIPELINE = [
    ("fold_constants", fold_constants, "layers folded"),
    ("eliminate_noops", eliminate_noops, "no-ops removed"),
    ("merge_shuffles", merge_shuffles, "shuffles merged"),
    ("eliminate_common_subexpressions", eliminate_common_subexpressions, "duplicates removed"),
    ("eliminate_dead_layers", eliminate_dead_layers, "dead layers removed"),
    ("fold_batchnorm_into_weights", fold_batchnorm_into_weights, "scales folded"),
    ("fold_padding_into_conv", fold_padding_into_conv, "paddings folded"),
    ("fuse_softmax", fuse_softmax, "fusions"),
    ("fuse_norms", fuse_norms, "fusions"),
    ("fuse_gelu", fuse_gelu, "fusions"),
    ("fuse_attention", fuse_attention, "fusions"),
    ("sink_reshapes", sink_reshapes, "reshapes moved"),
    ("fuse_conv_matmul_epilogue", fuse_conv_matmul_epilogue, "fusions"),
    ("fuse_horizontal_matmuls", fuse_horizontal_matmuls, "layers merged"),
    ("fuse_horizontal_convs", fuse_horizontal_convs, "layers merged"),
    ("fuse_pointwise", fuse_pointwise, "fusions"),
    ("eliminate_concat", eliminate_concat, "concatenations handled"),
    ("eliminate_dead_layers", eliminate_dead_layers, "dead layers removed"),
]

PASS_NAMES = tuple(dict.fromkeys(name for name, _, _ in PIPELINE))


class PassContext:
    def __init__(self, config=None, log=None, device="cpu"):
        self.config = config
        self.device = device
        self._log = log or (lambda sev, msg: None)

    def log(self, severity, msg):
        self._log(severity, msg)


def _names(value, where):
    if isinstance(value, str):
        value = [] if value.strip().lower() in ("", "none") else [v.strip() for v in value.split(",") if v.strip()]
    value = list(value)
    unknown = [v for v in value if v not in PASS_NAMES]
    if unknown:
        raise BuildError(f"{where} names unknown passes {unknown}; known passes: {', '.join(PASS_NAMES)}")
    return value


def selected_pipeline(config=None):
    """The pipeline after ``config.passes``, ``$INFERRT_PASSES`` and ``$INFERRT_DISABLE_PASSES``."""
    chosen = getattr(config, "passes", None)
    where = "config.passes"
    if chosen is None and os.environ.get("INFERRT_PASSES") is not None:
        chosen, where = os.environ["INFERRT_PASSES"], "$INFERRT_PASSES"
    keep = set(PASS_NAMES) if chosen is None else set(_names(chosen, where))
    keep -= set(_names(os.environ.get("INFERRT_DISABLE_PASSES", ""), "$INFERRT_DISABLE_PASSES"))
    return [p for p in PIPELINE if p[0] in keep]


def _origins(graph):
    return {o for n in graph.nodes for o in (n.origin or [n.name])}


def _snapshot(graph):
    """A copy of the graph's structure (weights are shared: passes never modify an array in place)."""
    nodes = [dataclasses.replace(n, inputs=list(n.inputs), outputs=list(n.outputs), attrs=Attrs(n.attrs),
                                 origin=list(n.origin), info=copy.deepcopy(n.info)) for n in graph.nodes]
    return nodes, list(graph.inputs), list(graph.outputs), dict(graph.specs)


def _restore(graph, snap):
    graph.nodes, graph.inputs, graph.outputs, graph.specs = snap


def run_pipeline(graph, ctx: PassContext, pipeline=None):
    """Run the passes in order. A pass that fails on an unexpected graph is undone and reported as a warning, so
    an optimizer bug costs speed, never a build (with ``config.debug_passes`` it raises instead)."""
    debug = bool(getattr(ctx.config, "debug_passes", False))
    steps = pipeline if pipeline is not None else selected_pipeline(ctx.config)
    for step in steps:
        name, fn = step[0], step[1]
        unit = step[2] if len(step) > 2 else "changes"
        t0 = time.perf_counter()
        before = _origins(graph) if debug else None
        snap = None if debug else _snapshot(graph)
        try:
            changes = fn(graph, ctx)
            if changes:
                graph.check()
                refresh_specs(graph)   # infers every shape: a pass that broke the graph fails here
        except Exception as e:  # noqa: BLE001 - any bug in a pass: keep the graph as it was before it
            if debug:
                raise
            _restore(graph, snap)
            ctx.log(Severity.WARNING, f"pass {name} failed and was skipped ({type(e).__name__}: {e}); the engine "
                                      f"is built without it. Please report this with the model.")
            continue
        if changes:
            ctx.log(Severity.INFO, f"{name}: {changes} {unit} ({len(graph.nodes)} layers, "
                                   f"{(time.perf_counter() - t0) * 1e3:.1f} ms)")
        if debug:
            graph.check()
            graph.infer()
            if name != "eliminate_dead_layers":
                lost = before - _origins(graph)
                if lost:
                    raise AssertionError(f"pass {name} lost the origin names {sorted(lost)}")
            ctx.log(Severity.VERBOSE, f"graph after {name}:\n{graph!r}")
    return graph
