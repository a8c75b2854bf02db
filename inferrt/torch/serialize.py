"""``inferrt.torch.save(compiled, path)`` / ``inferrt.torch.load(path)``.

One zip file: ``index.json`` (format version, inferrt and torch versions, settings, and for each engine its
graph nodes and I/O metadata, and the program's tensor table), ``engine_<i>.plan`` (inferrt plans, checksummed, no
code), and the exported program as torch.export's JSON graph plus raw tensor files (``program_store.py``: nothing
in the file is a pickle, and loading unpickles nothing). Loading
rebuilds nothing: the program is re-partitioned along the saved node lists and the plans are loaded as they are.
Modules from ``torch.compile(backend="inferrt")`` are not saved (each process rebuilds them; use
``options={"cache_dir": ...}`` so a new process finds its engines on disk).
"""
from __future__ import annotations

import json
import os
import zipfile

from inferrt.errors import PlanError
from inferrt.logger import Logger, Severity
from inferrt.torch.program_store import read_program, write_program

FORMAT = "inferrt.torch/1"
_MAX_MANIFEST = 64 << 20


def save(compiled, path) -> None:
    import torch

    from inferrt._version import __version__
    from inferrt.torch.compiled_module import CompiledModule

    if not isinstance(compiled, CompiledModule) or compiled.exported is None:
        raise TypeError(f"inferrt.torch.save takes a module returned by inferrt.torch.compile, got "
                        f"{type(compiled).__name__}; torch.compile(backend='inferrt') builds per process (use "
                        f"options={{'cache_dir': ...}} to keep its engines on disk)")
    s = compiled.settings
    index = {"format": FORMAT, "inferrt": __version__, "torch": torch.__version__,
                "settings": {"precision": s.precision, "tf32": s.tf32, "device": s.device, "cuda_graphs": s.cuda_graphs,
                             "optimization_level": s.optimization_level, "min_block_size": s.min_block_size,
                             "torch_executed_ops": list(s.torch_executed_ops),
                             "on_weight_change": s.on_weight_change},
                "engines": []}
    with zipfile.ZipFile(os.fspath(path), "w", compression=zipfile.ZIP_STORED) as z:
        for i, (name, art) in enumerate(compiled.engines.items()):
            z.writestr(f"engine_{i}.plan", art.plan_bytes())
            index["engines"].append({"name": name, "plan": f"engine_{i}.plan", **art.meta()})
        index["tensors"] = write_program(z, compiled.exported)
        z.writestr("index.json", json.dumps(index, indent=1))


def load(path, logger=None, device=None):
    """Load a module saved by :func:`save`; PlanError naming what is wrong with the file."""
    import torch

    from inferrt.torch.aot import build_from_exported
    from inferrt.torch.convert_graph import EngineArtifact
    from inferrt.torch.input_specs import InputSpec
    from inferrt.torch.settings import CompileSettings

    logger = logger or Logger(Severity.WARNING)
    try:
        z = zipfile.ZipFile(os.fspath(path), "r")
    except (OSError, zipfile.BadZipFile) as e:
        raise PlanError(f"{path}: not an inferrt.torch file ({e})") from None
    with z:
        try:
            info = z.getinfo("index.json")
            if info.file_size > _MAX_MANIFEST:
                raise PlanError(f"{path}: index.json is {info.file_size} bytes, too large")
            index = json.loads(z.read(info))
            if not isinstance(index, dict) or index.get("format") != FORMAT:
                raise PlanError(f"{path}: format {index.get('format') if isinstance(index, dict) else '?'!r}"
                                f" is not {FORMAT!r}")
            settings = dict(index["settings"])
            if device is not None:
                settings["device"] = str(device)
            settings = CompileSettings.from_options(settings)
            artifacts = {}
            for e in index["engines"]:
                inputs = [InputSpec.from_json(s) for s in e["inputs"]]
                artifacts[str(e["name"])] = EngineArtifact(z.read(e["plan"]), inputs, list(e["outputs"]),
                                                           bool(e["tuple_output"]), list(e["nodes"]))
        except PlanError:
            raise
        except (KeyError, ValueError, TypeError, zipfile.BadZipFile) as e:
            raise PlanError(f"{path}: damaged inferrt.torch file ({type(e).__name__}: {e})") from None
        try:
            ep = read_program(z, index.get("tensors"), device=device)
        except PlanError as e:
            raise PlanError(f"{path}: damaged inferrt.torch file ({e})") from None
        except Exception as e:  # noqa: BLE001 - torch's deserializer fails (version skew, damage) in many types
            raise PlanError(f"{path}: the PyTorch program could not be loaded ({type(e).__name__}: {e}); it was "
                            f"saved with torch {index.get('torch')}, this is torch {torch.__version__}") from None
    try:
        return build_from_exported(ep, settings, logger, artifacts=artifacts)
    except KeyError as e:
        raise PlanError(f"{path}: the saved partition does not match the saved program ({e})") from None
