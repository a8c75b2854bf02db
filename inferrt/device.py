"""Which device builds and runs: the GPU when there is one, else the CPU; ``INFERRT_DEVICE=cpu`` forces the CPU."""
from __future__ import annotations

import os


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        return False
    return torch.cuda.is_available()


def resolve_device(requested: str | None = None) -> str:
    """'cpu' or 'cuda' from an explicit request, then $INFERRT_DEVICE, then what the machine has."""
    req = (requested or os.environ.get("INFERRT_DEVICE") or "auto").lower()
    if req in ("auto", ""):
        return "cuda" if cuda_available() else "cpu"
    if req in ("gpu", "cuda") or req.startswith("cuda:"):
        if not cuda_available():
            raise RuntimeError("a CUDA device was requested but PyTorch sees no GPU; use device='cpu' "
                               "(or unset INFERRT_DEVICE) to build and run on the CPU")
        return "cuda"
    if req == "cpu":
        return "cpu"
    raise ValueError(f"unknown device {requested!r}; use 'cpu', 'cuda' or 'auto'")


def fingerprint(device: str) -> dict:
    """What a plan records about the device it was built for; plans run only where this matches."""
    if device == "cpu":
        return {"kind": "cpu", "name": "cpu", "capability": ""}
    import torch

    idx = torch.cuda.current_device()
    major, minor = torch.cuda.get_device_capability(idx)
    return {"kind": "cuda", "name": torch.cuda.get_device_name(idx), "capability": f"sm_{major}{minor}"}


def describe(fp: dict) -> str:
    if fp.get("kind") == "cpu":
        return "the CPU"
    return f"{fp.get('name')} ({fp.get('capability')})"


def current_fingerprint_for(kind: str) -> dict | None:
    """The fingerprint this machine offers for a plan of ``kind``, or None when it has no such device."""
    if kind == "cpu":
        return fingerprint("cpu")
    if kind == "cuda" and cuda_available():
        return fingerprint("cuda")
    return None
