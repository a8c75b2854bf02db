"""CPU tactics through oneDNN (the library PyTorch's CPU convolutions already use), with what the generic path
leaves on the table.

``onednn_conv``: a 2-D convolution (plain, or fused with bias + residual add + activation) as ONE oneDNN call,
``torch.ops.mkldnn._convolution_pointwise``: the weights are reordered once into oneDNN's blocked layout for the
input shape and thread count (``mkldnn_reorder_conv2d_weight``; kept per weight, input shape and thread count, see
``OnednnConv.runner``), the residual add and the
activation run as oneDNN post-ops on the result while it is in cache, and the result is channels-last, the layout
``passes/assign_formats.py`` gives convolution regions (the following layers read it without a reformat). Only a
prefix of the epilogue is fused - ``[add r]`` (r of the output's shape) and/or one activation oneDNN has
(ReLU, clip, GELU erf/tanh, sigmoid, tanh, leaky ReLU; only ReLU after an add); later steps run after it as in
``ops/fused.py``.

CPU layers are not timed at build time (see tactics/select.py): on the CPU a layer runs its first fast tactic
that supports it, else the generic one, so a CPU tactic is registered here only for what it always does better.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..enums import PaddingMode as PM
from ..ir.kinds import Kind
from ..ops.conv import resolve_padding, spatial_params
from ..ops.fused import apply_epilogue
from .registry import Tactic, register_tactic

#: ActivationType -> (oneDNN post-op name, scalars from (alpha, beta), algorithm)
_UNARY = {
    "RELU": lambda a, b: ("relu", [], ""),
    "CLIP": lambda a, b: ("hardtanh", [a, b], ""),
    "GELU_ERF": lambda a, b: ("gelu", [], "none"),
    "GELU_TANH": lambda a, b: ("gelu", [], "tanh"),
    "SIGMOID": lambda a, b: ("sigmoid", [], ""),
    "TANH": lambda a, b: ("tanh", [], ""),
    "LEAKY_RELU": lambda a, b: ("leaky_relu", [a], ""),
}


def onednn_available() -> bool:
    return bool(torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise"))


def split_epilogue(steps) -> tuple:
    """(residual input index or None, (post-op name, scalars, algorithm) or None, steps left to run after). After
    a residual add, only ReLU is a post-op (PyTorch's binary convolution fusion takes no other)."""
    steps = [list(s) for s in steps]
    res = None
    if steps and steps[0][0] == "add":
        res = int(steps[0][1])
        steps = steps[1:]
    act = None
    if steps and steps[0][0] == "act" and steps[0][1] in _UNARY and (res is None or steps[0][1] == "RELU"):
        act = _UNARY[steps[0][1]](float(steps[0][2]), float(steps[0][3]))
        steps = steps[1:]
    return res, act, steps


@register_tactic
class OnednnConv(Tactic):
    name = "onednn_conv"
    kinds = (Kind.FUSED_CONV, Kind.CONVOLUTION)
    devices = ("cpu",)
    #: the weights are reordered once per input shape and kept (a weight bound as a network input would go stale)
    constant_inputs = (1,)

    def supports(self, node, specs, device):
        if not super().supports(node, specs, device) or specs is None or not onednn_available():
            return False
        a = node.attrs
        if a.get("transposed") or len(a.kernel_size_nd) != 2 or a.padding_mode == PM.EXPLICIT_ROUND_UP:
            return False
        x, out = specs[node.inputs[0]], specs[node.outputs[0]]
        if x.shape is None or len(x.shape) != 4 or x.dtype.name != "FLOAT" or out.dtype.name != "FLOAT":
            return False
        if any(i and specs[i].dtype.name != "FLOAT" for i in node.inputs[1:3]):
            return False
        res, _, _ = split_epilogue(a.get("epilogue", []))
        if res is not None:
            r = specs[node.inputs[res]]
            if r.dtype.name != "FLOAT" or r.shape is None or out.shape is None or tuple(r.shape) != tuple(out.shape):
                return False   # oneDNN's binary post-op adds a tensor of the output's shape, not a broadcast one
        return True

    def runner(self, node, device, point):
        a = node.attrs
        res, act, rest = split_epilogue(a.get("epilogue", []))
        unary, scalars, algorithm = act if act is not None else ("none", [], "")
        with_bias = len(node.inputs) > 2 and bool(node.inputs[2])
        k, s, d, pre0, post0 = spatial_params(a, 2)
        s, d = list(s), list(d)
        groups = a.num_groups
        # (input shape, thread count) -> (F.pad amounts or None, padding, weight address, oneDNN weight). The thread
        # count is part of the key because oneDNN's blocked weight layout depends on it: its 1x1 brgconv kernels
        # take Acdb64a weights at 2 threads and Acdb48a at 1 (2-core AVX-512 Xeon, oneDNN 3.12), and a convolution
        # handed weights packed for another count reorders them on EVERY call, with a generic reorder that costs
        # 10 to 30 times the convolution (ResNet-50 b1: seven such reorders, ~120 ms against ~45 ms for the whole
        # network, whenever an execution ran at a count other than the first one's, e.g. lowered on a busy machine).
        shapes: dict = {}
        # the op's overloads themselves: calling the packet (torch.ops.mkldnn._convolution_pointwise) resolves the
        # overload on every call, ~6 us of MNIST's ~45 us for a tiny convolution (1 thread, CPU time, 2026-12-07)
        conv = torch.ops.mkldnn._convolution_pointwise.default
        conv_add = torch.ops.mkldnn._convolution_pointwise.binary

        def prepare(x, w, key):
            """Padding and the oneDNN weight for input shape ``x.shape`` (before the pad) at the current thread
            count, once per ``key``."""
            pre, post = resolve_padding(a.padding_mode, x.shape[2:], k, s, d, pre0, post0)
            fpad = [pre[1], post[1], pre[0], post[0]] if pre != post else None
            pad = [0, 0] if fpad else list(pre)
            shape = list(x.shape)
            if fpad:
                shape[2] += pre[0] + post[0]
                shape[3] += pre[1] + post[1]
            dense = w.reshape(a.num_output_maps, x.shape[1] // groups, *k).float().contiguous()
            wp = torch._C._nn.mkldnn_reorder_conv2d_weight(dense.to_mkldnn(), pad, s, d, groups, shape)
            if len(shapes) > 8:
                shapes.clear()
            p = shapes[key] = (fpad, pad, w.data_ptr(), wp)
            return p

        def run(ins, outs):
            x, w = ins[0], ins[1]
            key = (tuple(x.shape), torch.get_num_threads())
            p = shapes.get(key)
            if p is None or p[2] != w.data_ptr():    # a new shape or count, or refitted weights at a new address
                p = prepare(x, w, key)
            fpad, pad, _, wp = p
            if fpad is not None:
                x = F.pad(x, fpad)
            if x.is_contiguous() and x.shape[1] > 1:
                x = x.contiguous(memory_format=torch.channels_last)
            b = None
            if with_bias:   # read every call (a view when already float and dense): it may be a runtime value
                b = ins[2]
                if b.dim() != 1:
                    b = b.reshape(-1)
                if b.dtype != torch.float32 or not b.is_contiguous():
                    b = b.float().contiguous()
            if res is None:
                y = conv(x, wp, b, pad, s, d, groups, unary, scalars, algorithm)
            else:
                r = ins[res]
                if not r.is_contiguous(memory_format=torch.channels_last):
                    r = r.contiguous(memory_format=torch.channels_last)
                y = conv_add(x, r, wp, b, pad, s, d, groups, "add", None, unary if act else None, scalars,
                             algorithm if act else None)
            return [apply_epilogue(y, rest, ins) if rest else y]

        run.launchers = []
        return run

