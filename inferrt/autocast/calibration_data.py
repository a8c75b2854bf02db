"""The inputs AutoCast runs the FP32 model on to measure every value's magnitude.

User data, checked against the model's inputs (names, element types of the same kind, static dims):

- a path to an ``.npz`` file: one feed, ``{input name: array}``;
- a dict ``{input name: array}``: one feed;
- a list of such dicts: one feed each (every feed is measured; a value's magnitude is its largest over all).

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


def user_feeds(data, graph) -> list:
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
        return [_check_feed(data, inputs, f"calibration data {os.path.basename(path)}")]
    if isinstance(data, dict):
        return [_check_feed(data, inputs, "calibration_data")]
    if isinstance(data, (list, tuple)):
        if not data:
            raise BindingError("calibration_data is an empty list; give at least one feed or None for random data")
        return [_check_feed(f, inputs, f"calibration_data[{i}]") for i, f in enumerate(data)]
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


def calibration_feeds(data, graph) -> tuple[list, list]:
    """(feeds, warnings)."""
    if data is not None:
        return user_feeds(data, graph), []
    feed, guessed = random_feed(graph)
    msg = ("no calibration data: the FP32 model's value ranges are measured on random inputs (standard normal "
           "floats), so the data_max check only reflects unit-scale inputs; pass calibration_data (an .npz of real "
           "inputs) for ranges you can trust")
    if guessed:
        msg += f"; dims of unknown size were set to 1 for {', '.join(guessed)}"
    warnings.warn(msg, stacklevel=3)
    return [feed], [msg]
