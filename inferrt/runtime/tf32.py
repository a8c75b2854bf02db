"""BuilderFlag.TF32: whether FLOAT layers may run their matrix products and convolutions in TF32 on the GPU.

On by default, as in TensorRT. PyTorch keeps this switch process-wide (``torch.backends.cuda.matmul.allow_tf32``
and ``torch.backends.cudnn.allow_tf32``), so the engine sets both around its own work (tactic timing at build
time; execution, whose library calls and any CUDA graph captured then keep the choice) and restores them when
the last such region ends. Regions of one mode overlap freely across threads; a region wanting the other mode
waits until those end, so concurrent contexts never see the switch flip under them. Half and bfloat16 layers
are unaffected.
"""
from __future__ import annotations

import contextlib
import threading

import torch

_cond = threading.Condition()
_active = 0
_mode: bool | None = None
_saved: tuple | None = None
_local = threading.local()  # this thread's open regions (a nested region of the other mode would wait forever)


def _flags() -> tuple:
    return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32


def _set(m: bool, c: bool) -> None:
    torch.backends.cuda.matmul.allow_tf32 = m
    torch.backends.cudnn.allow_tf32 = c


@contextlib.contextmanager
def tf32_mode(enabled: bool):
    global _active, _mode, _saved
    enabled = bool(enabled)
    mine = getattr(_local, "depth", 0)
    if mine and _mode != enabled:
        raise RuntimeError("an engine built with a different BuilderFlag.TF32 setting ran inside another engine's "
                           "execution on the same thread (for example from a profiler or allocator callback); "
                           "run it after that execution returns")
    with _cond:
        while _active and _mode != enabled:
            _cond.wait()
        if not _active:
            _saved, _mode = _flags(), enabled
            _set(enabled, enabled)
        _active += 1
    _local.depth = mine + 1
    try:
        yield
    finally:
        _local.depth = mine
        with _cond:
            _active -= 1
            if not _active:
                _set(*_saved)
                _mode = None
                _cond.notify_all()
