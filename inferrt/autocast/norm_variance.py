"""The variance path of a decomposed normalization (LayerNorm or RMSNorm written as elementary ops) stays FP32.

    x --(Pow x,2 | Mul x,x)--> sq --ReduceMean--> var --(Add eps)--> --Sqrt--> std --(Reciprocal)--> ...
         kept FP32               kept FP32          kept FP32          kept FP32        kept FP32

Squares of small activations underflow float16 (|x| < 2.4e-4 squares below float16's smallest normal, 6.1e-5,
and below 6e-8 to zero), and the mean of squares then feeds 1/sqrt(var + eps), which turns a lost variance into a
huge scale. Magnitude limits cannot see this (the values are small, not large), so the path is kept by structure,
as training frameworks keep norm statistics in float32. The normalized output (x / std) is ~1 and is converted.
"""
from __future__ import annotations

import numpy as np
from onnx import numpy_helper


def _const_value(name, inits):
    t = inits.get(name)
    if t is None:
        return None
    a = numpy_helper.to_array(t)
    return float(a.reshape(-1)[0]) if a.size == 1 else None


def _is_square(node, inits) -> bool:
    if node.op_type == "Pow" and len(node.input) == 2:
        return _const_value(node.input[1], inits) == 2.0
    return node.op_type == "Mul" and len(node.input) == 2 and node.input[0] == node.input[1]


def variance_nodes(graph) -> dict:
    """node name -> the square node's name, for every node on a decomposed norm's variance path."""
    inits = {t.name: t for t in graph.initializer}
    producer = {v: n for n in graph.node for v in n.output}
    readers = {}
    for n in graph.node:
        for v in n.input:
            readers.setdefault(v, []).append(n)
    out = {}
    for mean in graph.node:
        if mean.op_type != "ReduceMean" or not mean.input:
            continue
        sq = producer.get(mean.input[0])
        if sq is None or not _is_square(sq, inits):
            continue
        path = [sq, mean]
        cur = mean
        for step in ("Add", "Sqrt", "Reciprocal"):
            nxt = [r for r in readers.get(cur.output[0], []) if r.op_type == step]
            if step == "Add":   # the epsilon: a positive scalar constant
                nxt = [r for r in nxt if any(0 < (_const_value(v, inits) or 0) < np.inf for v in r.input)]
            if len(nxt) != 1:
                if step == "Add":
                    continue    # no epsilon: the Sqrt may read the mean directly
                break
            cur = nxt[0]
            path.append(cur)
        if not any(n.op_type == "Sqrt" for n in path):
            continue
        for n in path:
            out.setdefault(n.name, sq.name)
    return out
