"""SmoothQuant: move activation outliers into the weights of GEMMs with constant weights before INT8/FP8 quantization.

For an activation X read by GEMMs with weights W_1..W_m ([K, N] after transposes; one scale per input channel k
shared by all of them so X is scaled once):

    s_k = max|X_k| ** alpha / max_j max_n |W_j[k, n]| ** (1 - alpha)          (alpha = 0.5)
    X' = X / s,  W_j' = diag(s) W_j

so X' @ W_j' == X @ W_j (exactly in real arithmetic; float32 rounding apart) while X' has flatter channels and is
easier to quantize per tensor. Channels never seen nonzero, or with zero weights, keep s = 1; s is kept in
[1e-5, 1e5]. The 1/s folds into a preceding LayerNorm's affine parameters when X is read only by these GEMMs,
else it is a Mul before them (``scale_activation``).
"""
from __future__ import annotations

import numpy as np

from .placement import reads_k_last, weighted_nodes
from .scale_activation import scale_activation, scale_weight_rows


def smoothable_groups(index, opts) -> dict:
    """activation -> [WeightedNode]: MatMul/Gemm with 2-D constant weights reading it as their (non-transposed) A."""
    groups: dict = {}
    for wn in weighted_nodes(index, opts, gemm_only=True):
        if not reads_k_last(wn):
            continue
        groups.setdefault(wn.act, []).append(wn)
    return groups


def smooth_scales(act_amax: np.ndarray, weights: list, axes: list, alpha: float) -> np.ndarray:
    """SmoothQuant's per-channel scales for an activation with per-channel |x| maxima ``act_amax`` read by GEMMs
    with ``weights`` (input-channel axis of each in ``axes``)."""
    w_amax = np.zeros_like(act_amax, dtype=np.float64)
    for w, ax in zip(weights, axes):
        w_amax = np.maximum(w_amax, np.abs(w).max(axis=1 - ax).astype(np.float64))
    a = np.asarray(act_amax, np.float64)
    ok = (a > 0) & (w_amax > 0)
    s = np.ones_like(a)
    s[ok] = a[ok] ** alpha / w_amax[ok] ** (1.0 - alpha)
    return np.clip(s, 1e-5, 1e5).astype(np.float32)


def apply_smoothquant(index_factory, names, scales: dict, opts) -> dict:
    """Scale every group whose activation has an entry in ``scales`` (activation -> s); returns activation ->
    "fold" or the Mul inserted. ``index_factory()`` gives a fresh GraphIndex (rebuilt after each rewrite)."""
    done = {}
    for x in list(scales):
        index = index_factory()
        group = smoothable_groups(index, opts).get(x)
        if not group:
            continue
        s = np.asarray(scales[x], np.float32)
        for wn in group:
            scale_weight_rows(index, names, wn, s)
        index = index_factory()
        group = smoothable_groups(index, opts)[x]
        done[x] = scale_activation(index, names, x, [(wn.node, 0) for wn in group], 1.0 / s, "smooth")
    return done
