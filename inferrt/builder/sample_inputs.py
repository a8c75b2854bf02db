"""Sample batches for the build-time checks that run the network (the reduced-precision range guard).

Where they come from, the first source that is set:

1. ``config.calibration_data`` (inferrt): an iterable of batches, each ``{input name: numpy array or torch
   tensor}``;
2. ``config.int8_calibrator`` (TensorRT's ``IInt8Calibrator`` protocol): ``get_batch(names)`` returns one device
   address (int) or array per input, or None when the data is exhausted. Addresses are read at the opt shapes of
   the calibration profile (``config.set_calibration_profile``), else of the first profile;
3. generated at the opt shapes of the first optimization profile, with a fixed seed and a local generator (global
   RNG is never touched): float inputs have unit variance, the scale of normalized images, audio in [-1, 1] and
   embeddings; half of it is white noise and half low-frequency tones along the last axis, because real signals
   are correlated (smooth images, voiced speech) and a filter's response to a correlated signal (the sum of its
   weights) is far above its response to white noise (their root sum of squares): an STFT's power spectrum of a
   tone is ~n_fft/2 times that of noise of the same variance. Integer inputs that feed the indices of a Gather are
   uniform over the gathered axis; other integer and bool inputs (masks, lengths) are ones.

Generated data cannot know a network's input scale: a model fed raw 16-bit PCM audio (amplitudes ~1e4) must get
its real batches through ``config.calibration_data`` for the check to see its ranges.

At most ``MAX_BATCHES`` batches are taken from the user's data.
"""
from __future__ import annotations

import numpy as np
import torch

from ..dtypes import FLOAT_TYPES, torch_dtype
from ..enums import DataType
from ..errors import BuildError
from ..ir.kinds import Kind
from ..runtime.profile_memory import profile_input_specs

MAX_BATCHES = 4
SEED = 20261203
#: kinds an integer input passes through unchanged in value on its way to a Gather's indices
_PASS_THROUGH = {Kind.CAST, Kind.IDENTITY, Kind.SHUFFLE, Kind.SQUEEZE, Kind.UNSQUEEZE, Kind.SLICE, Kind.CONCATENATION}


def index_bounds(graph) -> dict[str, int]:
    """For each integer graph input that reaches the indices of a Gather (through reshapes, casts, slices), the
    smallest size of an axis it indexes."""
    consumers = graph.consumers()
    bounds = {}
    for name in graph.inputs:
        if graph.specs[name].dtype not in (DataType.INT32, DataType.INT64, DataType.INT8, DataType.UINT8):
            continue
        sizes, seen, todo = [], set(), [name]
        while todo:
            v = todo.pop()
            if v in seen:
                continue
            seen.add(v)
            for n in consumers.get(v, []):
                if n.kind in _PASS_THROUGH:
                    todo += n.outputs
                elif n.kind == Kind.GATHER and len(n.inputs) > 1 and n.inputs[1] == v and n.attrs.mode.name != "ND":
                    shape = graph.specs[n.inputs[0]].shape
                    if shape is not None and shape and 0 <= n.attrs.axis % len(shape) < len(shape):
                        d = shape[n.attrs.axis % len(shape)]
                        if d > 0:
                            sizes.append(int(d))
        if sizes:
            bounds[name] = min(sizes)
    return bounds


def float_sample(rng, shape) -> np.ndarray:
    """Unit-variance float32 data: white noise (variance 1/2) plus one tone of amplitude 1 (variance 1/2) per row
    of the last axis, at a random low frequency (below 0.05 cycles per element) and phase."""
    shape = tuple(int(d) for d in shape)
    noise = rng.standard_normal(shape).astype(np.float32) * np.float32(np.sqrt(0.5))
    if not shape or shape[-1] < 2:
        return noise * np.float32(np.sqrt(2.0))
    rows = shape[:-1]
    freq = rng.uniform(0.0, 0.05, size=rows + (1,))
    phase = rng.uniform(0.0, 2 * np.pi, size=rows + (1,))
    tone = np.sin(2 * np.pi * freq * np.arange(shape[-1]) + phase)
    return (noise + tone).astype(np.float32)


def generated_batch(graph, shapes: dict) -> dict[str, torch.Tensor]:
    """One generated batch at the opt shapes of a profile (``shapes``: {input: (min, opt, max)})."""
    rng = np.random.default_rng(SEED)
    specs = profile_input_specs(graph, shapes, 1)
    bounds = index_bounds(graph)
    batch = {}
    for name in graph.inputs:
        spec = specs[name]
        shape = tuple(spec.shape)
        if spec.dtype in FLOAT_TYPES:
            arr = float_sample(rng, shape)
        elif name in bounds:
            arr = rng.integers(0, bounds[name], size=shape)
        else:
            arr = np.ones(shape)
        batch[name] = torch.from_numpy(np.asarray(arr)).to(torch_dtype(spec.dtype))
    return batch


def _as_tensor(x, name, spec, where, addresses):
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return addresses.view(int(x), tuple(spec.shape), spec.dtype).clone()
    from ..runtime.buffers import as_torch

    try:
        t = as_torch(x, torch.device("cpu") if not isinstance(x, torch.Tensor) else x.device, name)
    except Exception as e:  # noqa: BLE001 - whatever the user handed over: say where
        raise BuildError(f"{where}: input {name!r}: {e}") from None
    return t.to(torch_dtype(spec.dtype))


def user_batches(graph, config, profiles: list, device: str) -> list[dict[str, torch.Tensor]] | None:
    """The user's sample batches (see the module docstring), or None when the config names none."""
    data = getattr(config, "calibration_data", None)
    calibrator = getattr(config, "int8_calibrator", None)
    if data is None and calibrator is None:
        return None
    names = list(graph.inputs)
    cal_profile = config.get_calibration_profile() if hasattr(config, "get_calibration_profile") else None
    shapes = dict(getattr(cal_profile, "_shapes", {}) or {}) or profiles[0]
    specs = profile_input_specs(graph, shapes, 1)
    from ..runtime.buffers import AddressCache

    addresses = AddressCache(torch.device(device))
    out = []
    if data is not None:
        where = "config.calibration_data"
        for bi, batch in enumerate(data):
            if len(out) == MAX_BATCHES:
                break
            check_batch(batch, bi, names, where)
            out.append({n: _as_tensor(batch[n], n, specs[n], f"{where} batch {bi}", addresses) for n in names})
        return out
    where = "config.int8_calibrator.get_batch"
    for bi in range(MAX_BATCHES):
        got = calibrator.get_batch(names)
        if not got:
            break
        if len(got) != len(names):
            raise BuildError(f"{where} returned {len(got)} buffers for the {len(names)} inputs {names}")
        out.append({n: _as_tensor(x, n, specs[n], f"{where} batch {bi}", addresses) for n, x in zip(names, got)})
    return out


def sample_batches(graph, config, profiles: list, device: str) -> tuple[list[dict[str, torch.Tensor]], str]:
    """The batches to run and where they came from (for the build log)."""
    user = user_batches(graph, config, profiles, device)
    if user:
        src = "config.calibration_data" if getattr(config, "calibration_data", None) is not None \
            else "config.int8_calibrator"
        return user, f"{len(user)} batch(es) from {src}"
    return [generated_batch(graph, profiles[0])], "one generated batch at the opt shapes of profile 0"


def check_batch(batch, bi: int, names: list, where: str) -> None:
    """BuildError unless ``batch`` (batch number ``bi`` of ``where``) is a dict with a value for every input."""
    if not isinstance(batch, dict):
        raise BuildError(f"{where}: batch {bi} is a {type(batch).__name__}; each batch must be a dict "
                         f"{{input name: array}} with the inputs {names}")
    missing = [n for n in names if n not in batch]
    if missing:
        raise BuildError(f"{where}: batch {bi} has no value for the inputs {missing} (inputs: {names})")
