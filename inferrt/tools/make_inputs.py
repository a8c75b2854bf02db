"""Inputs for comparing runners: the model's input metadata, checks of loaded feeds, and seeded random data in value
ranges (Polygraphy's defaults: uniform in [0, 1], integers in {0, 1}, booleans either)."""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from .onnx_graph import graph_inputs, np_dtype

def input_metadata(model) -> dict:
    """{input name: (numpy dtype, declared shape)} with None (or the dim_param string) for dynamic dimensions."""
    out = {}
    for v in graph_inputs(model.graph):
        tt = v.type.tensor_type
        dt = np_dtype(tt.elem_type)
        if dt is None:
            raise ShapeError(f"input {v.name!r} has ONNX type {tt.elem_type}, which has no numpy type to generate "
                             f"data for; give its data with --load-inputs")
        dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim)
        out[v.name] = (dt, dims)
    return out


def generate(meta: dict, shapes: dict, ranges: dict, seed: int, iterations: int = 1) -> list:
    """``iterations`` feeds of seeded random data. ``ranges``: {name or '': (low, high)} (default (0, 1))."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(iterations):
        feed = {}
        for name, (dt, _) in meta.items():
            lo, hi = ranges.get(name, ranges.get("", (0.0, 1.0)))
            shp = shapes[name]
            if dt.kind == "b":
                feed[name] = rng.integers(0, 2, shp).astype(bool) if lo != hi else np.full(shp, bool(lo))
            elif dt.kind in "iu":
                feed[name] = rng.integers(int(np.ceil(lo)), int(np.floor(hi)) + 1, shp).astype(dt)
            else:
                feed[name] = rng.uniform(lo, hi, shp).astype(dt)
        out.append(feed)
    return out


def check_feeds(meta: dict, iterations: list) -> None:
    """Loaded feeds must name exactly the model's inputs with ranks and static dimensions it declares."""
    for k, feed in enumerate(iterations):
        missing = [n for n in meta if n not in feed]
        extra = [n for n in feed if n not in meta]
        if missing or extra:
            raise ShapeError(f"--load-inputs: iteration {k} " + (f"lacks inputs {missing}" if missing else "") +
                             (" and " if missing and extra else "") +
                             (f"has tensors {extra} the model does not take" if extra else "") +
                             f"; the model's inputs are {list(meta)}")
        for name, (_, declared) in meta.items():
            shp = np.shape(feed[name])
            if len(shp) != len(declared) or any(isinstance(d, int) and d != s for d, s in zip(declared, shp)):
                raise ShapeError(f"--load-inputs: iteration {k}: input {name!r} has shape {shp}, but the model "
                                 f"declares {declared}")
