"""AWQ-lite: per-input-channel weight scales for INT4 weight-only GEMMs, searched on activation magnitudes.

For a GEMM Y = X @ W (W [K, N], INT4 blocks along K) with calibration rows X [R, K] and mean |X_k| = m_k:

    for alpha in 0, 1/(G-1), ..., 1:   s = m ** alpha, normalized so max(s) * min(s) = 1
        err(alpha) = mean((X @ W - (X / s) @ Q(diag(s) W)) ** 2)        Q: INT4 block round-to-nearest
    keep the s of the smallest error (alpha = 0 is plain RTN: s = 1)

Salient input channels (large m_k) get their weight rows scaled up before rounding, so they lose less precision.
The search runs in torch on the device the activations were captured on (the GPU when calibration ran there).
The winning diag(s) goes into the weight, and 1/s onto the activation (``scale_activation``).
"""
from __future__ import annotations

import numpy as np
import torch


def fake_int4(w: torch.Tensor, block: int) -> torch.Tensor:
    """Round-to-nearest INT4 of ``w`` [K, N] in blocks of ``block`` rows per column, dequantized (as
    ``weights.int4_blocks`` + ``int4_dequant``)."""
    k, n = w.shape
    nb = -(-k // block)
    pad = nb * block - k
    wp = torch.cat([w, w.new_zeros(pad, n)]) if pad else w
    b = wp.reshape(nb, block, n)
    s = b.abs().amax(1, keepdim=True) / 7.0
    s = torch.where(s > 0, s, torch.ones_like(s))
    q = torch.clamp(torch.round(b / s), -8, 7) * s
    return q.reshape(nb * block, n)[:k]


def search_scales(x: torch.Tensor, mean_abs: torch.Tensor, w: np.ndarray, block: int, grid: int) -> tuple:
    """(s as float32 numpy [K], the chosen alpha, its error, plain RTN's error). ``w`` is [K, N]."""
    dev = x.device
    wt = torch.from_numpy(np.ascontiguousarray(w, np.float32)).to(dev)
    x = x.to(dev, torch.float32)
    y = x @ wt
    m = mean_abs.to(dev, torch.float32).clamp(min=1e-8)
    best = (float("inf"), 0.0, torch.ones_like(m))
    rtn = None
    for alpha in np.linspace(0.0, 1.0, grid):
        s = m ** float(alpha)
        s = s / torch.sqrt(s.max() * s.min())
        wq = fake_int4(wt * s[:, None], block) / s[:, None]
        err = float(((x @ wq - y) ** 2).mean())
        if alpha == 0.0:
            rtn = err
        if err < best[0]:
            best = (err, float(alpha), s)
    return best[2].cpu().numpy().astype(np.float32), best[1], best[0], rtn
