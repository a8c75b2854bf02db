"""Where Q/DQ goes, by TensorRT's explicit quantization rules.

- **Weighted ops** (Conv, ConvTranspose, MatMul and Gemm whose weight is a float initializer): Q/DQ on the
  activation input (per tensor) and on the weight (INT8: per channel of the output-channel axis; FP8: per tensor;
  INT4: blocks along the input-channel axis, weight only, MatMul/Gemm with 2-D weights).
- **Residual Add**: when one input of an Add comes from a quantized Conv (directly or through a BatchNormalization,
  which the builder folds into it) and that Conv's output has no other reader, the *other* input gets Q/DQ, so the
  builder fuses Conv + Add (+ Relu) with both its inputs INT8/FP8. When both inputs come from such Convs, the Add
  fuses with input 0's and input 1 gets Q/DQ.
- **Nothing else**: no Q/DQ between ops the builder fuses (Conv -> BatchNormalization -> Relu, GEMM -> bias ->
  activation), on graph outputs, or on the inputs of Softmax, LayerNormalization and the other float ops. A tensor
  read by several quantized inputs gets one Q/DQ pair shared by them; its other readers keep the float tensor.

    act --Q--DQ--> Conv <--DQ-- W_int8          (weights_dq_only; else W_float --Q--DQ-->)
"""
from __future__ import annotations

import dataclasses

from onnx import TensorProto

from ..autocast.options import name_matches

WEIGHTED_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")


@dataclasses.dataclass
class WeightedNode:
    node: object            # onnx NodeProto
    act: str                # the activation input (index 0)
    weight: str             # the weight initializer (index 1)
    channel_axis: int       # the weight's output-channel axis
    reduce_axis: int | None  # the weight's input-channel axis for 2-D GEMM weights (int4 blocks, SmoothQuant, AWQ)


class GraphIndex:
    """Producers, readers and initializers of a graph (rebuilt after each rewrite)."""

    def __init__(self, graph):
        self.graph = graph
        self.inits = {t.name: t for t in graph.initializer}
        self.producer = {o: n for n in graph.node for o in n.output if o}
        self.readers: dict = {}
        for n in graph.node:
            for i, name in enumerate(n.input):
                if name:
                    self.readers.setdefault(name, []).append((n, i))
        self.outputs = {o.name for o in graph.output}

    def reader_count(self, name) -> int:
        return len(self.readers.get(name, [])) + (name in self.outputs)


def _attr(node, name, default):
    for a in node.attribute:
        if a.name == name:
            return a.i
    return default


def excluded(node, opts) -> bool:
    return node.op_type in opts.op_types_to_exclude or any(name_matches(p, node.name) for p in opts.nodes_to_exclude)


def weighted_node(node, index: GraphIndex, opts, gemm_only=False):
    """A WeightedNode for ``node`` when it is a quantizable weighted op, else None."""
    if node.op_type not in WEIGHTED_OPS or node.domain not in ("", "ai.onnx") or len(node.input) < 2:
        return None
    if excluded(node, opts):
        return None
    act, w = node.input[0], node.input[1]
    t = index.inits.get(w)
    if t is None or t.data_type != TensorProto.FLOAT or act in index.inits:
        return None
    rank = len(t.dims)
    if node.op_type == "Conv":
        spec = (0, None)
    elif node.op_type == "ConvTranspose":
        spec = (1, None)
    elif node.op_type == "MatMul":
        if rank < 2:
            return None
        spec = (rank - 1, 0 if rank == 2 else None)
    else:
        spec = (0, 1) if _attr(node, "transB", 0) else (1, 0)
    if gemm_only and (node.op_type not in ("MatMul", "Gemm") or rank != 2):
        return None
    return WeightedNode(node, act, w, spec[0], spec[1])


def reads_k_last(wn) -> bool:
    """The activation's last axis is the GEMM's reduction axis (MatMul; Gemm without transA), so a per-channel
    activation scale (SmoothQuant, AWQ-lite) is a scale of that axis."""
    return wn.node.op_type == "MatMul" or _attr(wn.node, "transA", 0) == 0


def weighted_nodes(index: GraphIndex, opts, gemm_only=False) -> list:
    out = []
    for n in index.graph.node:
        w = weighted_node(n, index, opts, gemm_only)
        if w is not None:
            out.append(w)
    return out


def _from_quantized_conv(name, index: GraphIndex, convs: set) -> bool:
    """``name`` is the output of a quantized Conv (through BatchNormalizations) read by nothing else."""
    while True:
        if index.reader_count(name) != 1:
            return False
        p = index.producer.get(name)
        if p is None:
            return False
        if p.op_type == "BatchNormalization":
            name = p.input[0]
            continue
        return p.op_type == "Conv" and p.name in convs


def activation_sites(index: GraphIndex, opts, weighted: list) -> dict:
    """tensor -> [(node, input index)]: the inputs that read the tensor through its Q/DQ pair."""
    sites: dict = {}
    for w in weighted:
        sites.setdefault(w.act, []).append((w.node, 0))
    convs = {w.node.name for w in weighted if w.node.op_type == "Conv"}
    for n in index.graph.node:
        if n.op_type != "Add" or n.domain not in ("", "ai.onnx") or len(n.input) != 2 or excluded(n, opts):
            continue
        if any(i in index.inits for i in n.input) or n.input[0] == n.input[1]:
            continue
        fused = [i for i in (0, 1) if _from_quantized_conv(n.input[i], index, convs)]
        if fused:
            other = 1 - fused[0]
            sites.setdefault(n.input[other], []).append((n, other))
    return sites
