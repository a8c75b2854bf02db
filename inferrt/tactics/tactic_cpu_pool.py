"""``cpu_pool``: 2-D max and average pooling on the CPU as one PyTorch pooling call.

The generic pooling op (``ops/pooling.py``) serves every padding mode on every device: per call it resolves the
window parameters and pads the input into a new tensor (``F.pad`` with -inf for max, zeros for average), then
pools without padding and slices the round-up overhang off. For the common cases that costs a copy of the whole
input (ResNet's stem max pool: 3.2 MB per image) and some tens of microseconds of Python per layer, which on a
small CNN is as long as the pooling itself. Here the parameters are resolved once per input shape, and where the
padding is one PyTorch's pooling takes itself (the same on both sides, at most half the window) the layer is one
``max_pool2d`` / ``avg_pool2d`` call with that padding and ``ceil_mode`` for round-up windows; PyTorch pads max
pooling with -inf and counts padding in averages exactly as the layer's ``average_count_excludes_padding`` says.
Any other shape of the layer (asymmetric padding, dilated averages, an output size PyTorch would not produce) runs
the generic op, checked per input shape. Channels-last inputs (convolution regions, ``passes/assign_formats.py``)
stay channels-last.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..enums import PaddingMode as PM, PoolingType
from ..ir.kinds import Kind
from .registry import Tactic, register_tactic

#: input shapes whose parameters one layer remembers (a dynamic-shape engine sees a few; the cache is cleared past this)
SHAPES_KEPT = 16


def torch_pool_out(n: int, k: int, s: int, d: int, p: int, ceil: bool) -> int:
    """PyTorch's pooling output size for one spatial dim (``pooling_output_shape`` in ATen)."""
    span = n + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def pool_call(op, a, in_shape: tuple, out_sp: tuple):
    """``f(x) -> y`` running layer attributes ``a`` at input shape ``in_shape`` as one PyTorch pooling call, or
    None where that call would not compute the layer (the generic op runs it then)."""
    nsp, k, s, d, pre, post = op.params(a, in_shape)
    if nsp != 2 or tuple(pre) != tuple(post):
        return None
    pad = tuple(pre)
    eff = [d[i] * (k[i] - 1) + 1 for i in range(2)]
    if any(p < 0 or 2 * p > (eff[i] if a.type == PoolingType.MAX else k[i]) for i, p in enumerate(pad)):
        return None   # PyTorch pads at most half the (effective) window
    ceil = a.padding_mode == PM.EXPLICIT_ROUND_UP
    if tuple(torch_pool_out(in_shape[2 + i], k[i], s[i], d[i], pad[i], ceil) for i in range(2)) != tuple(out_sp):
        return None
    if a.type == PoolingType.MAX:   # torch.max_pool2d itself: F.max_pool2d is a Python wrapper around it (~1 us)
        k, s, pad, d = list(k), list(s), list(pad), list(d)
        return lambda x: torch.max_pool2d(x, k, s, pad, d, ceil)
    if any(v != 1 for v in d):
        return None
    include = not a.average_count_excludes_padding
    return lambda x: F.avg_pool2d(x, k, s, pad, ceil, include)


@register_tactic
class CpuPool(Tactic):
    name = "cpu_pool"
    kinds = (Kind.POOLING,)
    devices = ("cpu",)

    def supports(self, node, specs, device):
        if not super().supports(node, specs, device) or specs is None:
            return False
        a = node.attrs
        if a.type not in (PoolingType.MAX, PoolingType.AVERAGE) or len(a.window_size_nd) != 2:
            return False
        x, out = specs[node.inputs[0]], specs[node.outputs[0]]
        return (x.shape is not None and len(x.shape) == 4 and x.dtype.name == "FLOAT"
                and out.dtype.name == "FLOAT")

    def runner(self, node, device, point):
        op, a = node.op, node.attrs
        calls: dict = {}   # input shape -> f(x), or None: the generic op at that shape

        def run(ins, outs):
            x = ins[0]
            key = x.shape   # a torch.Size: a tuple, hashed and compared as one
            try:
                f = calls[key]
            except KeyError:
                if len(calls) >= SHAPES_KEPT:
                    calls.clear()
                f = calls[key] = pool_call(op, a, key, tuple(outs[0].shape[2:]))
            return op.run(a, ins, outs) if f is None else [f(x)]

        run.launchers = []
        return run
