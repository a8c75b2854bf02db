"""The pass manager: one explicit, ordered pipeline; INFO logs what each pass changed; a debug switch dumps the
graph after each pass and checks the IR's invariants."""
from __future__ import annotations

import time

from ..logger import Severity
from .eliminate_dead_layers import eliminate_dead_layers

#: (name, function(graph, ctx) -> number of changes), in order.
PIPELINE = [
    ("eliminate_dead_layers", eliminate_dead_layers),
]


class PassContext:
    def __init__(self, config=None, log=None, device="cpu"):
        self.config = config
        self.device = device
        self._log = log or (lambda sev, msg: None)

    def log(self, severity, msg):
        self._log(severity, msg)


def run_pipeline(graph, ctx: PassContext, pipeline=None):
    debug = bool(getattr(ctx.config, "debug_passes", False))
    for name, fn in pipeline or PIPELINE:
        t0 = time.perf_counter()
        changes = fn(graph, ctx)
        if changes:
            ctx.log(Severity.INFO, f"{name}: {changes} change{'s' if changes != 1 else ''} "
                                   f"({len(graph.nodes)} layers, {(time.perf_counter() - t0) * 1e3:.1f} ms)")
        if debug:
            graph.check()
            ctx.log(Severity.VERBOSE, f"graph after {name}:\n{graph!r}")
    return graph
