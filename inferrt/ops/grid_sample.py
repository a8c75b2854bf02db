"""Sampling grids: GridSample (IGridSampleLayer: sample an N, C, spatial... input at normalized grid coordinates,
4-D and 5-D) and the ONNX-only ``affine_grid`` (AffineGrid: the grid of an affine transform; its ``size`` input
must be known when shapes are computed)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..dtypes import FLOAT_TYPES as _FLOATS
from ..enums import InterpolationMode as IM, LayerType, SampleMode
from .base import BOOL, Enum, OpDef, OpError, Spec, host_ints, known_ints, register

_PADDING = {SampleMode.FILL: "zeros", SampleMode.CLAMP: "border", SampleMode.REFLECT: "reflection"}
_MODES = {IM.NEAREST: "nearest", IM.LINEAR: "bilinear", IM.CUBIC: "bicubic"}


@register
class GridSample(OpDef):
    kind = "grid_sample"
    layer_type = LayerType.GRID_SAMPLE
    attrs = {"interpolation_mode": (Enum(IM), IM.LINEAR), "align_corners": (BOOL, False),
             "sample_mode": (Enum(SampleMode), SampleMode.FILL)}
    inputs = ("input", "grid")
    min_inputs = 2

    def infer(self, a, ins):
        x, grid = ins[:2]
        if x.rank not in (4, 5):
            raise OpError(f"input has rank {x.rank}; grid sample takes N, C, H, W (4-D) or N, C, D, H, W (5-D)")
        nsp = x.rank - 2
        if grid.rank != x.rank or (grid.shape[-1] >= 0 and grid.shape[-1] != nsp):
            raise OpError(f"grid has shape {tuple(grid.shape)}; for a {x.rank}-D input it must be "
                          f"[N, {'D_out, ' if nsp == 3 else ''}H_out, W_out, {nsp}]")
        if x.shape[0] >= 0 and grid.shape[0] >= 0 and x.shape[0] != grid.shape[0]:
            raise OpError(f"input batch {x.shape[0]} differs from grid batch {grid.shape[0]}")
        if x.dtype not in _FLOATS or grid.dtype not in _FLOATS:
            raise OpError(f"input ({x.dtype.name}) and grid ({grid.dtype.name}) must be FLOAT, HALF or BF16")
        if a.sample_mode not in _PADDING:
            raise OpError(f"sample_mode {a.sample_mode.name} is not supported; use FILL, CLAMP or REFLECT")
        n = x.shape[0] if x.shape[0] >= 0 else grid.shape[0]
        return [Spec(x.dtype, (n, x.shape[1], *grid.shape[1:-1]))]

    def run(self, a, ins, outs):
        x, grid = ins[:2]
        compute = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
        if a.interpolation_mode == IM.CUBIC and x.dim() == 5:  # PyTorch's bicubic is 2-D only
            y = cubic_grid_sample(x.to(compute), grid.to(device=x.device, dtype=compute), a.sample_mode,
                                  a.align_corners)
            return [y.to(x.dtype)]
        y = F.grid_sample(x.to(compute), grid.to(device=x.device, dtype=compute), mode=_MODES[a.interpolation_mode],
                          padding_mode=_PADDING[a.sample_mode], align_corners=a.align_corners)
        return [y.to(x.dtype)]


def _cubic_weights(t, A=-0.75):
    """Weights of taps floor-1 .. floor+2 for fractional offsets ``t`` (the Keys kernel, as PyTorch / ONNX)."""
    def near(d):
        return ((A + 2) * d - (A + 3)) * d * d + 1

    def far(d):
        return ((A * d - 5 * A) * d + 8 * A) * d - 4 * A

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _tap_index(j, n, mode, align):
    """Integer tap indices ``j`` on an axis of size ``n`` -> (index to read, valid mask or None)."""
    if mode == SampleMode.FILL:
        valid = (j >= 0) & (j < n)
        return j.clamp(0, n - 1), valid
    if mode == SampleMode.REFLECT and n > 1:
        if align:  # mirror about 0 and n - 1
            period = 2 * (n - 1)
            m = j.abs() % period
            j = torch.where(m >= n, period - m, m)
        else:  # mirror about -0.5 and n - 0.5
            period = 2 * n
            m = torch.where(j < 0, -1 - j, j) % period
            j = torch.where(m >= n, period - 1 - m, m)
    return j.clamp(0, n - 1), None


def cubic_grid_sample(x, grid, mode, align):
    """N-D bicubic-style sampling: 4 taps per spatial axis, padding applied per tap (as PyTorch's 2-D bicubic)."""
    n, c = x.shape[:2]
    spatial = x.shape[2:]
    nsp = len(spatial)
    out_sp = grid.shape[1:-1]
    g = grid.reshape(n, -1, nsp)
    per_axis = []
    for i in range(nsp):
        size = spatial[nsp - 1 - i]  # grid's last dim lists x (width) first
        coord = g[..., i]
        coord = (coord + 1) / 2 * (size - 1) if align else ((coord + 1) * size - 1) / 2
        base = torch.floor(coord)
        t = coord - base
        taps = []
        for k, w in enumerate(_cubic_weights(t)):
            idx, valid = _tap_index(base.to(torch.int64) + (k - 1), size, mode, align)
            taps.append((idx, w if valid is None else w * valid.to(w.dtype)))
        per_axis.append(taps)
    strides = [1] * nsp  # strides of the flattened spatial layout, per grid component
    for i in range(1, nsp):
        strides[i] = strides[i - 1] * spatial[nsp - i]
    flat = x.reshape(n, c, -1)
    y = torch.zeros((n, c, g.shape[1]), dtype=x.dtype, device=x.device)
    for combo in _product(range(4), nsp):
        lin = 0
        weight = 1
        for i, k in enumerate(combo):
            idx, w = per_axis[i][k]
            lin = lin + idx * strides[i]
            weight = weight * w
        y += flat.gather(2, lin.unsqueeze(1).expand(n, c, -1)) * weight.unsqueeze(1)
    return y.reshape(n, c, *out_sp)


def _product(r, k):
    import itertools

    return itertools.product(r, repeat=k)


# ----------------------------------------------------------------------------------------------- AffineGrid
@register
class AffineGrid(OpDef):
    """AffineGrid: theta [N, 2, 3] (2-D) or [N, 3, 4] (3-D) and size (N, C, [D,] H, W) -> sampling grid
    [N, [D,] H, W, 2|3] in normalized coordinates (like torch.nn.functional.affine_grid)."""

    kind = "affine_grid"
    host_inputs = (1,)
    attrs = {"align_corners": (BOOL, False)}
    inputs = ("theta", "size")
    min_inputs = 2

    def infer(self, a, ins):
        theta = ins[0]
        if theta.dtype not in _FLOATS or theta.rank != 3:
            raise OpError(f"theta must be a floating-point [N, 2, 3] or [N, 3, 4] tensor, got {theta.dtype.name} "
                          f"{theta.shape}")
        size = known_ints(ins[1], "size")
        if size is None:
            n = ins[1].shape[0] if ins[1].shape else -1
            if n not in (4, 5):
                raise OpError("size must be a known-length 1-D tensor (N, C, H, W) or (N, C, D, H, W)")
            return [Spec(theta.dtype, (theta.shape[0],) + (-1,) * (n - 2) + (n - 2,))]
        if len(size) not in (4, 5):
            raise OpError(f"size {size} must be (N, C, H, W) or (N, C, D, H, W)")
        nsp = len(size) - 2
        if theta.shape[1] >= 0 and theta.shape[2] >= 0 and tuple(theta.shape[1:]) != (nsp, nsp + 1):
            raise OpError(f"theta has shape {theta.shape} but size {size} needs [N, {nsp}, {nsp + 1}]")
        return [Spec(theta.dtype, (size[0],) + tuple(size[2:]) + (nsp,))]

    def run(self, a, ins, outs):
        theta = ins[0]
        size = host_ints(ins[1])
        dt = torch.float64 if theta.dtype == torch.float64 else torch.float32
        return [F.affine_grid(theta.to(dt), size, align_corners=a.align_corners).to(theta.dtype)]
