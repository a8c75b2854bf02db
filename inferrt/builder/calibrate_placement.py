"""Where the INT8 build of a weakly typed network puts Q/DQ: ``inferrt.quantize``'s rules (``quantize/placement.py``,
TensorRT's explicit quantization rules) applied to the builder graph, and the Q/DQ nodes written there.

    act ─ Q ─ DQ ─┐
                  ├─ convolution / deconvolution / matrix_multiply        (per-tensor activation, zero point 0)
    W_int8 ─ DQ ──┘                                                       (per-channel INT8 weight)

    conv ─ [scale] ─┐
                    ├─ elementwise SUM        the residual input (not from the conv) gets Q/DQ, so the builder can
    other ─ Q ─ DQ ─┘                         fuse conv + add with both inputs INT8

The weighted op types and the residual rule are quantize's tables (``WEIGHTED_OPS``, Add through
BatchNormalization), mapped onto graph kinds here (``KIND_OF``); the weight quantization is quantize's
(``quantize/weights.py``), so an INT8 build agrees with ``inferrt.quantize``'s ONNX for the same ranges. Layers
whose precision the user pinned to FLOAT (with OBEY/PREFER_PRECISION_CONSTRAINTS) are left out; layers pinned to
INT8 get Q/DQ on each float input; an output whose type was set to INT8 gets Q/DQ for all its readers.
"""
from __future__ import annotations

import numpy as np

from ..enums import DataType, MatrixOperation
from ..ir.graph import Node
from ..ir.kinds import Kind
from ..ir.node_info import NodeInfo
from ..ops import get_op
from ..quantize.placement import WEIGHTED_OPS
from ..quantize.weights import int8_per_channel

#: quantize's ONNX op types (its rule tables) -> the graph kinds the network builds for them
KIND_OF = {"Conv": Kind.CONVOLUTION, "ConvTranspose": Kind.DECONVOLUTION, "MatMul": Kind.MATRIX_MULTIPLY,
           "Gemm": Kind.MATRIX_MULTIPLY, "Add": Kind.ELEMENTWISE, "BatchNormalization": Kind.SCALE}
WEIGHTED_KINDS = frozenset(KIND_OF[op] for op in WEIGHTED_OPS)   # KeyError at import if quantize grows an op
INT8_MAX = 127.0


class Placement:
    """Activation sites {tensor: [(node, input index)]} and weighted nodes [(node, weight channel axis,
    activation tensor)]."""

    def __init__(self, sites: dict, weighted: list):
        self.sites = sites
        self.weighted = weighted


def _const_of(graph_producers, name):
    p = graph_producers.get(name)
    return p if p is not None and p.kind == Kind.CONSTANT else None


def _weight_axis(n, w) -> int | None:
    """The output-channel axis of the constant weight ``w`` (numpy array) of weighted node ``n``; None when it
    is not quantized (not float32, a 1-D matrix operand)."""
    if np.asarray(w).dtype != np.float32:
        return None
    if n.kind == Kind.CONVOLUTION:
        return 0
    if n.kind == Kind.DECONVOLUTION:
        return 1
    if w.ndim < 2 or n.attrs.get("op1") == MatrixOperation.VECTOR or n.attrs.get("op0") == MatrixOperation.VECTOR:
        return None
    return w.ndim - 2 if n.attrs.get("op1") == MatrixOperation.TRANSPOSE else w.ndim - 1


def _pinned_float(n) -> bool:
    return n.info.precision == DataType.FLOAT.name


def find_placement(graph, constraints: bool) -> Placement:
    """The Q/DQ sites of ``graph`` (see the module docstring); ``constraints``: OBEY or PREFER_PRECISION_CONSTRAINTS
    is set, so layer precisions and output types are honoured."""
    prod = graph.producers()
    readers = graph.consumers()
    outputs = set(graph.outputs)
    specs = graph.specs
    sites: dict = {}
    weighted = []

    def is_float(v):
        return v in specs and specs[v].dtype == DataType.FLOAT

    for n in graph.nodes:
        if n.kind not in WEIGHTED_KINDS or len(n.inputs) < 2 or (constraints and _pinned_float(n)):
            continue
        act, wname = n.inputs[0], n.inputs[1]
        wnode = _const_of(prod, wname)
        if wnode is None or _const_of(prod, act) is not None or not is_float(act):
            continue
        axis = _weight_axis(n, np.asarray(wnode.attrs.weights))
        if axis is None:
            continue
        weighted.append((n, axis, act))
        sites.setdefault(act, []).append((n, 0))
    convs = {n.name for n, _, _ in weighted if n.kind == Kind.CONVOLUTION}

    def from_quantized_conv(v) -> bool:
        while True:
            if len(readers.get(v, [])) + (v in outputs) != 1:
                return False
            p = prod.get(v)
            if p is None:
                return False
            if p.kind == KIND_OF["BatchNormalization"]:
                v = p.inputs[0]
                continue
            return p.kind == Kind.CONVOLUTION and p.name in convs

    for n in graph.nodes:
        if n.kind != KIND_OF["Add"] or n.attrs.get("op").name != "SUM" or len(n.inputs) != 2:
            continue
        if (constraints and _pinned_float(n)) or n.inputs[0] == n.inputs[1]:
            continue
        if any(_const_of(prod, i) is not None for i in n.inputs):
            continue
        fused = [i for i in (0, 1) if from_quantized_conv(n.inputs[i])]
        if fused and is_float(n.inputs[1 - fused[0]]):
            sites.setdefault(n.inputs[1 - fused[0]], []).append((n, 1 - fused[0]))

    if constraints:
        for n in graph.nodes:
            if n.info.precision == DataType.INT8.name:
                for i, v in enumerate(n.inputs):
                    if v and is_float(v) and _const_of(prod, v) is None and (n, i) not in sites.get(v, []):
                        sites.setdefault(v, []).append((n, i))
            for idx, dt in (n.info.output_types or {}).items():
                o = n.outputs[int(idx)]
                if dt == DataType.INT8.name and is_float(o):
                    for r in readers.get(o, []):
                        for i, v in enumerate(r.inputs):
                            if v == o and (r, i) not in sites.get(o, []):
                                sites.setdefault(o, []).append((r, i))
    return Placement(sites, weighted)


def _node(graph, taken, kind, base, inputs, attrs, origin):
    attrs_all = get_op(kind).default_attrs()
    attrs_all.update(attrs)
    name = graph.unique_name(base, taken)
    out = graph.unique_name(f"{base}_output", taken)
    return Node(name, kind, list(inputs), [out], attrs_all, origin=list(origin),
                info=NodeInfo(inserted="quantization"))


def _const(graph, taken, base, arr, origin):
    arr = np.ascontiguousarray(arr)
    n = _node(graph, taken, Kind.CONSTANT, base, [], {"weights": arr, "shape": tuple(arr.shape)}, origin)
    return n


def insert_qdq(graph, placement: Placement, amax: dict) -> tuple[dict, list, int]:
    """Write the Q/DQ nodes of ``placement`` with the activation ranges ``amax`` {tensor: |x| range}. Returns
    ({tensor: scale} of the activations quantized, [sites skipped: tensor names without a range], number of
    weighted layers whose weight was quantized)."""
    taken = graph.taken_names()
    new: list = []
    done, missing = {}, []
    for t, uses in placement.sites.items():
        a = amax.get(t)
        if a is None:
            missing.append(t)
            continue
        scale = np.float32(a / INT8_MAX) if a > 0 else np.float32(1.0 / INT8_MAX)
        rank = len(graph.specs[t].shape) if graph.specs[t].shape is not None else 0
        origin = sorted({n.name for n, _ in uses})
        s = _const(graph, taken, f"{t} [scale]", np.asarray(scale, np.float32), origin)
        q = _node(graph, taken, Kind.QUANTIZE, f"{t} [quantize]", [t, s.outputs[0]],
                  {"to_type": DataType.INT8, "axis": 1 if rank > 1 else 0}, origin)
        dq = _node(graph, taken, Kind.DEQUANTIZE, f"{t} [dequantize]", [q.outputs[0], s.outputs[0]],
                   {"to_type": DataType.FLOAT, "axis": 1 if rank > 1 else 0}, origin)
        new += [s, q, dq]
        for n, i in uses:
            n.inputs[i] = dq.outputs[0]
        done[t] = float(scale)
    weights: dict = {}
    quantized = 0
    prod = graph.producers()
    for n, axis, act in placement.weighted:
        if act not in done:
            continue                         # its activation has no range: the layer stays in FLOAT
        key = (n.inputs[1], axis)
        if key not in weights:
            w = np.asarray(prod[n.inputs[1]].attrs.weights, np.float32)
            qw, sw = int8_per_channel(w, axis)
            c = _const(graph, taken, f"{n.inputs[1]} [int8]", qw, [n.name])
            s = _const(graph, taken, f"{n.inputs[1]} [scale]", sw, [n.name])
            dq = _node(graph, taken, Kind.DEQUANTIZE, f"{n.inputs[1]} [dequantize]", [c.outputs[0], s.outputs[0]],
                       {"to_type": DataType.FLOAT, "axis": axis}, [n.name])
            new += [c, s, dq]
            weights[key] = dq.outputs[0]
        n.inputs[1] = weights[key]
        quantized += 1
    read = {i for n in graph.nodes for i in n.inputs} | set(graph.outputs)
    replaced = {w for w, _ in weights}
    graph.nodes = new + [n for n in graph.nodes if not (n.kind == Kind.CONSTANT and n.outputs[0] in replaced
                                                        and n.outputs[0] not in read)]
    graph.toposort()
    graph.specs = dict(graph.infer())
    return done, missing, quantized
