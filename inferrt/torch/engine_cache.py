"""On-disk engine cache, weight-agnostic: retrained weights do not force a rebuild.

Key: the graph (its code and op targets), the input specs, the build settings, the inferrt and torch versions, the
GPU name, and for every attribute the graph reads (weights, buffers, lifted constants) its name, dtype and shape;
the values of integer and boolean attributes (position ids, masks) too. The values of floating-point weights are
not in the key.

Entry: ``<key>.plan``, a weight-stripped plan (built with BuilderFlag.REFIT, serialized with
SerializationFlag.EXCLUDE_WEIGHTS), and ``<key>.json`` (how to call it). Both are written to a temporary name and
renamed, so a concurrent reader never sees half a file. A miss runs the engine it built (refittable, weights in).

Hit: the stripped plan is loaded on the compile device and refitted from the graph's current tensors
(graph_refitter.py: the graph is converted again, so weights the converters derive, such as a BatchNorm's scale and
shift, are recomputed); the refitted engine runs, and its full plan, serialized only when needed, is what
``inferrt.torch.save`` writes. When the refit is refused (a weight the build's optimizations depend on changed
value, such as a single-valued scale a fusion matched), the entry is rebuilt from the current weights and replaced.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile

import torch

from inferrt.enums import SerializationFlag
from inferrt.errors import PlanError
from inferrt.logger import Severity
from inferrt.torch.convert_graph import EngineArtifact, _attr_getter, convert
from inferrt.torch.graph_refitter import refit_from_graph
from inferrt.torch.input_specs import InputSpec, spec_of


def _attributes(gm) -> dict:
    """{get_attr target: tensor} of every tensor attribute ``gm`` reads."""
    get = _attr_getter(gm)
    out = {}
    for n in gm.graph.nodes:
        if n.op == "get_attr":
            v = get(n.target)
            if isinstance(v, torch.Tensor):
                out[n.target] = v
    return out


def _tensor_bytes(t: torch.Tensor) -> bytes:
    return t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def graph_key(gm, specs, settings) -> str:
    from inferrt._version import __version__

    h = hashlib.sha256()
    h.update(gm.code.encode())
    for n in gm.graph.nodes:
        h.update(f"{n.op}|{n.name}|{n.target}|{n.args}|{n.kwargs}".encode())
    h.update(json.dumps([s.to_json() for s in specs], sort_keys=True).encode())
    h.update(settings.build_key().encode())
    h.update(f"{__version__}|{torch.__version__}".encode())
    dev = torch.device(settings.device or "cpu")
    if dev.type == "cuda":
        h.update(torch.cuda.get_device_name(dev).encode())
    for name, t in sorted(_attributes(gm).items()):
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        if not t.is_floating_point():  # integer / bool attributes are structure (indices, masks): never refitted
            h.update(_tensor_bytes(t))
    return h.hexdigest()[:32]


def cached_convert(gm, settings, logger, ranges=None) -> EngineArtifact:
    specs = [spec_of(n.name, n.meta.get("val"), ranges) for n in gm.graph.nodes if n.op == "placeholder"]
    if not settings.cache_dir:
        return convert(gm, settings, logger, specs)
    cache_dir = os.path.expanduser(os.fspath(settings.cache_dir))
    os.makedirs(cache_dir, exist_ok=True)
    key = graph_key(gm, specs, settings)
    plan_path = os.path.join(cache_dir, key + ".plan")
    meta_path = os.path.join(cache_dir, key + ".json")
    if os.path.exists(plan_path) and os.path.exists(meta_path):
        art = _hit(key, plan_path, meta_path, gm, specs, settings, logger)
        if art is not None:
            return art
    art = convert(gm, settings, logger, specs, refittable=True)
    _atomic_write(plan_path, _stripped(art, settings, logger))
    _atomic_write(meta_path, json.dumps(art.meta()).encode())
    return art


def _stripped(art, settings, logger) -> bytes:
    """The plan without its refittable weights; the engine loaded to write it goes into ``art`` for reuse."""
    from inferrt.runtime.load import load_engine

    engine = load_engine(art.plan, logger, device=settings.device)
    art.engine = engine
    if not engine.refittable:   # no floating-point weights: the plan is stored as it is
        return art.plan
    config = engine.create_serialization_config()
    config.set_flag(SerializationFlag.EXCLUDE_WEIGHTS)
    return bytes(engine.serialize_with_config(config))


def _hit(key, plan_path, meta_path, gm, specs, settings, logger) -> EngineArtifact | None:
    """The cached engine refitted with ``gm``'s current weights, or None (after a WARNING) when the entry cannot
    serve them."""
    from inferrt.runtime.load import load_engine

    try:
        with open(meta_path) as f:
            meta = json.load(f)
        with open(plan_path, "rb") as f:
            plan = f.read()
        inputs = [InputSpec.from_json(s) for s in meta["inputs"]]
        outputs, tuple_output, nodes = meta["outputs"], bool(meta["tuple_output"]), list(meta["nodes"])
        engine = load_engine(plan, logger, device=settings.device)
    except (OSError, ValueError, KeyError, TypeError, PlanError) as e:
        logger.log(Severity.WARNING, f"engine cache entry {key} is unreadable ({e}); rebuilding it")
        return None
    if not engine.refittable and any(t.is_floating_point() for t in _attributes(gm).values()):
        logger.log(Severity.WARNING, f"engine cache entry {key} holds fixed weights (not a refittable plan); "
                                     f"rebuilding it")
        return None
    if engine.refittable:
        why = refit_from_graph(engine, gm, specs, settings)
        if why is not None:
            logger.log(Severity.WARNING, f"engine cache entry {key} cannot take the current weights ({why}); "
                                         f"rebuilding it")
            return None
        plan = None   # written from the refitted engine if the module is saved (EngineArtifact.plan_bytes)
    return EngineArtifact(plan, inputs, outputs, tuple_output, nodes, engine=engine)


def _atomic_write(path, data: bytes):
    d = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise PlanError(f"cannot write the engine cache file {path}: {e}") from None
