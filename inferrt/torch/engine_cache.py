"""On-disk engine cache: a built plan is stored under a key made of the graph (its code and op targets), the
input specs, the build settings, the inferrt and torch versions, the device kind and a digest of the weights.

Files are ``<key>.plan`` (the plan, checksummed by its own header) and ``<key>.json`` (how to call it); both are
written to a temporary name and renamed, so a concurrent reader never sees half a file.

Note: the weights digest is part of the key, so new weights mean a new build. Once weight-stripped plans and refit
land (refit issue), the digest comes out of the key and a hit is refitted with the current weights instead.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile

import torch

from inferrt.errors import PlanError
from inferrt.torch.convert_graph import EngineArtifact, convert
from inferrt.torch.input_specs import InputSpec, spec_of


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
    for name, t in sorted(gm.state_dict(keep_vars=True).items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:32]


def cached_convert(gm, settings, logger, ranges=None) -> EngineArtifact:
    specs = [spec_of(n.name, n.meta.get("val"), ranges) for n in gm.graph.nodes if n.op == "placeholder"]
    if not settings.cache_dir:
        return convert(gm, settings, logger, specs)
    os.makedirs(settings.cache_dir, exist_ok=True)
    key = graph_key(gm, specs, settings)
    plan_path = os.path.join(settings.cache_dir, key + ".plan")
    meta_path = os.path.join(settings.cache_dir, key + ".json")
    if os.path.exists(plan_path) and os.path.exists(meta_path):
        try:
            with open(meta_path) as f:
                meta = json.load(f)
            with open(plan_path, "rb") as f:
                plan = f.read()
            return EngineArtifact(plan, [InputSpec.from_json(s) for s in meta["inputs"]], meta["outputs"],
                                  bool(meta["tuple_output"]), list(meta["nodes"]))
        except (OSError, ValueError, KeyError, TypeError) as e:
            from inferrt.logger import Severity

            logger.log(Severity.WARNING, f"engine cache entry {key} is unreadable ({e}); rebuilding it")
    art = convert(gm, settings, logger, specs)
    _atomic_write(plan_path, art.plan)
    _atomic_write(meta_path, json.dumps(art.meta()).encode())
    return art


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
