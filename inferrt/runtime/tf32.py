"""BuilderFlag.TF32: whether FLOAT layers may run their matrix products and convolutions in TF32 on the GPU.

On by default, as in TensorRT. PyTorch keeps this switch process-wide (``torch.backends.cuda.matmul.allow_tf32``
and ``torch.backends.cudnn.allow_tf32``), so the engine sets both around its own work (tactic timing at build
time; execution, whose library calls and any CUDA graph captured then keep the choice) and restores them after.
Half and bfloat16 layers are unaffected.
"""
from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def tf32_mode(enabled: bool):
    m, c = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    if m == enabled and c == enabled:
        yield
        return
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = m
        torch.backends.cudnn.allow_tf32 = c
