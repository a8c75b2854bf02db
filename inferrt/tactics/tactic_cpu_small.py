"""CPU tactics for layers whose kernel is a single cheap PyTorch call, where the generic op's per-call Python (its
attribute reads and checks, every execution) costs more than the call itself: on a small network such as the MNIST
CNN each costs ~5 to 8 us a layer (2 to 3 us for the call), and every layer runs every execution.

``cpu_softmax``: a float32 softmax as ``torch._softmax`` over the layer's axis, resolved once per input rank
(``ops/reduce.py`` ``softmax_axis``; the generic op resolves it and picks the dtype path on every call).
``torch.softmax`` on a float32 tensor is this same call, so the results are bit-identical.

``cpu_reshape``: a Shuffle that only reshapes (no transposes; the dims static or from its second input) as one
``reshape`` to the planned output shape, which is what the generic op does for such a layer after reading its
attributes. A reshape that can be a view is planned as one (``runtime/executor.py``) and runs no kernel at all;
this serves the others, e.g. flattening a channels-last activation before a fully connected layer.
"""
from __future__ import annotations

import torch

from ..ir.kinds import Kind
from ..ops.reduce import softmax_axis
from .registry import Tactic, register_tactic


@register_tactic
class CpuSoftmax(Tactic):
    name = "cpu_softmax"
    kinds = (Kind.SOFTMAX,)
    devices = ("cpu",)

    def supports(self, node, specs, device):
        if not super().supports(node, specs, device) or specs is None:
            return False
        x, out = specs[node.inputs[0]], specs[node.outputs[0]]
        return x.shape is not None and x.dtype.name == "FLOAT" and out.dtype.name == "FLOAT"

    def runner(self, node, device, point):
        op, a = node.op, node.attrs
        mask = a.axes
        softmax = torch._softmax

        def run(ins, outs):
            x = ins[0]
            ax = softmax_axis(mask, x.dim())   # cached per (bitmask, rank); OpError for a bad bitmask, as the op
            if x.dtype != torch.float32:   # not planned for it (supports); the op's own path
                return op.run(a, ins, outs)
            return [softmax(x, ax, False)]

        run.launchers = []
        return run


@register_tactic
class CpuReshape(Tactic):
    name = "cpu_reshape"
    kinds = (Kind.SHUFFLE,)
    devices = ("cpu",)

    def supports(self, node, specs, device):
        if not super().supports(node, specs, device):
            return False
        a = node.attrs
        dynamic = len(node.inputs) > 1 and bool(node.inputs[1])
        return not a.first_transpose and not a.second_transpose and (dynamic or a.reshape_dims is not None)

    def runner(self, node, device, point):
        def run(ins, outs):
            return [ins[0].reshape(outs[0].shape)]

        run.launchers = []
        return run
