"""CPU tactics through oneDNN (the library PyTorch's CPU convolutions already use), with what the generic path
leaves on the table.

``onednn_conv``: a 2-D convolution (plain, or fused with bias + residual add + activation) as ONE oneDNN call. The
residual add and the activation run as oneDNN post-ops on the result while it is in cache, and the result is
channels-last, the layout ``passes/assign_formats.py`` gives convolution regions (the following layers read it
without a reformat). Only a prefix of the epilogue is fused - ``[add r]`` (r of the output's shape) and/or one
activation oneDNN has (ReLU, clip, GELU erf/tanh, sigmoid, tanh, leaky ReLU); later steps run after it as in
``ops/fused.py``. Two ways to call oneDNN, chosen per input shape and thread count (see ``OnednnConv.runner``):
- a kept oneDNN primitive (``tactics/onednn_lib.py``, where the ``cpu`` extra's oneDNN loads): built once with its
  weights reordered for it, then each call is one execute, 5-10 us of overhead against 35-110 us through PyTorch
  (which rebuilds the primitive every call), and any activation may follow the add;
- else ``torch.ops.mkldnn._convolution_pointwise`` with the weights reordered once into oneDNN's blocked layout
  (``mkldnn_reorder_conv2d_weight``); only ReLU after an add there (PyTorch's binary fusion takes no other).

CPU layers are not timed at build time (see tactics/select.py): on the CPU a layer runs its first fast tactic
that supports it, else the generic one, so a CPU tactic is registered here only for what it always does better.
"""
from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from ..enums import PaddingMode as PM
from ..ir.kinds import Kind
from ..ops.conv import resolve_padding, spatial_params
from ..ops.fused import apply_epilogue
from . import onednn_lib
from .registry import Tactic, register_tactic

_log = logging.getLogger("inferrt.onednn")

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


def split_epilogue(steps, any_after_add: bool = False) -> tuple:
    """(residual input index or None, (post-op name, scalars, algorithm) or None, steps left to run after). After
    a residual add, only ReLU is a post-op unless ``any_after_add`` (PyTorch's binary convolution fusion takes no
    other; a oneDNN primitive built here takes any)."""
    steps = [list(s) for s in steps]
    res = None
    if steps and steps[0][0] == "add":
        res = int(steps[0][1])
        steps = steps[1:]
    act = None
    if steps and steps[0][0] == "act" and steps[0][1] in _UNARY and (
            res is None or any_after_add or steps[0][1] == "RELU"):
        act = _UNARY[steps[0][1]](float(steps[0][2]), float(steps[0][3]))
        steps = steps[1:]
    return res, act, steps


def _direct_post_ops(res, act) -> list:
    """``split_epilogue``'s residual and activation as ``onednn_lib.ConvPrimitive`` post-ops."""
    post = [("add",)] if res is not None else []
    if act is not None:
        name, scalars, algorithm = act
        if name == "hardtanh":
            post.append(("eltwise", "clip", scalars[0], scalars[1]))
        elif name == "gelu":
            post.append(("eltwise", "gelu_tanh" if algorithm == "tanh" else "gelu_erf", 0.0, 0.0))
        elif name == "leaky_relu":
            post.append(("eltwise", "relu", scalars[0], 0.0))
        else:
            post.append(("eltwise", name, 0.0, 0.0))
    return post


def _then(call, rest):
    """``call`` followed by the epilogue steps it did not fuse."""
    def both(ins, outs):
        return apply_epilogue(call(ins, outs), rest, ins)
    return both


def _disjoint(a, b) -> bool:
    """Whether tensors ``a`` and ``b`` (any non-negative strides) share no byte: their address spans do not meet."""
    return not a.numel() or not b.numel() or \
        a.data_ptr() + _span(a) <= b.data_ptr() or b.data_ptr() + _span(b) <= a.data_ptr()


def _span(t) -> int:
    """Bytes from ``t``'s first element to one past its last."""
    return (1 + sum((n - 1) * st for n, st in zip(t.shape, t.stride()))) * t.element_size()


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
        lib = onednn_lib.library()
        steps = a.get("epilogue", [])
        res, act, rest = split_epilogue(steps, any_after_add=lib is not None)
        post = _direct_post_ops(res, act)
        if lib is not None and res is not None and act is not None and act[0] != "relu":
            # PyTorch's op (the fallback for a shape oneDNN's primitive rejects) fuses only ReLU after the add
            t_res, t_act, t_rest = split_epilogue(steps)
        else:
            t_res, t_act, t_rest = res, act, rest
        unary, scalars, algorithm = t_act if t_act is not None else ("none", [], "")
        with_bias = len(node.inputs) > 2 and bool(node.inputs[2])
        k, s, d, pre0, post0 = spatial_params(a, 2)
        s, d = list(s), list(d)
        groups = a.num_groups
        # (input shape, thread count) -> (weight address, call). The thread count is part of the key because
        # oneDNN's blocked weight layout depends on it: its 1x1 brgconv kernels take Acdb64a weights at 2 threads
        # and Acdb48a at 1 (2-core AVX-512 Xeon, oneDNN 3.12), and a convolution handed weights packed for another
        # count reorders them on EVERY call, with a generic reorder that costs 10 to 30 times the convolution
        # (ResNet-50 b1: seven such reorders, ~120 ms against ~45 ms for the whole network, whenever an execution
        # ran at a count other than the first one's, e.g. lowered on a busy machine).
        shapes: dict = {}
        # the op's overloads themselves: calling the packet (torch.ops.mkldnn._convolution_pointwise) resolves the
        # overload on every call, ~6 us of MNIST's ~45 us for a tiny convolution (1 thread, CPU time, 2026-12-07)
        conv = torch.ops.mkldnn._convolution_pointwise.default
        conv_add = torch.ops.mkldnn._convolution_pointwise.binary

        def bias_of(ins):
            """Read every call (a view when already float and dense): it may be a runtime value."""
            b = ins[2]
            if b.dim() != 1:
                b = b.reshape(-1)
            if b.dtype != torch.float32 or not b.is_contiguous():
                b = b.float().contiguous()
            return b

        def geometry(x, w):
            """(pre padding, post padding, dense float OIHW weights) for input shape ``x.shape``."""
            pre, post_pad = resolve_padding(a.padding_mode, x.shape[2:], k, s, d, pre0, post0)
            return pre, post_pad, w.reshape(a.num_output_maps, x.shape[1] // groups, *k).float().contiguous()

        # (slot address, source address, residual address, (address, strides) of every other input) -> whether
        # the slot shares no byte with any of them. A shape plan binds the same addresses on every execution, so
        # the spans are measured once, not per call (52 convolutions of MobileNetV2: ~0.4 ms per execution)
        disjoint_seen: dict = {}

        def slot_free(y, x, r, ins):
            key = (y.data_ptr(), x.data_ptr(), None if r is None else r.data_ptr(),
                   *[(t.data_ptr(), t.stride()) for t in ins[2:] if t is not None])
            ok = disjoint_seen.get(key)
            if ok is None:
                ok = _disjoint(y, x) and (r is None or _disjoint(y, r)) and \
                    all(_disjoint(y, t) for t in ins[2:] if t is not None)
                if len(disjoint_seen) > 64:
                    disjoint_seen.clear()
                disjoint_seen[key] = ok
            return ok

        def direct(x, w, n):
            """A kept oneDNN primitive for input shape ``x.shape`` at ``n`` threads, or None where oneDNN rejects
            the problem (then PyTorch's op runs it)."""
            pre, post_pad, dense = geometry(x, w)
            try:
                prim = onednn_lib.ConvPrimitive(lib, tuple(x.shape), dense, with_bias, s, d, list(pre),
                                                list(post_pad), groups, post)
            except onednn_lib.OnednnError as e:
                _log.info(f"layer {node.name!r}: oneDNN primitive not built ({e}); PyTorch's oneDNN op runs it")
                return None
            out_shape = prim.out_shape
            one_channel = x.shape[1] == 1

            def call(ins, outs):
                onednn_lib.sync_threads(n)
                x = ins[0]
                if not x.is_contiguous(memory_format=torch.channels_last) and not (one_channel and x.is_contiguous()):
                    x = prim.to_channels_last(x)   # (one dense channel: the same bytes in either layout)
                r = None
                if res is not None:
                    r = ins[res]
                    if r.dtype != torch.float32 or not r.is_contiguous(memory_format=torch.channels_last):
                        r = r.float().contiguous(memory_format=torch.channels_last)
                # the planned output slot itself where it has the result's layout (convolution regions are
                # channels-last, passes/assign_formats.py) and shares no byte with anything the layer reads (the
                # primitive's source, residual and bias, the unfused epilogue's operands): no allocation, and at
                # large batch no fresh pages to fault in (ResNet-50 b8: 25 MB outputs)
                y = outs[0] if outs else None
                if y is None or y.dtype != torch.float32 or y.shape != out_shape \
                        or not y.is_contiguous(memory_format=torch.channels_last) or not slot_free(y, x, r, ins):
                    y = torch.empty(out_shape, memory_format=torch.channels_last)
                return prim(x, y, bias_of(ins) if with_bias else None, r)

            return call

        def through_torch(x, w):
            """PyTorch's oneDNN op for input shape ``x.shape`` at the current thread count."""
            pre, post_pad, dense = geometry(x, w)
            fpad = [pre[1], post_pad[1], pre[0], post_pad[0]] if pre != post_pad else None
            pad = [0, 0] if fpad else list(pre)
            shape = list(x.shape)
            if fpad:
                shape[2] += pre[0] + post_pad[0]
                shape[3] += pre[1] + post_pad[1]
            wp = torch._C._nn.mkldnn_reorder_conv2d_weight(dense.to_mkldnn(), pad, s, d, groups, shape)

            def call(ins, outs):
                x = ins[0]
                if fpad is not None:
                    x = F.pad(x, fpad)
                if x.is_contiguous() and x.shape[1] > 1:
                    x = x.contiguous(memory_format=torch.channels_last)
                b = bias_of(ins) if with_bias else None
                if t_res is None:
                    y = conv(x, wp, b, pad, s, d, groups, unary, scalars, algorithm)
                else:
                    r = ins[t_res]
                    if not r.is_contiguous(memory_format=torch.channels_last):
                        r = r.contiguous(memory_format=torch.channels_last)
                    y = conv_add(x, r, wp, b, pad, s, d, groups, "add", None, unary if t_act else None, scalars,
                                 algorithm if t_act else None)
                return apply_epilogue(y, t_rest, ins) if t_rest else y

            return call

        def prepare(x, w, key):
            call = direct(x, w, key[1]) if lib is not None else None
            if call is not None and rest:
                call = _then(call, rest)
            if call is None:
                call = through_torch(x, w)
            if len(shapes) > 8:
                shapes.clear()
            shapes[key] = (w.data_ptr(), call)
            return call

        def run(ins, outs):
            x, w = ins[0], ins[1]
            key = (tuple(x.shape), torch.get_num_threads())
            p = shapes.get(key)
            if p is None or p[0] != w.data_ptr():    # a new shape or count, or refitted weights at a new address
                return [prepare(x, w, key)(ins, outs)]
            return [p[1](ins, outs)]

        run.launchers = []
        return run

