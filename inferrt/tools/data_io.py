"""Saved inputs and outputs in Polygraphy's file layouts, so data moves between Polygraphy and inferrt.

* inputs: ``.json`` is a list of iterations, each ``{input name: array}``; ``.npz`` holds one iteration keyed by input
  name.
* outputs: ``.json`` is Polygraphy's RunResults, ``{"lst": [[runner name, [iteration, ...]]]}`` where an iteration is
  ``{"outputs": {name: LazyArray}, "runtime": s, "runner_name": ...}``; ``.npz`` holds one iteration keyed
  ``runner/output``.

Arrays in JSON are Polygraphy's encoding: ``{"array": base64 of np.save bytes, "polygraphy_class": "ndarray"}``. Only
``np.load(allow_pickle=False)`` reads them: no code in a data file is ever run.
"""
from __future__ import annotations

import base64
import io
import json

import numpy as np

from ..errors import InferrtError

TYPE_MARKER = "polygraphy_class"


class DataFileError(InferrtError):
    """A data file could not be read or written, or does not hold what the command needs."""


def _encode(obj):
    if isinstance(obj, np.ndarray):
        buf = io.BytesIO()
        np.save(buf, obj, allow_pickle=False)
        return {"array": base64.b64encode(buf.getvalue()).decode(), TYPE_MARKER: "ndarray"}
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot write a {type(obj).__name__} to JSON")


def _decode(dct):
    kind = dct.get(TYPE_MARKER)
    if kind == "ndarray":
        try:
            raw = base64.b64decode(dct["array"].encode(), validate=True)
            arr = np.load(io.BytesIO(raw), allow_pickle=False)
        except (KeyError, ValueError, OSError, AttributeError) as e:
            raise DataFileError(f"an encoded array cannot be decoded: {e}") from None
        if not isinstance(arr, np.ndarray):
            raise DataFileError("an encoded array holds an .npz archive, not one array")
        return arr
    if kind in ("LazyArray", "LazyNumpyArray"):
        return dct["values"]
    if kind == "IterationResult":
        return {"outputs": dict(dct["outputs"]), "runtime": dct.get("runtime"), "runner_name": dct.get("runner_name")}
    if kind == "RunResults":
        return {"run_results": [(str(name), list(iters)) for name, iters in dct["lst"]]}
    if kind is not None:
        raise DataFileError(f"unsupported Polygraphy type {kind!r} in the file")
    return dct


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f, object_hook=_decode)
    except OSError as e:
        raise DataFileError(f"cannot read {path!r}: {e.strerror}") from None
    except (ValueError, KeyError, TypeError) as e:
        raise DataFileError(f"{path!r} is not a JSON data file: {e}") from None


def write_json(obj, path) -> None:
    try:
        with open(path, "w") as f:
            json.dump(obj, f, default=_encode, indent=1)
    except OSError as e:
        raise DataFileError(f"cannot write {path!r}: {e.strerror}") from None


def _read_npz(path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise DataFileError(f"cannot read {path!r} as .npz: {e}") from None


def _kind(path) -> str:
    low = str(path).lower()
    if low.endswith(".json"):
        return "json"
    if low.endswith(".npz"):
        return "npz"
    raise DataFileError(f"{path!r}: data files are .json (Polygraphy's layout) or .npz")


def save_inputs(iterations: list, path) -> None:
    if _kind(path) == "npz":
        if len(iterations) != 1:
            raise DataFileError(f"{path!r}: an .npz holds one iteration and there are {len(iterations)}; save "
                                f"to .json instead")
        np.savez(path, **iterations[0])
    else:
        write_json([dict(it) for it in iterations], path)


def load_inputs(path) -> list:
    """A list of iterations ({input name: array}) from a .json or .npz file."""
    if _kind(path) == "npz":
        return [_read_npz(path)]
    data = read_json(path)
    if isinstance(data, dict) and "run_results" not in data:
        data = [data]
    if not isinstance(data, list) or not all(isinstance(it, dict) for it in data) or not all(
            isinstance(v, np.ndarray) for it in data for v in it.values()):
        raise DataFileError(f"{path!r} does not hold inputs: expected a list of {{input name: array}} (as "
                            f"`polygraphy run --save-inputs` or `inferrt run --save-inputs` write)")
    return data


def save_outputs(results: list, path) -> None:
    """``results``: [(runner name, [{output name: array}, ...])]."""
    if _kind(path) == "npz":
        if any(len(iters) != 1 for _, iters in results):
            raise DataFileError(f"{path!r}: an .npz holds one iteration per runner; save to .json instead")
        flat = {f"{runner}/{name}": arr for runner, iters in results for name, arr in iters[0].items()}
        np.savez(path, **flat)
        return
    doc = {"lst": [[runner, [{"outputs": {n: {"values": a, TYPE_MARKER: "LazyArray"} for n, a in it.items()},
                              "runtime": None, "runner_name": runner, TYPE_MARKER: "IterationResult"}
                             for it in iters]] for runner, iters in results],
           TYPE_MARKER: "RunResults"}
    write_json(doc, path)


def load_data(path) -> tuple[str, list]:
    """What a data file holds: ("inputs", [iteration, ...]) or ("outputs", [(runner, [iteration, ...])])."""
    if _kind(path) == "npz":
        arrays = _read_npz(path)
        if arrays and all("/" in k for k in arrays):
            runners: dict = {}
            for k, v in arrays.items():
                runner, _, name = k.partition("/")
                runners.setdefault(runner, {})[name] = v
            return "outputs", [(r, [it]) for r, it in runners.items()]
        return "inputs", [arrays]
    data = read_json(path)
    if isinstance(data, dict) and "run_results" in data:
        return "outputs", [(r, [it["outputs"] if isinstance(it, dict) and "outputs" in it else it for it in iters])
                           for r, iters in data["run_results"]]
    return "inputs", load_inputs(path)
