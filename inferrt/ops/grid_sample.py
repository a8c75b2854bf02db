"""GridSample (IGridSampleLayer): sample an N, C, spatial... input at normalized grid coordinates (4-D and 5-D)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..enums import DataType, InterpolationMode as IM, LayerType, SampleMode
from .base import BOOL, Enum, OpDef, OpError, Spec, register

_FLOATS = (DataType.FLOAT, DataType.HALF, DataType.BF16)
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
        if a.interpolation_mode == IM.CUBIC and nsp == 3:
            raise OpError("CUBIC interpolation is supported for 4-D inputs only; use LINEAR or NEAREST for 5-D")
        n = x.shape[0] if x.shape[0] >= 0 else grid.shape[0]
        return [Spec(x.dtype, (n, x.shape[1], *grid.shape[1:-1]))]

    def run(self, a, ins, outs):
        x, grid = ins[:2]
        compute = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
        y = F.grid_sample(x.to(compute), grid.to(device=x.device, dtype=compute), mode=_MODES[a.interpolation_mode],
                          padding_mode=_PADDING[a.sample_mode], align_corners=a.align_corners)
        return [y.to(x.dtype)]
