"""Tensor formats: channels-last (NHWC) regions around 2-D convolutions (GPU and CPU: cuDNN's tensor-core
kernels and oneDNN's CPU convolutions both read and write NHWC without reorders, and pooling is faster on it).

    x(NCHW) ─ conv ─ bn/relu ─ conv ─ add ─ pool ─ flatten ─ gemm
             └──────────── NHWC region ──────────────┘   NCHW

A region starts at each 2-D convolution (or pooling) and grows through layers that do not care about layout
(pointwise, pooling, concatenation, padding, resize, further convolutions) while the tensors stay 4-D.
Everything else stays NCHW, so reformats happen only at region boundaries (the first convolution reads NCHW and
writes NHWC; the layer leaving the region reads NHWC through strides). Regions without a convolution are not
converted: a reformat would cost bandwidth and buy nothing. ``node.info.format = "NHWC"`` is read by the
executor when it lays the value out in the activation arena.
"""
from __future__ import annotations

from ..dtypes import FLOAT_TYPES as _FLOATS
from ..ir.kinds import Kind
from ..logger import Severity

_SEEDS = {Kind.CONVOLUTION, Kind.FUSED_CONV, Kind.QUANTIZED_CONV}
_AGNOSTIC = {Kind.ACTIVATION, Kind.ELEMENTWISE, Kind.UNARY, Kind.POINTWISE, Kind.CAST, Kind.POOLING, Kind.CONCATENATION,
             Kind.PADDING, Kind.RESIZE, Kind.SCALE, Kind.PARAMETRIC_RELU, Kind.CONVOLUTION, Kind.FUSED_CONV,
             Kind.DECONVOLUTION, Kind.QUANTIZED_CONV, Kind.DEQUANTIZE}


def assign_formats(graph, device: str, log) -> int:
    if device not in ("cuda", "cpu"):
        return 0
    specs = graph.specs
    consumers = graph.consumers()
    outputs = set(graph.outputs)

    def four_d(n):
        s = specs.get(n.outputs[0])
        return s is not None and s.shape is not None and len(s.shape) == 4 and s.dtype in _FLOATS

    marked = set()
    stack = [n for n in graph.nodes if n.kind in _SEEDS and len(n.attrs.get("kernel_size_nd", ())) == 2 and four_d(n)]
    while stack:
        n = stack.pop()
        if n.name in marked:
            continue
        marked.add(n.name)
        for o in n.outputs:
            if o in outputs:
                continue
            for c in consumers.get(o, []):
                if c.kind in _AGNOSTIC and c.name not in marked and four_d(c):
                    stack.append(c)
    for n in graph.nodes:
        if n.name in marked:
            n.info.format = "NHWC"
    if marked:
        log(Severity.INFO, f"assign_formats: {len(marked)} layers in NHWC (channels-last)")
    return len(marked)
