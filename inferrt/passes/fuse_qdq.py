"""Q/DQ fusion: a convolution or matrix product between dequantize layers runs on the quantized values.

    x ─ Q(sx) ─ DQ(sx) ─┐                                             (INT8 x INT8/INT4, FP8 x FP8)
    Wq ─ DQ(sw) ────────┴─ FusedConv(bias, epilogue) ─ y     ==>   x ─ QuantizedConv(Wq, sw, sx, bias, epilogue) ─ y
    x ──────────────────┐                                             (weight-only: any low-bit kernel, blocks too)
    Wq ─ DQ(sw) ────────┴─ MatMul ─ y                        ==>   x ─ QuantizedMatmul(Wq, sw) ─ y

The kernel is a quantized constant (``qdq_patterns.constant_dequantize``; fold_constants keeps those,
propagate_dequantize moves them next to the product, fold_batchnorm_into_weights folds BatchNorm into their scale).
The input is quantized when it is DQ(Q(x)) with one per-tensor scale, equal in both layers, zero zero points, a
type that multiplies the kernel's exactly (``ops/quantized.ACT_KERNEL_TYPES``) and a kernel scale per tensor or per
output channel; the product then reads ``x`` itself and quantizes it as the Q did (the Q/DQ pair dies when nothing
else reads it). Otherwise the product is weight-only: it reads the input as it is. Runs after the epilogue fusion,
so bias, residual and activation stay in the product's epilogue (``ops/quantized.py`` says in which order).

Kernels the fusion cannot take (a deconvolution, a shuffle the scale could not follow) are folded to float
constants at the end, as fold_constants did before quantized weights were kept, so no dequantize of constants is
left to run at every call.
"""
from __future__ import annotations

import numpy as np

from ..enums import DataType, MatrixOperation as MO
from ..ir.graph import Node
from ..ir.kinds import Kind
from ..ops.base import evaluate, get_op
from ..ops.quantized import ACT_KERNEL_TYPES
from .qdq_patterns import constant_dequantize
from .rewrite import View, absorbed_origin, const_node, plain, replace

ANCHORS = (Kind.CONVOLUTION, Kind.MATRIX_MULTIPLY, Kind.FUSED_CONV, Kind.FUSED_MATMUL)


def _quantized_input(view, v):
    """(x, the per-tensor scale value, type, [Q, DQ]) when ``v`` is DQ(Q(x)) with matching per-tensor scales and
    zero zero points; None otherwise."""
    dq = view.producer(v, Kind.DEQUANTIZE)
    if dq is None or not plain(dq):
        return None
    q = view.producer(dq.inputs[0], Kind.QUANTIZE)
    if q is None or not plain(q) or q.attrs.to_type not in ACT_KERNEL_TYPES or q.attrs.block_shape \
            or dq.attrs.block_shape:
        return None
    sq, sd = view.const(q.inputs[1]), view.const(dq.inputs[1])
    if sq is None or sd is None or sq.size != 1 or sd.size != 1 or float(sq.reshape(())) != float(sd.reshape(())):
        return None
    for n in (q, dq):
        if len(n.inputs) > 2 and n.inputs[2]:
            zp = view.const(n.inputs[2])
            if zp is None or np.any(np.asarray(zp).astype(np.float32) != 0):
                return None
    return q.inputs[0], float(sq.reshape(())), q.attrs.to_type, [q, dq]


def _output_axis(anchor, rank):
    if anchor.kind in (Kind.CONVOLUTION, Kind.FUSED_CONV):
        return 0
    return rank - 2 if anchor.attrs.op1 == MO.TRANSPOSE else rank - 1


def _supported(anchor, view) -> bool:
    if anchor.kind in (Kind.FUSED_CONV,) and anchor.attrs.transposed:
        return False
    if anchor.kind in (Kind.MATRIX_MULTIPLY, Kind.FUSED_MATMUL):
        a = anchor.attrs
        shape = view.shape(anchor.inputs[1])
        return a.op0 == MO.NONE and a.op1 in (MO.NONE, MO.TRANSPOSE) and shape is not None and len(shape) >= 2
    return True


def _attrs(anchor, kind, input_type, qc):
    attrs = get_op(kind).default_attrs()
    attrs.update({k: v for k, v in anchor.attrs.items() if k in attrs and k not in ("kernel", "bias")})
    attrs["epilogue"] = [list(s) for s in anchor.attrs.get("epilogue", [])]
    attrs["input_type"] = input_type
    attrs["kernel_axis"] = qc.axis if qc.channel_axis() is not None else 0
    attrs["kernel_block_shape"] = tuple(qc.block_shape)
    return attrs


def _fuse(graph, view, anchor, taken):
    if anchor.kind not in ANCHORS or len(anchor.inputs) < 2 or not plain(anchor) or not _supported(anchor, view):
        return None
    qc = constant_dequantize(view, anchor.inputs[1])
    if qc is None:
        return None
    act = _quantized_input(view, anchor.inputs[0])
    out_axis = _output_axis(anchor, qc.values.ndim)
    exact_scale = not qc.block_shape and qc.channel_axis() in (None, out_axis)
    absorbed = [qc.node]
    if act is not None and exact_scale and qc.dtype in ACT_KERNEL_TYPES[act[2]]:
        x, sx, input_type = act[0], act[1], act[2]
        absorbed += [n for n in act[3] if id(n) not in taken]
    else:
        x, sx, input_type = anchor.inputs[0], None, DataType.FLOAT
    ins = list(anchor.inputs[:4]) + [""] * max(0, 4 - len(anchor.inputs))
    ins[0], ins[1] = x, qc.node.inputs[0]
    extra = []
    ks = const_node(graph, f"{anchor.name} [kernel scale]", qc.scale, [qc.node.name])
    extra.append(ks)
    ins.append(ks.outputs[0])
    if sx is not None:
        xs = const_node(graph, f"{anchor.name} [input scale]", np.array(sx, np.float32), [act[3][0].name])
        extra.append(xs)
        ins.append(xs.outputs[0])
    kind = Kind.QUANTIZED_CONV if anchor.kind in (Kind.CONVOLUTION, Kind.FUSED_CONV) else Kind.QUANTIZED_MATMUL
    # the Q/DQ of the input die only when nothing else reads them; their names join the fused layer either way
    origin = absorbed_origin(view, anchor, *absorbed)
    fused = Node(anchor.name, kind, ins, list(anchor.outputs), _attrs(anchor, kind, input_type, qc), origin=origin,
                 info=anchor.info.copy())
    return [anchor], extra + [fused]


def fuse_qdq(graph, ctx) -> int:
    view = View(graph)
    fused, add, gone, taken = 0, [], [], set()
    for n in list(graph.nodes):
        m = _fuse(graph, view, n, taken)
        if m is None:
            continue
        old, new = m
        gone += old
        add += new
        taken.update(id(k) for k in old)
        fused += 1
    if fused:
        replace(graph, gone, add)
        graph.remove_dead()
    _fold_leftover_kernels(graph, ctx)
    return fused


def _fold_leftover_kernels(graph, ctx) -> None:
    """Quantized constants no product took become float constants (then their shuffles fold too)."""
    view = View(graph)
    add, gone = [], []
    for n in graph.nodes:
        if n.kind != Kind.DEQUANTIZE or constant_dequantize(view, n.outputs[0]) is None:
            continue
        ins = [view.const(i) if i else None for i in n.inputs]
        outs = evaluate(n.op, n.attrs, ins, [view.spec(n.outputs[0])])
        if outs is None or outs[0] is None:
            continue
        c = const_node(graph, f"{n.name} [folded]", np.asarray(outs[0]), absorbed_origin(view, n))
        graph.specs.pop(c.name, None)
        c.outputs = [n.outputs[0]]
        add.append(c)
        gone.append(n)
    if gone:
        replace(graph, gone, add)
        from .fold_constants import fold_constants

        fold_constants(graph, ctx)
        graph.remove_dead()
