"""Instance placement across the host's devices, with Triton's ``instance_group`` semantics, and one engine per device.

    KIND_CPU                     count instances on the CPU
    KIND_GPU  gpus: [0, 1]       count instances on each listed GPU
    KIND_GPU  (no gpus)          count instances on each GPU of the host
    KIND_AUTO / no instance_group   where the model's engine is: a GPU engine's instances go on each GPU of the host
                                 (count per GPU), a CPU engine's on the CPU

The model is built (``model.onnx``) or loaded (``model.plan``) once, on the first device it needs; every other GPU
deserializes that engine's plan (a plan runs on every GPU of the kind it was built for). A GPU of another kind gets
its own build (ONNX) or, for a plan file, the loader's error naming both kinds; under KIND_AUTO such a GPU is left
out with a warning.
"""
from __future__ import annotations

import logging

from .. import device as dev
from ..errors import PlanError
from .repository import instance_devices, load_engine_for

log = logging.getLogger("inferrt.serve")


def device_of(engine) -> str:
    """``cpu`` or ``cuda:N``: the device an engine runs on."""
    d = engine.device
    return f"cuda:{d.index}" if d.type == "cuda" else "cpu"


def place_instances(model_file: str, cfg, logger=None) -> tuple[list[str], dict]:
    """``(devices, engines)``: one device (``cpu`` / ``cuda:N``) per instance, and the engine of each device."""
    wanted = instance_devices(cfg)
    engines: dict[str, object] = {}
    made: list = []   # engines in the order they were made: their plans are tried first on another GPU

    def engine_on(d: str, optional: bool = False):
        if d in engines:
            return engines[d]
        e = _reuse_plan(made, d, logger) if d.startswith("cuda:") else None
        if e is None:
            try:
                e = load_engine_for(model_file, cfg, d, logger)
            except PlanError as err:
                if not optional:
                    raise
                log.warning("model %r: KIND_AUTO leaves %s out: %s", cfg.name, d, err)
                return None
        made.append(e)
        return engines.setdefault(device_of(e), e)

    devices = []
    for d in wanted:
        if d != "auto":
            engine_on(d)
            devices.append(d)
    auto = wanted.count("auto")
    if auto:
        on_gpu = any(e.device.type == "cuda" for e in made) or engine_on("auto").device.type == "cuda"
        if not on_gpu:
            devices += ["cpu"] * auto
        else:
            for g in range(dev.device_count()):
                if engine_on(f"cuda:{g}", optional=True) is not None:
                    devices += [f"cuda:{g}"] * auto
    return devices, {d: engines[d] for d in dict.fromkeys(devices)}


def _reuse_plan(made: list, d: str, logger):
    """The engine on GPU ``d`` deserialized from the plan of an engine already made on a GPU of the same kind, or
    None when there is none (the caller then builds or loads the model there)."""
    from ..api import load_engine

    index = int(d.split(":")[1])
    for e in made:
        if e.device.type != "cuda":
            continue
        if dev.fingerprint("cuda", index) != dev.fingerprint("cuda", e.device.index):
            continue
        return load_engine(e.serialize(), logger, device=index)
    return None
