"""GPU tactic ``triton_add_layer_norm``: the fused residual add + LayerNorm (``add_layer_norm``, from
``passes/fuse_add_layer_norm.py``) in one Triton kernel (``triton_add_layer_norm.py``): both operands read once, the
sum stored only when the layer hands it out, the normalized value written once.

Supported: FP16 / BF16 / FP32 data; scale and bias (optional) that vary only over the normalized tail. Tuned over the
warps of the one program per row (``ADD_LN_SPACE``). Rows wider than ``MAX_BLOCK`` (only possible with a dynamic
normalized dim) run the op's generic implementation.
"""
from __future__ import annotations

import math

from ..dtypes import FLOAT_TYPES
from ..ir.kinds import Kind
from ..ops.base import axes_from_mask
from .registry import Tactic, register_tactic
from .tactic_triton_pointwise import triton_available
from .tuning import TuningSpace

MAX_BLOCK = 16384   # triton_add_layer_norm.MAX_BLOCK (that module imports Triton, this one must not)
_DTYPES = FLOAT_TYPES


def _row_length(node, specs):
    shape = specs[node.outputs[0]].shape
    tail = shape[len(shape) - len(axes_from_mask(node.attrs.axes, len(shape))):]
    return math.prod(tail) if all(isinstance(d, int) and d >= 0 for d in tail) else -1


def _warps_fit(point, node, specs) -> bool:
    """Keep 1..32 elements per thread (fewer idles lanes, more spills); the extreme warp counts stay for the rows
    no other count fits."""
    d = _row_length(node, specs)
    if d < 0:
        return True
    per_thread = (1 << max(d - 1, 0).bit_length()) / (32 * point["num_warps"])
    return (per_thread >= 1 or point["num_warps"] == 1) and (per_thread <= 32 or point["num_warps"] == 16)


ADD_LN_SPACE = TuningSpace({"num_warps": (4, 8, 16, 2, 1)}, _warps_fit)


@register_tactic
class TritonAddLayerNorm(Tactic):
    name = "triton_add_layer_norm"
    constant_inputs = (2, 3)
    kinds = (Kind.ADD_LAYER_NORM,)
    devices = ("cuda",)
    space = ADD_LN_SPACE

    def supports(self, node, specs, device):
        if not super().supports(node, specs, device) or specs is None or not triton_available():
            return False
        out = specs[node.outputs[0]]
        if out.shape is None or out.dtype not in _DTYPES or len(out.shape) < 1:
            return False
        if any(specs[i].dtype != out.dtype for i in node.inputs if i):
            return False
        rank = len(out.shape)
        lead = rank - len(axes_from_mask(node.attrs.axes, rank))
        for i in node.inputs[2:4]:
            if i and any(d != 1 for d in specs[i].shape[:max(len(specs[i].shape) - (rank - lead), 0)]):
                return False   # a coefficient varying over the rows: the generic op
        return _row_length(node, specs) <= MAX_BLOCK   # unknown (-1): checked per call

    def runner(self, node, device, point):
        import torch

        from .triton_add_layer_norm import AddLayerNormLauncher, rows4

        a = node.attrs
        launch = AddLayerNormLauncher(point["num_warps"])
        generic = node.op
        coeffs: dict = {}

        def flat_coefficient(t, tail, d):
            key = (t.data_ptr(), tuple(t.shape), tail)
            c = coeffs.get(key)
            if c is None:
                c = coeffs[key] = t.reshape(t.shape[max(t.dim() - len(tail), 0):]).expand(tail).reshape(d)
            return c

        def run(ins, outs):
            y = outs[0]
            s = outs[1] if len(outs) > 1 else None
            shape = tuple(y.shape)
            rank = len(shape)
            lead = rank - len(axes_from_mask(a.axes, rank))
            tail = shape[lead:]
            d = math.prod(tail)
            if d > MAX_BLOCK:
                res = generic.run(a, ins, outs)
                for o, r in zip(outs, res):
                    o.copy_(r)
                return None
            lead_dims = (1,) * max(3 - lead, 0) + shape[:lead]
            lead3 = (math.prod(lead_dims[:len(lead_dims) - 2]),) + lead_dims[len(lead_dims) - 2:]
            shape4 = lead3 + (d,)
            x4, r4 = (rows4(t.expand(shape), shape4) for t in ins[:2])
            w, b = (flat_coefficient(ins[i], tail, d) if len(ins) > i and ins[i] is not None else None
                    for i in (2, 3))
            dense = []
            for o in (y, s):
                if o is None:
                    dense.append(None)
                    continue
                try:
                    dense.append(o.view(shape4))
                except RuntimeError:
                    dense.append(torch.empty(shape4, dtype=o.dtype, device=o.device))
            launch(x4, r4, w, b, dense[0], dense[1], d, a.epsilon)
            for o, o4 in zip((y, s), dense):
                if o is not None and o4.data_ptr() != o.data_ptr():
                    o.copy_(o4.view(shape))
            return None

        run.launchers = [launch]
        return run
