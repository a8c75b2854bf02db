"""The model's tensors as clients see them (config.pbtxt dims, v2 datatypes) and as the engine takes them (reshape),
and the checks that turn a malformed request into the protocol's error before it can join a batch."""
from __future__ import annotations

import dataclasses

import numpy as np

from ..dtypes import nptype
from ..errors import BuildError
from .model_config import DATA_TYPES, data_type_name

_BY_NUMPY = {np.dtype(v[2]).str: k for k, v in DATA_TYPES.items() if v[2] not in (None, "object")}


@dataclasses.dataclass
class TensorSpec:
    name: str
    triton_type: str              # TYPE_FP32
    dims: tuple[int, ...]         # client shape without the batch dim (-1: variable)
    engine_dims: tuple[int, ...]  # what the engine takes/gives without the batch dim (reshape)
    #: inputs: the engine's optimization profile 0 bounds of the engine dims (without the batch dim); None: any
    low: tuple[int, ...] | None = None
    high: tuple[int, ...] | None = None

    @property
    def datatype(self) -> str:    # KServe v2 name: FP32
        return DATA_TYPES[self.triton_type][1]

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(DATA_TYPES[self.triton_type][2])

    def metadata(self, batched: bool) -> dict:
        return {"name": self.name, "datatype": self.datatype, "shape": ([-1] if batched else []) + list(self.dims)}


def resolve_io(engine, cfg) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Specs of the engine's inputs and outputs; taken from the engine when config.pbtxt lists none (Triton's
    auto-complete), else checked against it. BuildError naming the model, tensor and field on a mismatch."""
    batched = cfg.max_batch_size > 0
    result = []
    for kind, names, declared in (("input", engine.input_names, cfg.input), ("output", engine.output_names,
                                                                            cfg.output)):
        specs = []
        by_name = {t.name: t for t in declared}
        if declared and set(by_name) != set(names):
            raise BuildError(f"model {cfg.name!r}: config.pbtxt {kind} names {sorted(by_name)} differ from the "
                             f"engine's {sorted(names)}; list exactly the engine's {kind}s (or none)")
        for n in names:
            shape = tuple(engine.get_tensor_shape(n))
            try:
                engine_type = _BY_NUMPY[np.dtype(nptype(engine.get_tensor_dtype(n))).str]
            except (TypeError, KeyError):
                raise BuildError(f"model {cfg.name!r}: {kind} {n!r} has type {engine.get_tensor_dtype(n)}, which "
                                 f"inferrt serve cannot exchange") from None
            if batched and (not shape or shape[0] not in (-1, cfg.max_batch_size)):
                raise BuildError(f"model {cfg.name!r}: max_batch_size is {cfg.max_batch_size} but the engine's "
                                 f"{kind} {n!r} has shape {shape} without a variable batch dimension; set "
                                 f"max_batch_size: 0 or rebuild with a dynamic batch")
            engine_dims = shape[1:] if batched else shape
            low, high = _profile_bounds(engine, n, cfg) if kind == "input" else (None, None)
            t = by_name.get(n)
            if t is None:
                specs.append(TensorSpec(n, engine_type, engine_dims, engine_dims, low, high))
                continue
            where = f"model {cfg.name!r}: config.pbtxt {kind} {n!r}"
            if data_type_name(t.data_type) != engine_type:
                raise BuildError(f"{where}: data_type {data_type_name(t.data_type)} but the engine has "
                                 f"{engine_type}; fix data_type")
            target = tuple(t.reshape.shape) if t.HasField("reshape") else tuple(t.dims)
            if len(target) != len(engine_dims) or any(a != b and -1 not in (a, b)
                                                        for a, b in zip(target, engine_dims)):
                raise BuildError(f"{where}: {'reshape' if t.HasField('reshape') else 'dims'} {list(target)} do not "
                                 f"match the engine's shape {list(engine_dims)} (without the batch dimension)")
            specs.append(TensorSpec(n, engine_type, tuple(t.dims), target, low, high))
        result.append(specs)
    return result[0], result[1]


def _profile_bounds(engine, name: str, cfg) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(min, max) engine dims of input ``name`` in optimization profile 0 (the one every instance's execution
    context runs), without the batch dim. BuildError when the profile's batch range does not cover
    1..max_batch_size, which dynamic batching and batch-1 requests need."""
    lo, _, hi = (tuple(int(d) for d in s) for s in engine.get_tensor_profile_shape(name, 0))
    if cfg.max_batch_size > 0:
        if lo[0] > 1 or hi[0] < cfg.max_batch_size:
            fix = ("rebuild the engine with a profile whose batch starts at 1" if lo[0] > 1 else
                   f"set max_batch_size to at most {hi[0]}, or rebuild the engine with a profile up to batch "
                   f"{cfg.max_batch_size}")
            raise BuildError(f"model {cfg.name!r}: max_batch_size is {cfg.max_batch_size} but the engine's input "
                             f"{name!r} takes batch {lo[0]}..{hi[0]} (optimization profile 0); {fix}")
        lo, hi = lo[1:], hi[1:]
    return lo, hi


def check_shape(spec: TensorSpec, shape, max_batch_size: int) -> str | None:
    """Why ``shape`` is wrong for ``spec`` (None when it is right): rank, fixed dims, the batch range, and the
    variable dims against the engine's optimization profile."""
    shape = tuple(shape)
    want = ((-1,) if max_batch_size else ()) + spec.dims
    if len(shape) != len(want) or any(w != -1 and s != w for s, w in zip(shape, want)) or any(s < 0 for s in shape):
        return f"input {spec.name!r} has shape {list(shape)}, the model takes {list(want)}"
    if max_batch_size and not 1 <= shape[0] <= max_batch_size:
        return f"input {spec.name!r} has batch {shape[0]}, outside 1..max_batch_size ({max_batch_size})"
    if spec.low is not None and spec.dims == spec.engine_dims:   # reshaped tensors have fixed dims only
        dims = shape[1:] if max_batch_size else shape
        for i, (d, lo, hi) in enumerate(zip(dims, spec.low, spec.high)):
            if not lo <= d <= hi:
                axis = i + 1 if max_batch_size else i
                return (f"input {spec.name!r} has shape {list(shape)}: dimension {axis} is {d}, the engine's "
                        f"optimization profile takes {lo}..{hi}")
    return None
