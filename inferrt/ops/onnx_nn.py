"""ONNX-only NN ops: ``max_pool_indices``, the Indices output of ONNX MaxPool.

For every output of a max pooling window it gives the flat index of the chosen input element over the whole
N, C, spatial... input (row-major; with ``storage_order`` 1 the spatial dims are counted column-major, as ONNX
defines). Padding never wins: it is filled with -inf, and ties pick the first element in window order.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..enums import DataType, LayerType
from .base import INT, OpError, Spec, register
from .conv import Pooling


@register
class MaxPoolIndices(Pooling):
    kind = "max_pool_indices"
    layer_type = LayerType.POOLING
    attrs = {k: v for k, v in Pooling.attrs.items() if k not in ("type", "blend_factor",
                                                                 "average_count_excludes_padding")}
    attrs["storage_order"] = (INT, 0)

    def infer(self, a, ins):
        if a.storage_order not in (0, 1):
            raise OpError(f"storage_order {a.storage_order} must be 0 (row major) or 1 (column major)")
        (y,) = super().infer(a, ins)
        return [Spec(DataType.INT64, y.shape)]

    def run(self, a, ins, outs):
        x = ins[0]
        nsp, k, s, d, pre, post = self._params(a, x.shape)
        out_sp = outs[0].shape[2:]
        extra = [max(0, (o - 1) * s[i] + d[i] * (k[i] - 1) + 1 - (x.shape[2 + i] + pre[i] + post[i]))
                 for i, o in enumerate(out_sp)]
        pads = [p for i in reversed(range(nsp)) for p in (pre[i], post[i] + extra[i])]
        xp = F.pad(x.float() if not x.is_floating_point() else x, pads, value=float("-inf")) if any(pads) else x
        f = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[nsp - 1]
        _, idx = f(xp, k, s, 0, d, return_indices=True)
        idx = idx[(..., *[slice(0, o) for o in out_sp])]
        # flat index in the padded spatial plane -> coordinates in the input
        padded = xp.shape[2:]
        coords, rem = [], idx
        for i in reversed(range(nsp)):
            coords.append(rem % padded[i] - pre[i])
            rem = torch.div(rem, padded[i], rounding_mode="floor")
        coords = coords[::-1]
        dims = x.shape[2:]
        if a.storage_order == 1:
            flat = torch.zeros_like(idx)
            for i in reversed(range(nsp)):
                flat = flat * dims[i] + coords[i]
        else:
            flat = torch.zeros_like(idx)
            for i in range(nsp):
                flat = flat * dims[i] + coords[i]
        plane = 1
        for v in dims:
            plane *= v
        n, c = x.shape[0], x.shape[1]
        base = (torch.arange(n, device=x.device).view(n, 1) * c + torch.arange(c, device=x.device).view(1, c))
        base = base.view(n, c, *([1] * nsp)) * plane
        return [(flat + base).to(torch.int64)]
