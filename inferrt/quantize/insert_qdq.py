"""Write the Q/DQ graph: activation QuantizeLinear/DequantizeLinear pairs and quantized weights.

Activations (INT8 / FP8, per tensor, zero point 0)::

    t --QuantizeLinear(t_scale, t_zero_point)--> t_quantized --DequantizeLinear--> t_dequantized --> readers

Weights (``weights_dq_only``): the initializer is replaced by its quantized form (INT8 per channel, FP8 per tensor,
INT4 blocks) read by one DequantizeLinear; otherwise the float initializer stays under a Q/DQ pair. Nodes are
inserted right after the producer of what they read, so the graph stays topologically sorted; initializers no node
reads any more are dropped.
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

from . import weights as W

Q_TYPE = {"int8": TensorProto.INT8, "fp8": TensorProto.FLOAT8E4M3FN, "int4": TensorProto.INT4}
Q_MAX = {"int8": 127.0, "fp8": 448.0}


class Names:
    """Fresh value/node names, never clashing with the graph's."""

    def __init__(self, graph):
        self.taken = {n.name for n in graph.node} | {o for n in graph.node for o in list(n.input) + list(n.output)}
        self.taken |= {t.name for t in graph.initializer} | {i.name for i in graph.input}

    def __call__(self, base: str) -> str:
        name, k = base, 1
        while name in self.taken:
            name, k = f"{base}_{k}", k + 1
        self.taken.add(name)
        return name


class Rewriter:
    def __init__(self, graph):
        self.graph = graph
        self.names = Names(graph)
        self.after: dict = {}       # producer output name ("" for graph inputs / initializers) -> new nodes
        self.inits: list = []

    def _add(self, anchor: str, producers: dict, *nodes) -> None:
        key = anchor if anchor in producers else ""
        self.after.setdefault(key, []).extend(nodes)

    def qdq_pair(self, t: str, scale: np.ndarray, kind: str, producers: dict, axis=None) -> str:
        """Q/DQ on value ``t`` (INT8 or FP8, zero point 0); returns the dequantized value's name."""
        scale = np.asarray(scale, np.float32)
        s = self.names(f"{t}_scale")
        z = self.names(f"{t}_zero_point")
        self.inits += [W.float_initializer(s, scale), W.zero_point(z, Q_TYPE[kind], scale.shape)]
        q, dq = self.names(f"{t}_quantized"), self.names(f"{t}_dequantized")
        extra = {} if axis is None else {"axis": int(axis)}
        self._add(t, producers,
                  helper.make_node("QuantizeLinear", [t, s, z], [q], name=self.names(f"{t}_QuantizeLinear"),
                                   **extra),
                  helper.make_node("DequantizeLinear", [q, s, z], [dq], name=self.names(f"{t}_DequantizeLinear"),
                                   **extra))
        return dq

    def dq_weight(self, w: str, qinit: TensorProto, scale: np.ndarray, axis=None, block=None) -> str:
        """A quantized weight initializer read by one DequantizeLinear; returns the dequantized value's name."""
        qinit.name = self.names(f"{w}_quantized")
        s = self.names(f"{w}_scale")
        self.inits += [qinit, W.float_initializer(s, scale)]
        dq = self.names(f"{w}_dequantized")
        extra = {}
        if axis is not None:
            extra["axis"] = int(axis)
        if block is not None:
            extra["block_size"] = int(block)
        self._add("", {}, helper.make_node("DequantizeLinear", [qinit.name, s], [dq],
                                           name=self.names(f"{w}_DequantizeLinear"), **extra))
        return dq

    def finish(self) -> None:
        g = self.graph
        nodes = list(self.after.get("", []))
        for n in g.node:
            nodes.append(n)
            for o in n.output:
                nodes.extend(self.after.get(o, []))
        del g.node[:]
        g.node.extend(nodes)
        g.initializer.extend(self.inits)
        drop_unread_initializers(g)


def _names_read(graph) -> set:
    """Every value name a node of ``graph`` or of its subgraphs (If/Loop/Scan bodies read outer values) reads."""
    read = set()
    for n in graph.node:
        read.update(n.input)
        for a in n.attribute:
            for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                read |= _names_read(sub) | {o.name for o in sub.output}
    return read


def drop_unread_initializers(graph) -> None:
    read = _names_read(graph) | {o.name for o in graph.output}
    keep = [t for t in graph.initializer if t.name in read]
    if len(keep) != len(graph.initializer):
        inputs = {t.name for t in graph.initializer} - {t.name for t in keep}
        del graph.initializer[:]
        graph.initializer.extend(keep)
        stale = [i for i in graph.input if i.name in inputs]
        for i in stale:
            graph.input.remove(i)


def quantize_weight(rw: Rewriter, wn, w: np.ndarray, kind: str, dq_only: bool, producers: dict, block=128):
    """Quantize the weight of WeightedNode ``wn`` (float values ``w``); returns the name its node reads. INT4
    weights are always stored quantized (weight-only: a Q at run time would only cost)."""
    w = np.asarray(w, np.float32)
    if kind == "int8":
        q, scale = W.int8_per_channel(w, wn.channel_axis)
        if dq_only:
            return rw.dq_weight(wn.weight, W.int8_initializer("", q), scale, axis=wn.channel_axis)
        return rw.qdq_pair(wn.weight, scale, "int8", producers, axis=wn.channel_axis)
    if kind == "fp8":
        bits, scale = W.fp8_per_tensor(w)
        if dq_only:
            return rw.dq_weight(wn.weight, W.fp8_initializer("", bits), scale)
        return rw.qdq_pair(wn.weight, scale, "fp8", producers)
    q, scale = W.int4_blocks(w, wn.reduce_axis, block)
    return rw.dq_weight(wn.weight, W.int4_initializer("", q), scale, axis=wn.reduce_axis, block=block)
