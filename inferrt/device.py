"""Which device builds and runs: the GPU when there is one, else the CPU; ``INFERRT_DEVICE=cpu`` forces the CPU.

Hosts with several GPUs: a device is named ``"cuda"`` (the calling thread's current GPU: as in TensorRT, an engine
belongs to the device current when it is deserialized), ``"cuda:N"``, an index ``N`` (or ``"N"``) or a
``torch.device``. ``gpu_index`` checks an index against the GPUs present; ``on_device`` makes a GPU the thread's
current device around a build or a load, so everything created there (weights, kernels, streams) lands on it.
``device_count``, ``current_gpu``, ``select_gpu`` and ``_use_gpu`` are the only places here that ask PyTorch about
GPUs, so tests can simulate a host of several GPUs without one.
"""
from __future__ import annotations

import contextlib
import os


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        return False
    return torch.cuda.is_available()


def device_count() -> int:
    """How many CUDA GPUs PyTorch sees (0 without CUDA)."""
    if not cuda_available():
        return 0
    import torch

    return torch.cuda.device_count()


def split_device(device) -> tuple[str, int | None]:
    """``(kind, index)`` of a device name: ``("cpu", None)``, ``("auto", None)``, ``("cuda", None)`` for the current
    GPU, ``("cuda", N)`` for ``cuda:N`` / ``N`` / ``torch.device("cuda", N)``. ValueError for anything else."""
    if device is None:
        return "auto", None
    if isinstance(device, bool):
        raise ValueError(f"unknown device {device!r}; use 'cpu', 'cuda', 'cuda:N', a GPU index N or 'auto'")
    if isinstance(device, int):
        if device < 0:
            raise ValueError(f"GPU index {device} is negative; GPU indices are 0, 1, ...")
        return "cuda", device
    if type(device).__name__ == "device" and hasattr(device, "type") and hasattr(device, "index"):  # torch.device
        if device.type == "cpu":
            return "cpu", None
        if device.type == "cuda":
            return "cuda", device.index
        raise ValueError(f"unknown device {device!r}; inferrt runs on 'cpu' and 'cuda' devices")
    req = str(device).strip().lower()
    if req in ("auto", ""):
        return "auto", None
    if req == "cpu":
        return "cpu", None
    if req in ("gpu", "cuda"):
        return "cuda", None
    idx = req[len("cuda:"):] if req.startswith("cuda:") else req
    if idx.isdigit():
        return "cuda", int(idx)
    raise ValueError(f"unknown device {device!r}; use 'cpu', 'cuda', 'cuda:N', a GPU index N or 'auto'")


def gpu_index(device, what: str = "device") -> int | None:
    """The GPU index ``device`` names (None: the current GPU, or not a GPU), checked against the GPUs present.
    ValueError naming ``what`` (the argument or flag) and how many GPUs there are when the index does not exist."""
    try:
        kind, index = split_device(device)
    except ValueError as e:
        raise ValueError(f"{what}: {e}") from None
    if kind != "cuda":
        return None
    n = device_count()
    if n == 0:
        raise ValueError(f"{what}={device}: there are 0 CUDA device(s) on this host (PyTorch sees no GPU); use the "
                         f"CPU ('cpu')")
    if index is not None and index >= n:
        raise ValueError(f"{what}={device}: there {'is' if n == 1 else 'are'} {n} CUDA device(s) on this host; "
                         f"use an index in 0..{n - 1}")
    return index


def current_gpu() -> int:
    """The calling thread's current GPU index."""
    import torch

    return torch.cuda.current_device()


def select_gpu(index: int) -> None:
    """Make GPU ``index`` the calling thread's current device for good (trtexec's ``--device=N``)."""
    import torch

    torch.cuda.set_device(index)


def _use_gpu(index: int):
    """A context in which GPU ``index`` is the thread's current device (the seam tests replace)."""
    import torch

    return torch.cuda.device(index)


def on_device(device, what: str = "device"):
    """A context in which the GPU ``device`` names is the calling thread's current device; nothing changes for the
    CPU, ``auto`` or ``cuda`` (the current GPU). ValueError (see ``gpu_index``) for a GPU that does not exist."""
    index = gpu_index(device, what)
    return contextlib.nullcontext() if index is None else _use_gpu(index)


def resolve_device(requested=None) -> str:
    """'cpu' or 'cuda' from an explicit request, then $INFERRT_DEVICE, then what the machine has (a ``cuda:N``
    request is checked against the GPUs present; ``on_device`` selects it)."""
    if requested is None or (isinstance(requested, str) and not requested.strip()):
        requested = os.environ.get("INFERRT_DEVICE") or "auto"
    kind, _ = split_device(requested)
    if kind == "auto":
        return "cuda" if cuda_available() else "cpu"
    if kind == "cuda":
        if not cuda_available():
            raise RuntimeError("a CUDA device was requested but PyTorch sees no GPU; use device='cpu' "
                               "(or unset INFERRT_DEVICE) to build and run on the CPU")
        gpu_index(requested)
        return "cuda"
    return "cpu"


def fingerprint(device: str, index: int | None = None) -> dict:
    """What a plan records about the device it was built for; plans run only where this matches. ``index``: which
    GPU (default: the current one). The index itself is not part of it: a plan runs on every GPU of its kind."""
    if device == "cpu":
        return {"kind": "cpu", "name": "cpu", "capability": ""}
    import torch

    idx = current_gpu() if index is None else index
    major, minor = torch.cuda.get_device_capability(idx)
    return {"kind": "cuda", "name": torch.cuda.get_device_name(idx), "capability": f"sm_{major}{minor}"}


def describe(fp: dict) -> str:
    if fp.get("kind") == "cpu":
        return "the CPU"
    return f"{fp.get('name')} ({fp.get('capability')})"


def current_fingerprint_for(kind: str, index: int | None = None) -> dict | None:
    """The fingerprint this machine offers for a plan of ``kind`` (on GPU ``index``, default the current one), or
    None when it has no such device."""
    if kind == "cpu":
        return fingerprint("cpu")
    if kind == "cuda" and cuda_available():
        return fingerprint("cuda", index)
    return None
