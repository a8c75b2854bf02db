"""Assertion (IAssertionLayer): fail the build or the execution when a BOOL condition has a false element."""
from __future__ import annotations

import numpy as np

from ..enums import DataType, LayerType
from .base import STR, OpDef, OpError, register
from .indexing import execution_error


# ----------------------------------------------------------------------------------------------- Assertion
@register
class Assertion(OpDef):
    """Fails execution (or the build, when the condition is known then) if any element of the condition is false.
    It has no outputs; the builder and the executor keep nodes without outputs."""

    kind = "assertion"
    layer_type = LayerType.ASSERTION
    attrs = {"message": (STR, ""), "layer_name": (STR, "")}   # layer_name: for run-time error messages
    inputs = ("condition",)
    num_outputs = 0

    def _fail_msg(self, a):
        who = f"assertion layer {a.layer_name!r}" if a.layer_name else "assertion"
        return f"{who} failed: {a.message or '(no message)'}"

    def infer(self, a, ins):
        c = ins[0]
        if c.dtype != DataType.BOOL:
            raise OpError(f"the condition must be BOOL, got {c.dtype.name}")
        if c.value is not None and not np.all(c.value):
            raise OpError(self._fail_msg(a))
        return []

    def foldable(self, a):
        return False

    def run(self, a, ins, outs):
        if not bool(ins[0].all()):
            raise execution_error(self._fail_msg(a))
        return None
