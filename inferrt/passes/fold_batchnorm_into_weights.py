"""BatchNorm-as-scale folding into convolution and GEMM weights.

    x ─ Conv(W, b) ─ y ─ Mul(s) ─ z ─ Add(t) ─ out     ==>    x ─ Conv(W·s, b·s + t) ─ out
    x ─ MatMul(x, W) ─ y ─ Mul(s) ─ out                ==>    x ─ MatMul(x, W·s) ─ out

An ONNX BatchNormalization imports as a per-channel scale and shift (elementwise mul + add with constants, or a
Scale layer in CHANNEL / UNIFORM mode). When the constant is per output channel (shape 1 everywhere except the
channel axis of a convolution, or the last axis of a matrix product) it is folded into the producer's weights:
``* s`` and ``/ s`` scale the kernel (per output channel; grouped and transposed kernels included) and the bias,
``+ t`` and ``- t`` shift the bias (a bias is created when the convolution had none). Shifts of a matrix product
are left for the epilogue fusion (``fused_matmul`` bias). The product must feed the scale alone.

A quantized kernel (a dequantize layer of low-bit constants, kept by fold_constants) keeps its values: the scale
goes into the dequantize scale, which becomes per output channel (TensorRT folds BatchNorm into the DQ scale the
same way), so ``fuse_qdq`` still sees the quantized weights::

    Wq ─ DQ(s) ─ Conv ─ Mul(g) ─ Add(t)     ==>    Wq ─ DQ(s·g, axis 0) ─ Conv(bias t)
"""
from __future__ import annotations

import numpy as np

from ..enums import ElementWiseOperation as EW, MatrixOperation as MO
from ..ir.graph import Node
from ..ir.kinds import Kind
from ..ops.base import Attrs
from .qdq_patterns import constant_dequantize
from .rewrite import View, const_node, dying_consts, merge_origin, plain, replace, until_fixed_point

_OPS = {EW.PROD: "mul", EW.DIV: "div", EW.SUM: "add", EW.SUB: "sub"}


def _channel_vector(c, rank, axis, n):
    """``c`` as a length-n vector when it varies only along ``axis`` of a rank-``rank`` output."""
    if c is None or c.ndim != rank or c.dtype.kind != "f":
        return None
    if any(d != 1 for i, d in enumerate(c.shape) if i != axis) or c.shape[axis] not in (1, n):
        return None
    return np.broadcast_to(c.reshape(-1).astype(np.float64), (n,))


def _scale_steps(view, e, y):
    """[(operation, constant)...] when ``e`` applies constants to ``y``: an elementwise layer with a constant, or a
    Scale layer without power (its coefficients reshaped to broadcast against ``y``)."""
    if not plain(e):
        return None
    if e.kind == Kind.ELEMENTWISE and e.attrs.op in _OPS:
        a, b = e.inputs
        if a == y and view.const(b) is not None:
            return [(_OPS[e.attrs.op], view.const(b))]
        if b == y and e.attrs.op in (EW.PROD, EW.SUM) and view.const(a) is not None:
            return [(_OPS[e.attrs.op], view.const(a))]
    if e.kind == Kind.SCALE and e.inputs[0] == y:
        shape = view.shape(y)
        coef = [view.const(e.inputs[i]) if len(e.inputs) > i and e.inputs[i] else None for i in (1, 2, 3)]
        if any(len(e.inputs) > i and e.inputs[i] and coef[i - 1] is None for i in (1, 2, 3)):
            return None
        shift, scale, power = coef
        if power is not None and not np.all(power == 1) or shape is None:
            return None
        mode = e.attrs.mode.name
        if mode == "UNIFORM":
            cshape = (1,) * len(shape)
        elif mode == "CHANNEL":
            ax = e.attrs.channel_axis % len(shape)
            n = (shift if shift is not None else scale).size if (shift is not None or scale is not None) else 1
            cshape = tuple(n if i == ax else 1 for i in range(len(shape)))
        else:
            return None
        steps = []
        if scale is not None:
            steps.append(("mul", scale.reshape(cshape)))
        if shift is not None:
            steps.append(("add", shift.reshape(cshape)))
        return steps
    return None


def _fold_conv(view, p, op, c, w, b):
    shape = view.shape(p.outputs[0])
    n = p.attrs.num_output_maps
    v = _channel_vector(c, len(shape), 1, n)
    if v is None or w is None or (len(p.inputs) > 2 and p.inputs[2] and b is None):
        return None
    if op in ("mul", "div"):
        if op == "div":
            v = 1.0 / v
        g = p.attrs.num_groups
        if p.kind == Kind.CONVOLUTION:
            w2 = w.astype(np.float64).reshape(n, -1) * v[:, None]
        else:
            w2 = w.astype(np.float64).reshape(g, -1, n // g, int(np.prod(p.attrs.kernel_size_nd))) * \
                v.reshape(g, 1, n // g, 1)
        new_w = w2.reshape(w.shape).astype(w.dtype)
        new_b = None if b is None else (b.astype(np.float64).reshape(-1) * v).astype(b.dtype)
    else:
        new_w = None
        base = np.zeros(n) if b is None else b.astype(np.float64).reshape(-1)
        new_b = (base + v if op == "add" else base - v).astype(w.dtype if b is None else b.dtype)
    return new_w, new_b


def _fold_matmul(view, p, op, c, w, b):
    if op not in ("mul", "div") or p.attrs.op0 == MO.VECTOR or p.attrs.op1 == MO.VECTOR:
        return None
    shape = view.shape(p.outputs[0])
    if w is None or w.ndim < 2 or any(d != 1 for d in w.shape[:-2]):
        return None
    ncols = w.shape[-2] if p.attrs.op1 == MO.TRANSPOSE else w.shape[-1]
    v = _channel_vector(c, len(shape), len(shape) - 1, ncols)
    if v is None:
        return None
    if op == "div":
        v = 1.0 / v
    w64 = w.astype(np.float64)
    w2 = w64 * (v[:, None] if p.attrs.op1 == MO.TRANSPOSE else v[None, :])
    return w2.astype(w.dtype), None


def fold_batchnorm_into_weights(graph, ctx) -> int:
    folded = until_fixed_point(_sweep, graph, name="fold_batchnorm_into_weights")
    graph.remove_dead()
    return folded


def _sweep(graph) -> int:
    view = View(graph)
    folded = 0
    busy = set()
    for p in list(graph.nodes):
        if p.kind not in (Kind.CONVOLUTION, Kind.DECONVOLUTION, Kind.MATRIX_MULTIPLY) or id(p) in busy:
            continue
        y = p.outputs[0]
        readers = view.uses(y)
        if len(readers) != 1 or not view.only_use(y, readers[0]) or len(p.inputs) < 2:
            continue
        e = readers[0]
        steps = _scale_steps(view, e, y)
        if not steps:
            continue
        fold = _fold_matmul if p.kind == Kind.MATRIX_MULTIPLY else _fold_conv
        new_w = new_b = None
        w_in = view.const(p.inputs[1])
        quantized = _quantized_kernel(view, p) if w_in is None else None
        if quantized is not None:
            w_in = quantized[2]   # the per-channel multiplier, as the fold sees a kernel
        b_in = view.const(p.inputs[2]) if len(p.inputs) > 2 and p.inputs[2] else None
        for op, c in steps:
            res = fold(view, p, op, c, w_in if new_w is None else new_w, b_in if new_b is None else new_b)
            if res is None:
                break
            new_w = res[0] if res[0] is not None else new_w
            new_b = res[1] if res[1] is not None else new_b
        else:
            res = True
        if res is None:
            continue
        add = []
        wsrc = view.producer(p.inputs[1])
        if new_w is not None and quantized is not None:
            add += _scaled_dequantize(graph, view, p, quantized, new_w)
        elif new_w is not None:
            cw = const_node(graph, f"{p.name} [kernel]", new_w, merge_origin(wsrc))
            p.inputs[1] = cw.outputs[0]
            add.append(cw)
        if new_b is not None:
            old = view.producer(p.inputs[2]) if len(p.inputs) > 2 and p.inputs[2] else None
            cb = const_node(graph, f"{p.name} [bias]", new_b, merge_origin(old) if old else list(p.origin))
            while len(p.inputs) < 3:
                p.inputs.append("")
            p.inputs[2] = cb.outputs[0]
            add.append(cb)
        p.outputs = [e.outputs[0]]
        p.origin = merge_origin(p, e, *dying_consts(view, [p, e]))
        replace(graph, [e], add)
        busy.add(id(p))
        folded += 1
    return folded


def _quantized_kernel(view, p):
    """(the quantized constant, its output-channel axis, a multiplier of ones shaped as the fold reads a kernel)
    when ``p`` is a convolution or matrix product whose kernel is a quantized constant with a per-tensor or
    per-output-channel scale; None otherwise."""
    if p.kind not in (Kind.CONVOLUTION, Kind.MATRIX_MULTIPLY):
        return None
    qc = constant_dequantize(view, p.inputs[1])
    if qc is None or qc.block_shape or qc.values.ndim < 2:
        return None
    rank = qc.values.ndim
    if p.kind == Kind.CONVOLUTION:
        axis, proxy_shape = 0, (qc.values.shape[0], 1)
    else:
        transposed = p.attrs.op1 == MO.TRANSPOSE
        axis = rank - 2 if transposed else rank - 1
        proxy_shape = (qc.values.shape[axis], 1) if transposed else (1, qc.values.shape[axis])
    if qc.channel_axis() not in (None, axis):
        return None
    return qc, axis, np.ones(proxy_shape, np.float32)


def _scaled_dequantize(graph, view, p, quantized, multiplier):
    """The dequantize of ``p``'s kernel with its scale multiplied per output channel; ``p`` reads it."""
    qc, axis, _ = quantized
    n = qc.values.shape[axis]
    scale = (np.broadcast_to(qc.scale.reshape(-1).astype(np.float64), (n,)) *
             np.asarray(multiplier, np.float64).reshape(-1)).astype(np.float32)
    cs = const_node(graph, f"{p.name} [kernel scale]", scale, merge_origin(view.producer(qc.node.inputs[1])))
    attrs = Attrs(qc.node.attrs)
    attrs["axis"], attrs["block_shape"] = axis, ()
    dq = Node(graph.unique_name(f"{qc.node.name} [scaled]"), Kind.DEQUANTIZE, [qc.node.inputs[0], cs.outputs[0]],
              [graph.unique_name(f"{p.name} [kernel]")], attrs, origin=merge_origin(qc.node), info=qc.node.info.copy())
    p.inputs[1] = dq.outputs[0]
    return [cs, dq]
