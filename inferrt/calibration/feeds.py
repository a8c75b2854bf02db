"""The inputs a calibration (AutoCast's range measurement, the quantizer's) runs the FP32 model on.

User data, checked against the model's inputs (names, element types of the same kind, static dims):

- a path to an ``.npz`` file: ``{input name: array}``;
- a dict ``{input name: array}``;
- a list of such dicts: one feed each (every feed is measured; a value's magnitude is its largest over all).

An ``.npz`` or dict holding many samples is split into batches along axis 0: into ``batch_size`` rows each when
given, else (with every input's first dim fixed in the model, the same B for all, and the data N = k * B rows
with k > 1) into k feeds of B rows. Otherwise it is one feed.

Without data, one random feed (with a warning: measured ranges then only reflect unit-scale inputs): float inputs
are standard normal, integer inputs that reach a Gather's indices (through Cast, Reshape, Unsqueeze, ...) are
uniform over the gathered axis, other integer and bool inputs are ones (masks, lengths). Dims with no fixed size
are 1. The generator is local and seeded: conversions are repeatable.
"""
from __future__ import annotations

import os
import warnings

import numpy as np
from onnx import helper

from ..errors import BindingError, ShapeError

SEED = 20261207
#: ops an integer input passes through unchanged in value on its way to a Gather's indices
_PASS_THROUGH = {"Cast", "Identity", "Reshape", "Unsqueeze", "Squeeze", "Flatten", "Slice", "Concat", "Expand"}


def graph_inputs(graph) -> list:
    """The graph's real inputs (initializers listed as inputs by IR < 4 models are not fed)."""
    inits = {t.name for t in graph.initializer}
    return [vi for vi in graph.input if vi.name not in inits]


def _np_dtype(elem_type):
    return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))


def _dims(vi):
    if not vi.type.tensor_type.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]


def _check_feed(feed, inputs, where) -> dict:
    if not isinstance(feed, dict):
        raise BindingError(f"{where} must be a dict {{input name: array}}, got {type(feed).__name__}")
    names = [vi.name for vi in inputs]
    extra = [k for k in feed if k not in names]
    if extra:
        raise BindingError(f"{where} has {extra[0]!r}, which is not an input of the model (its inputs: "
                           f"{', '.join(names)}); name the arrays after the model's inputs")
    missing = [n for n in names if n not in feed]
    if missing:
        raise BindingError(f"{where} lacks input {missing[0]!r}; give an array for every model input "
                           f"({', '.join(names)})")
    out = {}
    for vi in inputs:
        arr = np.asarray(feed[vi.name])
        want = _np_dtype(vi.type.tensor_type.elem_type)
        same_kind = (arr.dtype.kind == "f" and want.kind == "f") or (arr.dtype.kind in "iub" and want.kind in "iub")
        if arr.dtype != want and not same_kind:
            raise BindingError(f"{where}[{vi.name!r}] is {arr.dtype}, the model's input is {want}; pass {want} data")
        dims = _dims(vi)
        if dims is not None:
            ok = len(dims) == arr.ndim and all(d is None or d == s for d, s in zip(dims, arr.shape))
            if not ok:
                shown = "x".join("?" if d is None else str(d) for d in dims)
                raise ShapeError(f"{where}[{vi.name!r}] has shape {arr.shape}, the model's input is [{shown}] "
                                 f"(? = any size); reshape the data to the input's shape")
        out[vi.name] = np.ascontiguousarray(arr.astype(want, copy=False))
    return out


def _split(feed, inputs, batch_size, where) -> list:
    """One feed of many samples as batches along axis 0 (see the module docstring)."""
    if not isinstance(feed, dict) or not feed:
        return [feed]
    rows = {k: np.shape(v)[0] if np.ndim(v) else None for k, v in feed.items()}
    if batch_size is None:
        first = {(_dims(vi) or [None])[0] for vi in inputs}
        if len(first) != 1 or None in first:
            return [feed]
        batch_size = first.pop()
        if not batch_size or any(r is None or r == batch_size or r % batch_size for r in rows.values()):
            return [feed]
    n = set(rows.values())
    if len(n) != 1 or None in n:
        raise ShapeError(f"{where} has arrays with different numbers of rows ({rows}); to split it into batches of "
                         f"{batch_size}, every input needs the same number of samples along axis 0")
    n = n.pop()
    return [{k: v[i:i + batch_size] for k, v in feed.items()} for i in range(0, n, batch_size)]


def user_feeds(data, graph, batch_size=None) -> list:
    """The user's calibration data as checked feeds (``batch_size``: rows per feed for data given as one array per
    input)."""
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                   or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    inputs = graph_inputs(graph)
    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        if not os.path.isfile(path):
            raise BindingError(f"calibration data {path!r} does not exist; pass an .npz file of the model's inputs")
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except Exception as e:  # noqa: BLE001 - numpy raises several types for a bad file
            raise BindingError(f"cannot read calibration data {path!r} as .npz ({type(e).__name__}: {e}); save it "
                               f"with numpy.savez(path, **{{input name: array}})") from None
        where = f"calibration data {os.path.basename(path)}"
        return [_check_feed(f, inputs, where) for f in _split(data, inputs, batch_size, where)]
    if isinstance(data, dict):
        return [_check_feed(f, inputs, "calibration_data") for f in _split(data, inputs, batch_size,
                                                                              "calibration_data")]
    if isinstance(data, (list, tuple)):
        if not data:
            raise BindingError("calibration_data is an empty list; give at least one feed or None for random data")
        where = "calibration_data[{}]"
        return [_check_feed(b, inputs, where.format(i)) for i, f in enumerate(data)
                for b in _split(f, inputs, batch_size, where.format(i))]
    raise BindingError(f"calibration_data must be an .npz path, a dict {{input name: array}} or a list of such "
                       f"dicts, not a {type(data).__name__}")


def _index_bounds(graph) -> dict:
    """For each integer graph input that reaches a Gather's indices, the size of the axis it indexes (when known)."""
    shapes = {t.name: list(t.dims) for t in graph.initializer}
    for vi in list(graph.input) + list(graph.value_info):
        d = _dims(vi)
        if d is not None:
            shapes.setdefault(vi.name, d)
    readers = {}
    for n in graph.node:
        for i, name in enumerate(n.input):
            readers.setdefault(name, []).append((n, i))
    bounds = {}
    for vi in graph_inputs(graph):
        sizes, seen, todo = [], set(), [vi.name]
        while todo:
            v = todo.pop()
            if v in seen:
                continue
            seen.add(v)
            for n, i in readers.get(v, []):
                if n.op_type in _PASS_THROUGH and i == 0 or n.op_type == "Concat":
                    todo += list(n.output)
                elif n.op_type == "Gather" and i == 1:
                    axis = next((a.i for a in n.attribute if a.name == "axis"), 0)
                    data = shapes.get(n.input[0])
                    if data and -len(data) <= axis < len(data) and data[axis]:
                        sizes.append(data[axis])
        if sizes:
            bounds[vi.name] = min(sizes)
    return bounds


def random_feed(graph) -> tuple[dict, list]:
    """(one random feed, the inputs whose unknown dims were set to 1)."""
    rng = np.random.default_rng(SEED)
    bounds = _index_bounds(graph)
    feed, guessed = {}, []
    for vi in graph_inputs(graph):
        dims = _dims(vi)
        if dims is None:
            raise ShapeError(f"input {vi.name!r} has no shape in the model; pass calibration_data for it")
        if any(d is None for d in dims):
            guessed.append(vi.name)
        shape = [1 if d is None else d for d in dims]
        dtype = _np_dtype(vi.type.tensor_type.elem_type)
        if dtype.kind == "f":
            feed[vi.name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind in "iu" and vi.name in bounds:
            feed[vi.name] = rng.integers(0, bounds[vi.name], size=shape).astype(dtype)
        elif dtype.kind in "iub":
            feed[vi.name] = np.ones(shape, dtype)
        else:
            raise BindingError(f"input {vi.name!r} is {dtype}; random data covers numbers only, pass "
                               f"calibration_data")
    return feed, guessed


def calibration_feeds(data, graph, *, batch_size=None,
                      consequence="the measured ranges only reflect unit-scale inputs") -> tuple[list, list]:
    """(feeds, warnings). Without data: one random feed and a warning that says ``consequence``."""
    if data is not None:
        return user_feeds(data, graph, batch_size), []
    feed, guessed = random_feed(graph)
    msg = (f"no calibration data: the FP32 model's value ranges are measured on random inputs (standard normal "
           f"floats), so {consequence}; pass calibration_data (an .npz of real inputs) for ranges you can trust")
    if guessed:
        msg += f"; dims of unknown size were set to 1 for {', '.join(guessed)}"
    warnings.warn(msg, stacklevel=3)
    return [feed], [msg]
