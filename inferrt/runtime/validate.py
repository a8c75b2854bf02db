"""Checks of a plan beyond its manifest's field types (plan/schema.py's read_manifest): the I/O table against
the graph, the optimization profiles, constant weights against their shapes, shape inference at every profile
point, and the recorded activation memory. Every failure is a PlanError that names the field, tensor or layer.

The checksum only proves the bytes are the ones a writer produced; these checks make sure the runtime never acts
on a manifest it does not understand (a buggy or forged writer), so loading fails here rather than at run time.
"""
from __future__ import annotations

import numpy as np

from ..errors import PlanError
from ..ir.kinds import Kind
from ..ops.base import OpError
from ..plan.schema import MAX_DIM, Manifest, check_shape as _shape, is_int as _is_int
from .executor import nbytes_of
from .memory import align
from .profile_memory import WHICH, profile_input_specs

MAX_TENSOR_BYTES = 2 ** 40


def _fail(msg: str):
    raise PlanError(f"corrupt plan: {msg}")


def check_engine_graph(manifest: Manifest, graph) -> None:
    """The decoded graph against the I/O table and profiles; shape inference and memory at every profile point."""
    io = manifest.io
    ins = [e.name for e in io if e.mode == "INPUT"]
    outs = [e.name for e in io if e.mode == "OUTPUT"]
    if ins != graph.inputs or outs != graph.outputs[:len(graph.outputs) - len(graph.debug)]:
        _fail(f"the I/O table (inputs {ins}, outputs {outs}) does not match the graph (inputs {graph.inputs}, "
              f"outputs {graph.outputs})")
    if not outs:
        _fail("the plan has no outputs")
    for name, s in graph.specs.items():
        if s.shape is not None:
            _shape(list(s.shape), f"shape of value {name!r}", True)
    for e in io:
        s = graph.specs.get(e.name)
        if e.mode == "INPUT":
            if s is None or s.shape is None:
                _fail(f"input {e.name!r} has no shape in the graph")
            if s.dtype.name != e.dtype or list(s.shape) != e.shape:
                _fail(f"input {e.name!r} is {e.dtype}{e.shape} in the I/O table but "
                      f"{s.dtype.name}{list(s.shape)} in the graph")
    for n in graph.nodes:
        if n.kind != Kind.CONSTANT:
            continue
        w, shp = n.attrs.get("weights"), n.attrs.get("shape")
        if w is None or not hasattr(w, "shape"):
            _fail(f"constant {n.name!r} has no weights")
        if not isinstance(shp, tuple) or not all(_is_int(d) and 0 <= d <= MAX_DIM for d in shp) \
                or int(np.prod(shp, dtype=object)) != int(np.prod(w.shape, dtype=object)):
            _fail(f"constant {n.name!r}: shape {shp} does not match its {tuple(w.shape)} weights")
    _check_profiles(manifest, graph)


def _check_profiles(manifest: Manifest, graph) -> None:
    for pi, p in enumerate(manifest.profiles):
        shapes = p.shapes
        for name in shapes:
            if name not in graph.inputs:
                _fail(f"optimization profile {pi} names {name!r}, which is not an input "
                      f"(inputs: {graph.inputs})")
        for name in graph.inputs:
            decl = graph.specs[name].shape
            if name not in shapes:
                if any(d < 0 for d in decl):
                    _fail(f"optimization profile {pi} has no shapes for dynamic input {name!r} {list(decl)}")
                continue
            mn, op, mx = shapes[name]
            if not len(mn) == len(op) == len(mx) == len(decl):
                _fail(f"optimization profile {pi}: shapes of {name!r} do not have the input's rank {len(decl)}")
            for i, (a, b, c, d) in enumerate(zip(mn, op, mx, decl)):
                if not a <= b <= c or (d >= 0 and not a == c == d):
                    _fail(f"optimization profile {pi}: dimension {i} of {name!r} has min {a}, opt {b}, max {c} "
                          f"but the input is {list(decl)}")
        most = 0   # an upper bound of the activation memory: every value in its own aligned slot
        for which in range(3):
            specs_in = profile_input_specs(graph, shapes, which)
            try:
                specs = graph.infer(specs_in)
            except OpError as e:
                _fail(f"shape inference fails at the {WHICH[which]} shapes of optimization profile {pi}: {e}")
            except Exception as e:  # noqa: BLE001 - ops are written for valid graphs; a forged one may break them
                _fail(f"shape inference fails at the {WHICH[which]} shapes of optimization profile {pi}: "
                      f"{type(e).__name__}: {e}")
            for n in graph.nodes:
                extra = [o for o in n.outputs if o not in specs]
                if extra:
                    _fail(f"node {n.name!r} ({n.kind}) lists outputs {extra} that its op does not produce")
            for name, s in specs.items():
                if s.static and int(np.prod(s.shape, dtype=object)) * 8 > MAX_TENSOR_BYTES:
                    _fail(f"value {name!r} would have shape {s.shape} at the {WHICH[which]} shapes of optimization "
                          f"profile {pi}, larger than any device")
            if all(s.static for s in specs.values()):
                most = max(most, sum(align(max(nbytes_of(s), 1)) for s in specs.values()))
        if p.device_memory > most:   # the exact figure is recomputed per shape set at run time
            _fail(f"optimization profile {pi} records {p.device_memory} bytes of activation memory but its "
                  f"shapes cannot need more than {most}")

