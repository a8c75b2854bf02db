"""The repository as kserve's model registry: Triton's model repository extension (load, reload, unload, index)
on an inferrt repository folder.

    POST /v2/repository/models/<name>/load     (re)reads <repo>/<name>, builds or loads it, swaps it in when ready
    POST /v2/repository/models/<name>/unload   drains the model's queue, then drops it
    POST /v2/repository/index                  every model folder, with its state (READY / UNAVAILABLE)
"""
from __future__ import annotations

import asyncio
import logging
import os

from .model import InferrtModel   # imports kserve with the host's flags hidden (kserve_import)
from .repository import read_model, scan_repository

from kserve.model_repository import ModelRepository  # noqa: E402,I001

log = logging.getLogger("inferrt.serve")


class InferrtModelRepository(ModelRepository):
    def __init__(self, root: str, metrics, logger=None):
        super().__init__(models_dir=root)
        self.root, self._metrics, self._logger = root, metrics, logger

    def load_models(self):
        """Load every model of the repository (start-up); the first error stops the server from starting."""
        for entry in scan_repository(self.root):
            self._load_entry(entry)

    def _load_entry(self, entry) -> InferrtModel:
        model = InferrtModel(entry, self._metrics, self._logger)
        model.load()
        old = self.models.get(entry.name)
        self.update(model)
        if old is not None and old is not model:
            old.stop()   # requests already queued on the old version finish there
        return model

    def load_model(self, name: str) -> bool:
        path = os.path.join(self.root, name)
        if os.sep in name or name.startswith(".") or not os.path.isdir(path):
            raise FileNotFoundError(f"model {name!r} has no folder in the repository {self.root!r}")
        return self._load_entry(read_model(path)).ready

    async def load(self, name: str) -> bool:
        # built in a worker thread: the server keeps answering (other models, health) while an ONNX model builds
        return await asyncio.to_thread(self.load_model, name)

    def unload(self, name: str):
        model = self.models.get(name)
        if model is None:
            raise KeyError(f"model with name {name} does not exist")
        del self.models[name]
        model.stop()

    async def index(self, ready_only: bool = False) -> list[dict]:
        """Triton's repository index: every model folder (``ready_only``: only the ready models) with its state
        and, when loaded, its served version."""
        out = []
        for d in sorted(os.listdir(self.root)):
            if not os.path.isdir(os.path.join(self.root, d)) or d.startswith("."):
                continue
            model = self.models.get(d)
            ready = model is not None and await model.healthy()
            if ready_only and not ready:
                continue
            row = {"name": d, "state": "READY" if ready else "UNAVAILABLE"}
            if model is not None:
                row["version"] = model.version_label
            out.append(row)
        return out
