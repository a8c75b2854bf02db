"""Vertical fusion: convolution / deconvolution / matrix multiply + bias + residual add + activation + clip.

    x ─ Conv ─ (+ b) ─ (+ r) ─ ReLU ─ y           ==>  x, r ─ FusedConv(epilogue [add r, act RELU]) ─ y
    x ─ MatMul(W) ─ (+ b) ─ GELU ─ y              ==>  x ─ FusedMatmul(bias b, epilogue [act GELU_ERF]) ─ y
    ... ─ Max(lo) ─ Min(hi) ─ y                     (clip by scalar constants; becomes act CLIP lo hi)

From the product's output, readers that are the only reader of the running value are absorbed in order: a
constant per-output-channel add becomes the bias (conv: 1 everywhere but the channel axis; matmul: 1 everywhere
but the last axis; it is added to an existing bias) when no step came before it; one residual add of another
tensor of the same rank; activations (any ActivationType); max / min with a scalar constant as a clip. The
epilogue steps are recorded in the fused layer's ``epilogue`` attribute (see ``ops/fused.py``). Broadcasting in
the residual add is kept exactly (the fused layer's output shape is the broadcast shape), so the fusion is legal
for every input shape.
"""
from __future__ import annotations

import numpy as np

from ..enums import ElementWiseOperation as EW
from ..ir.graph import Node
from ..ir.kinds import Kind
from ..ops.base import Attrs
from .rewrite import View, absorbed_origin, const_node, merge_origin, plain, replace

ANCHORS = (Kind.CONVOLUTION, Kind.DECONVOLUTION, Kind.MATRIX_MULTIPLY)


def _num(v):
    """JSON-safe float (non-finite as a string)."""
    v = float(v)
    return v if np.isfinite(v) else repr(v)


def _bias_vector(view, anchor, c, out_rank):
    if c is None or c.ndim != out_rank or c.dtype.kind != "f":
        return None
    axis = 1 if anchor.kind != Kind.MATRIX_MULTIPLY else out_rank - 1
    if any(d != 1 for i, d in enumerate(c.shape) if i != axis):
        return None
    if anchor.kind != Kind.MATRIX_MULTIPLY:
        n = anchor.attrs.num_output_maps
        if c.shape[axis] not in (1, n):
            return None
        return np.broadcast_to(c.reshape(-1), (n,)).astype(c.dtype)
    return c


def _collect(view, anchor):
    """(bias constant or None, the value it came from, epilogue steps, residual value or None, absorbed nodes,
    final output)."""
    cur = anchor.outputs[0]
    out_rank = len(view.shape(cur) or ())
    bias, bias_src, steps, residual, absorbed = None, None, [], None, []
    has_bias = len(anchor.inputs) > 2 and bool(anchor.inputs[2])
    while True:
        readers = view.uses(cur)
        if len(readers) != 1 or not view.only_use(cur, readers[0]) or not plain(readers[0]):
            break
        r = readers[0]
        if r.kind == Kind.ACTIVATION and r.inputs[0] == cur:
            steps.append(["act", r.attrs.type.name, _num(r.attrs.alpha), _num(r.attrs.beta)])
        elif r.kind == Kind.ELEMENTWISE and r.attrs.op == EW.SUM and cur in r.inputs:
            other = r.inputs[1] if r.inputs[0] == cur else r.inputs[0]
            vec = _bias_vector(view, anchor, view.const(other), out_rank) if not steps and bias is None else None
            if other == cur:
                break
            if vec is not None and not (has_bias and anchor.kind == Kind.MATRIX_MULTIPLY):
                bias, bias_src = vec, other
            elif residual is None and len(view.shape(other) or ()) == out_rank \
                    and view.spec(other).dtype == view.spec(cur).dtype:
                residual = other
                steps.append(["add", 3])
            else:
                break
        elif r.kind == Kind.ELEMENTWISE and r.attrs.op in (EW.MAX, EW.MIN) and cur in r.inputs:
            other = r.inputs[1] if r.inputs[0] == cur else r.inputs[0]
            c = view.scalar(other)
            if c is None or other == cur:
                break
            lo, hi = (c, float("inf")) if r.attrs.op == EW.MAX else (float("-inf"), c)
            if steps and steps[-1][:2] == ["act", "CLIP"]:
                plo, phi = float(steps[-1][2]), float(steps[-1][3])
                lo, hi = max(lo, plo), min(hi, phi)
                if lo > hi:
                    break
                steps[-1] = ["act", "CLIP", _num(lo), _num(hi)]
            else:
                steps.append(["act", "CLIP", _num(lo), _num(hi)])
        else:
            break
        absorbed.append(r)
        cur = r.outputs[0]
    return bias, bias_src, steps, residual, absorbed, cur


def fuse_conv_matmul_epilogue(graph, ctx) -> int:
    view = View(graph)
    fused = 0
    add_nodes, gone = [], []
    taken: set[int] = set()  # a layer is absorbed by one anchor only (both inputs of a residual add are products)
    for anchor in list(graph.nodes):
        if anchor.kind not in ANCHORS or len(anchor.outputs) != 1:
            continue
        bias, bias_src, steps, residual, absorbed, out = _collect(view, anchor)
        if not absorbed or any(id(r) in taken for r in absorbed):
            continue
        taken.update(id(r) for r in absorbed)
        ins = list(anchor.inputs[:2])
        old_bias = anchor.inputs[2] if len(anchor.inputs) > 2 else ""
        bias_in = old_bias
        if bias is not None:
            old = view.const(old_bias) if old_bias else None
            if old_bias and old is None:
                continue  # a computed bias input: leave this one alone
            value = bias if old is None else (old.reshape(-1).astype(np.float64) + bias.astype(np.float64)).astype(
                old.dtype)
            # the constants the bias is made of keep their names here even when other layers shared them
            src = [view.producer(old_bias)] if old_bias else []
            c = const_node(graph, f"{anchor.name} [bias]", value,
                           merge_origin(*src, view.producer(bias_src), absorbed[0]))
            add_nodes.append(c)
            bias_in = c.outputs[0]
        ins.append(bias_in)
        if residual is not None:
            ins.append(residual)
        while ins and not ins[-1]:
            ins.pop()
        if anchor.kind == Kind.MATRIX_MULTIPLY:
            attrs = Attrs(op0=anchor.attrs.op0, op1=anchor.attrs.op1, epilogue=steps)
            kind = Kind.FUSED_MATMUL
        else:
            attrs = Attrs({k: v for k, v in anchor.attrs.items() if k not in ("kernel", "bias")})
            attrs["kernel"], attrs["bias"] = None, None
            attrs.setdefault("output_padding", ())
            attrs["transposed"] = anchor.kind == Kind.DECONVOLUTION
            attrs["epilogue"] = steps
            kind = Kind.FUSED_CONV
        add_nodes.append(Node(anchor.name, kind, ins, [out], attrs, origin=absorbed_origin(view, anchor, *absorbed),
                              info=anchor.info.copy()))
        gone += [anchor] + absorbed
        fused += 1
    if fused:
        replace(graph, gone, add_nodes)
        graph.remove_dead()
    return fused


