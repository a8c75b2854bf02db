"""Q/DQ propagation of quantized weights: a dequantize layer of a low-bit constant moves past the shuffles
(transpose, reshape) between it and a product's weight input, so the product reads the dequantize directly.

    Wq ─ DQ(s, axis=0) ─ Transpose(1, 0) ─ MatMul      ==>   Wqᵀ ─ DQ(s, axis=1) ─ MatMul
    Wq ─ DQ(s, blocks) ─ Reshape(unit dims) ─ MatMul   ==>   Wq' ─ DQ(s', blocks') ─ MatMul

The shuffle is applied to the low-bit values at build time (they stay low-bit) and the scale follows: a per-axis
scale's axis is mapped through the transposes and through a reshape that keeps that axis whole (same size, same
number of values ahead of it); a block scale follows transposes and reshapes that only add or remove unit
dimensions. A shuffle the scale cannot follow is left alone (the dequantize then runs as a layer). Only dequantize
layers that ``fold_constants`` kept run here: those whose output reaches product weights through shuffles alone
(``qdq_patterns.feeds_product_weight``).
"""
from __future__ import annotations

from ..ir.graph import Node
from ..ir.kinds import Kind
from ..ops import Spec
from ..ops.base import Attrs
from .qdq_patterns import constant_dequantize, feeds_product_weight, shuffled
from .rewrite import View, const_node, merge_origin, plain, replace, until_fixed_point


def propagate_dequantize(graph, ctx) -> int:
    moved = until_fixed_point(_sweep, graph, name="propagate_dequantize")
    if moved:
        graph.remove_dead()
    return moved


def _sweep(graph) -> int:
    view = View(graph)
    moved, add, gone = 0, [], []
    for s in list(graph.nodes):
        if s.kind != Kind.SHUFFLE or not plain(s):
            continue
        qc = constant_dequantize(view, s.inputs[0])
        if qc is None or not feeds_product_weight(view, s.inputs[0]):
            continue
        res = shuffled(qc, s, view.shape(s.outputs[0]))
        if res is None:
            continue
        vals, scale, axis, block = res
        dq = qc.node
        origin = merge_origin(view.producer(dq.inputs[0]), s)
        cq = const_node(graph, f"{s.name} [quantized]", vals, origin)
        graph.specs[cq.outputs[0]] = Spec(qc.dtype, tuple(vals.shape))   # the stored type (INT4 is held in int8)
        cs = const_node(graph, f"{s.name} [scale]", scale, merge_origin(view.producer(dq.inputs[1])))
        attrs = Attrs(dq.attrs)
        attrs["axis"], attrs["block_shape"] = axis, block
        new = Node(graph.unique_name(f"{dq.name} [moved past {s.name}]"), Kind.DEQUANTIZE,
                   [cq.outputs[0], cs.outputs[0]], list(s.outputs), attrs, origin=merge_origin(dq, s),
                   info=dq.info.copy())
        add += [cq, cs, new]
        gone.append(s)
        moved += 1
        break   # one move per sweep: the view is stale after it
    if moved:
        replace(graph, gone, add)
    return moved
