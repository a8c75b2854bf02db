"""A simulated host of several GPUs for CPU tests of device placement: it replaces the seams of inferrt/device.py
(device count, current GPU, selecting a GPU, the per-GPU fingerprint), so code that places engines, instances and
builds on GPU N can be followed without a GPU. Nothing here touches CUDA."""
from __future__ import annotations

import contextlib

import inferrt.device as dev

H100 = "NVIDIA H100 80GB HBM3"
A100 = "NVIDIA A100-SXM4-80GB"
CAPABILITY = {H100: "sm_90", A100: "sm_80"}


class SimulatedGpus:
    """GPUs named ``names`` (index order); ``current`` is the calling thread's current GPU, ``selected`` every
    index ``select_gpu`` was given, ``entered`` every index an ``on_device`` context entered."""

    def __init__(self, monkeypatch, names):
        self.names = list(names)
        self.current = 0
        self.selected: list[int] = []
        self.entered: list[int] = []
        monkeypatch.setattr(dev, "cuda_available", lambda: bool(self.names))
        monkeypatch.setattr(dev, "device_count", lambda: len(self.names))
        monkeypatch.setattr(dev, "current_gpu", lambda: self.current)
        monkeypatch.setattr(dev, "select_gpu", self._select)
        monkeypatch.setattr(dev, "_use_gpu", self._use)
        monkeypatch.setattr(dev, "fingerprint", self.fingerprint)

    def fingerprint(self, device, index=None):
        if device == "cpu":
            return {"kind": "cpu", "name": "cpu", "capability": ""}
        name = self.names[self.current if index is None else index]
        return {"kind": "cuda", "name": name, "capability": CAPABILITY[name]}

    def _select(self, index):
        assert 0 <= index < len(self.names), f"select_gpu({index}) on a host of {len(self.names)} GPUs"
        self.selected.append(index)
        self.current = index

    @contextlib.contextmanager
    def _use(self, index):
        assert 0 <= index < len(self.names), f"on_device({index}) on a host of {len(self.names)} GPUs"
        self.entered.append(index)
        before, self.current = self.current, index
        try:
            yield
        finally:
            self.current = before
