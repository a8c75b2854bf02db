"""Remove the Casts that change nothing, so a converted model has no Cast feeding a Cast and no identity Cast.

    x -> Cast(to=T) -> y          with x already T: readers of y read x                  (identity)
    x -> Cast(to=M) -> Cast(to=Y) where the first is exact: one Cast(x, to=Y)           (chain)
    Cast whose output nobody reads (and is no graph output): removed                      (dead)

A chain folds only when the result is bit-identical: the first Cast widens exactly (float16/bfloat16 -> float32 or
float64, float32 -> float64: the second then rounds the same value once), or it turns integers into float32 and the
second rounds to float16 (integers past float32's 2^24 exact range are past float16's 65504 too, inf either way) or
to bfloat16 from integers of 16 bits or less (all exact in float32). Values the outside names (graph outputs) are
never bypassed.
"""
from __future__ import annotations

from onnx import TensorProto as T

from .convert_precision import subgraph_reads

_EXACT_WIDEN = {(T.FLOAT16, T.FLOAT), (T.FLOAT16, T.DOUBLE), (T.BFLOAT16, T.FLOAT), (T.BFLOAT16, T.DOUBLE),
                (T.FLOAT, T.DOUBLE)}
_INTS = {T.INT8, T.UINT8, T.INT16, T.UINT16, T.INT32, T.UINT32, T.INT64, T.UINT64, T.BOOL}
_SMALL_INTS = {T.INT8, T.UINT8, T.INT16, T.UINT16, T.BOOL}


def _to(node) -> int:
    return next(a.i for a in node.attribute if a.name == "to")


def _chain_exact(x: int, m: int, y: int) -> bool:
    if (x, m) in _EXACT_WIDEN:
        return True
    if m == T.FLOAT and x in _INTS:
        return y == T.FLOAT16 or (y == T.BFLOAT16 and x in _SMALL_INTS)
    return False


def simplify_casts(graph, types: dict) -> int:
    """Simplify in place; ``types``: value name -> elem type (the converted graph's). Returns Cast nodes removed."""
    outputs = {o.name for o in graph.output}
    removed = 0
    changed = True
    while changed:
        changed = False
        producer = {v: n for n in graph.node for v in n.output}
        readers = {}
        for n in graph.node:
            for v in n.input:
                readers.setdefault(v, []).append(n)
        for n in graph.node:
            if n.op_type != "Cast" or n.domain not in ("", "ai.onnx"):
                continue
            src, out = n.input[0], n.output[0]
            a = producer.get(src)
            if a is not None and a.op_type == "Cast" and a.domain in ("", "ai.onnx") and \
                    _chain_exact(types.get(a.input[0]), _to(a), _to(n)):
                n.input[0] = a.input[0]
                src = a.input[0]
                changed = True
            if types.get(src) == _to(n) and out not in outputs and readers.get(out):
                for r in readers.get(out, []):
                    for i, v in enumerate(r.input):
                        if v == out:
                            r.input[i] = src
                readers[out] = []
                changed = True
        read = {v for n in graph.node for v in n.input} | subgraph_reads(graph)
        keep = [n for n in graph.node if not (n.op_type == "Cast" and n.output[0] not in outputs and
                                              n.output[0] not in read)]
        if len(keep) != len(graph.node):
            removed += len(graph.node) - len(keep)
            del graph.node[:]
            graph.node.extend(keep)
            changed = True
    return removed
