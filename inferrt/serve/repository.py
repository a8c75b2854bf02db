"""Triton-style model repositories:

    <repository>/<model>/config.pbtxt
    <repository>/<model>/<version>/model.plan      an inferrt plan, loaded as is
    <repository>/<model>/<version>/model.onnx      built on load; the timing cache is kept beside it
                                                   (<version>/model.timing_cache) so a reload builds fast

``version_policy`` picks the versions (default: the latest one); ``instance_group`` gives the devices of the
execution contexts (one engine per distinct device, ``count`` contexts on it).
"""
from __future__ import annotations

import dataclasses
import os

from ..errors import BuildError, ParseError, PlanError
from .model_config import BACKENDS, PLATFORMS, InstanceKind, parse_model_config

TIMING_CACHE = "model.timing_cache"


@dataclasses.dataclass
class ModelEntry:
    """One repository model: its parsed config and the selected versions {number: model file path}."""
    name: str
    path: str
    config: object
    versions: dict[int, str]

    @property
    def latest(self) -> int:
        return max(self.versions)


def scan_repository(root: str) -> list[ModelEntry]:
    """Every model of a repository; ParseError naming the model, file and field of the first problem found."""
    if not os.path.isdir(root):
        raise ParseError(f"--model-repository {root!r} is not a directory")
    entries = [read_model(os.path.join(root, d)) for d in sorted(os.listdir(root))
               if os.path.isdir(os.path.join(root, d)) and not d.startswith(".")]
    if not entries:
        raise ParseError(f"model repository {root!r} holds no model folders (<repo>/<model>/config.pbtxt)")
    return entries


def read_model(path: str) -> ModelEntry:
    name = os.path.basename(os.path.normpath(path))
    cfg_path = os.path.join(path, "config.pbtxt")
    if not os.path.isfile(cfg_path):
        raise ParseError(f"model {name!r}: {cfg_path} is missing (every model folder needs a config.pbtxt)")
    with open(cfg_path, encoding="utf-8") as f:
        cfg = parse_model_config(f.read(), cfg_path)
    if cfg.name and cfg.name != name:
        raise ParseError(f"{cfg_path}: name: {cfg.name!r} differs from the folder name {name!r}; rename one")
    cfg.name = name
    filename = _model_filename(cfg, cfg_path)
    found = {}
    for d in os.listdir(path):
        if d.isdigit() and os.path.isdir(os.path.join(path, d)):
            candidates = [filename] if filename else ["model.plan", "model.onnx"]
            files = [os.path.join(path, d, c) for c in candidates if os.path.isfile(os.path.join(path, d, c))]
            if files:
                found[int(d)] = files[0]
    if not found:
        raise ParseError(f"model {name!r}: no version folder holds {filename or 'model.plan or model.onnx'} "
                         f"(expected {path}/1/{filename or 'model.plan'})")
    return ModelEntry(name, path, cfg, _select_versions(cfg, found, cfg_path))


def _model_filename(cfg, where) -> str | None:
    if cfg.default_model_filename:
        return cfg.default_model_filename
    platform = cfg.platform or BACKENDS.get(cfg.backend, "")
    if cfg.platform and cfg.backend and BACKENDS[cfg.backend] != cfg.platform:
        raise ParseError(f"{where}: backend {cfg.backend!r} does not match platform {cfg.platform!r}")
    return PLATFORMS.get(platform)


def _select_versions(cfg, found: dict[int, str], where) -> dict[int, str]:
    policy = cfg.version_policy.WhichOneof("policy_choice")
    if policy == "all":
        return found
    if policy == "specific":
        missing = [v for v in cfg.version_policy.specific.versions if v not in found]
        if missing:
            raise ParseError(f"{where}: version_policy.specific.versions: {missing} have no version folder "
                             f"with a model file (found {sorted(found)})")
        return {v: found[v] for v in cfg.version_policy.specific.versions}
    n = cfg.version_policy.latest.num_versions if policy == "latest" else 1
    return {v: found[v] for v in sorted(found)[-n:]}


def instance_devices(cfg) -> list[str]:
    """One device string per instance, Triton's ``instance_group`` semantics: ``count`` instances on the CPU
    (KIND_CPU), on every GPU of ``gpus`` (KIND_GPU; all the host's GPUs when ``gpus`` is empty), or ``auto`` (KIND_AUTO
    without gpus: where the engine is; serve/placement.py spreads a GPU engine's over every GPU)."""
    from .. import device as dev

    groups = list(cfg.instance_group) or [None]
    devices = []
    for i, g in enumerate(groups):
        kind = InstanceKind.values_by_number[g.kind].name if g is not None else "KIND_AUTO"
        count = (g.count or 1) if g is not None else 1
        if kind == "KIND_CPU":
            devices += ["cpu"] * count
        elif kind == "KIND_GPU" or (kind == "KIND_AUTO" and g is not None and g.gpus):
            n = dev.device_count()
            if n == 0:
                raise BuildError(f"model {cfg.name!r}: instance_group[{i}].kind is KIND_GPU but no CUDA GPU is "
                                 f"present; use KIND_CPU or KIND_AUTO")
            gpus = list(g.gpus) or list(range(n))
            bad = [x for x in gpus if x >= n]
            if bad:
                raise BuildError(f"model {cfg.name!r}: instance_group[{i}].gpus {bad}: only {n} GPU(s) present "
                                 f"(indices 0..{n - 1}); list GPUs of this host, or leave gpus out to use them all")
            devices += [f"cuda:{x}" for x in gpus for _ in range(count)]
        else:
            devices += ["auto"] * count
    return devices


def load_engine_for(model_file: str, cfg, device: str, logger=None):
    """The engine of one version on ``device`` (``cpu``, ``cuda:N`` or ``auto``): a plan is loaded, an ONNX model
    built with a profile covering 1..max_batch_size (the timing cache beside it is read and updated)."""
    from ..api import load_engine

    if model_file.endswith(".onnx"):
        engine = _build_onnx(model_file, cfg, device, logger)
    else:
        try:
            engine = load_engine(model_file, logger, device=device if device.startswith("cuda") else None)
        except PlanError as e:
            where = f" (instance_group places an instance on {device})" if device != "auto" else ""
            raise PlanError(f"model {cfg.name!r}: {model_file}{where}: {e}") from None
    if device == "cpu" and engine.device.type != "cpu":
        raise BuildError(f"model {cfg.name!r}: {model_file} is a {engine.device.type} plan but instance_group asks "
                         f"for KIND_CPU; rebuild the plan for the CPU or use KIND_GPU")
    return engine


def _build_onnx(model_file: str, cfg, device: str, logger):
    import onnx

    from ..api import build_engine
    from ..builder.builder import Builder
    from ..logger import Logger, Severity

    logger = logger or Logger(Severity.WARNING)
    graph = onnx.load(model_file, load_external_data=False).graph
    inits = {i.name for i in graph.initializer}
    declared = {t.name: list(t.dims) for t in cfg.input}
    profile = {}
    for inp in graph.input:
        if inp.name in inits:
            continue
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in inp.type.tensor_type.shape.dim]
        if -1 not in dims:
            continue
        if cfg.max_batch_size > 0:
            rest = declared.get(inp.name, dims[1:])
            if -1 in rest:
                raise BuildError(f"model {cfg.name!r}: input {inp.name!r} has variable dims {rest}; give fixed "
                                 f"dims for it in config.pbtxt (input.dims) to build {model_file}")
            profile[inp.name] = ((1, *rest), (cfg.max_batch_size, *rest), (cfg.max_batch_size, *rest))
        else:
            shape = declared.get(inp.name, dims)
            if -1 in shape:
                raise BuildError(f"model {cfg.name!r}: input {inp.name!r} has variable dims {shape}; give fixed "
                                 f"dims for it in config.pbtxt (input.dims) to build {model_file}")
            profile[inp.name] = (tuple(shape),) * 3
    config = Builder(logger).create_builder_config()
    if device != "auto":
        config.device = device
    cache_path = os.path.join(os.path.dirname(model_file), TIMING_CACHE)
    data = b""
    if os.path.isfile(cache_path):
        with open(cache_path, "rb") as f:
            data = f.read()
    try:
        cache = config.create_timing_cache(data)
    except ValueError as e:
        raise BuildError(f"{cache_path} is not a timing cache ({e}); delete it to rebuild it") from None
    config.set_timing_cache(cache, ignore_mismatch=False)
    engine = build_engine(model_file, profiles=profile or None, config=config, logger=logger)
    with open(cache_path, "wb") as f:
        f.write(bytes(cache.serialize()))
    return engine
