"""Reduced precision (BuilderFlag.FP16 / BF16) on the GPU.

    x(float32) ─ cast ─ [every floating layer in HALF/BF16: weights pre-cast once at build] ─ cast ─ y(float32)

Network I/O keeps its declared types (casts at the boundary). Layers whose precision was set to FLOAT (with
OBEY/PREFER_PRECISION_CONSTRAINTS), and layers the range guard kept in FLOAT (``info.keep_float``, see
``guard_reduced_precision.py``), run in FLOAT: they read network inputs and FLOAT-only constants as they are (a
constant shared with lowered layers gets a lowered twin), their FLOAT outputs are cast to the reduced type for
lowered readers, so a FLOAT island ends at its readers. Ops compute softmax and normalization statistics in
float32 internally and matrix products accumulate in float32 (cuBLAS/cuDNN defaults). Cast-like attributes that
target FLOAT (``to_type``, ``output_type``) are retargeted, and mixed float inputs are harmonized with casts, so
the graph stays well typed. Quantization scales (of quantize, dequantize and the quantized products) stay FLOAT.
"""
from __future__ import annotations

import numpy as np

from ..enums import BuilderFlag, DataType
from ..ir.graph import Node
from ..ir.kinds import Kind
from ..ir.node_info import NodeInfo
from ..ops.base import Attrs, OpError
from .guard_reduced_precision import requested_precision

_FLOAT = DataType.FLOAT
_TYPE_ATTRS = ("to_type", "output_type")
#: the input slots that hold quantization scales: they stay FLOAT (as TensorRT's Q/DQ scales), so the rounding
#: boundaries are those of the model, and the inputs' type harmonization leaves them alone
_SCALE_SLOTS = {Kind.QUANTIZE: (1,), Kind.DEQUANTIZE: (1,), Kind.QUANTIZED_CONV: (4, 5),
                Kind.QUANTIZED_MATMUL: (4, 5)}


def _scale_slot(n, i) -> bool:
    return i in _SCALE_SLOTS.get(n.kind, ())


def _read_as_scale_only(value, readers) -> bool:
    return bool(readers) and all(all(_scale_slot(r, i) for i, v in enumerate(r.inputs) if v == value)
                                 for r in readers)


def target_precision(config, device: str):
    """The reduced type layers are lowered to: FP16 before BF16, on the GPU only (None elsewhere)."""
    if device != "cuda":
        return None
    return requested_precision(config)


def _lowered_weights(w, target):
    if target == DataType.HALF:
        return np.asarray(w).astype(np.float16)
    import torch

    return torch.from_numpy(np.ascontiguousarray(w)).to(torch.bfloat16)


def _is_float_const(n) -> bool:
    return n.kind == Kind.CONSTANT and n.attrs.weights is not None and np.asarray(n.attrs.weights).dtype == np.float32


def assign_precision(graph, config, device, log) -> int:
    """Lower float32 math to the precision the flags allow. Returns the number of layers lowered."""
    target = target_precision(config, device)
    if target is None:
        return 0
    obey = config.get_flag(BuilderFlag.OBEY_PRECISION_CONSTRAINTS) or config.get_flag(
        BuilderFlag.PREFER_PRECISION_CONSTRAINTS)

    def keeps_float(n) -> bool:
        return (obey and n.info.precision == "FLOAT") or n.info.keep_float is not None

    specs = dict(graph.specs)
    new_nodes: list[Node] = []
    consumers = graph.consumers()
    float_inputs = {name for name in graph.inputs if graph.specs[name].dtype == _FLOAT}
    kept_outputs: set[str] = set()    # FLOAT values written by layers kept in FLOAT
    lowered_copy: dict[str, str] = {}  # FLOAT constant kept for FLOAT readers -> its lowered twin for the others

    def cast(src: str, dt: DataType) -> str:
        # an inserted cast implements no layer of the network: its origin is empty (the engine inspector shows
        # it as inserted), not that of the layer it feeds, which would then have two engine layers claiming it
        name = f"{src} [{dt.name.lower()}]"
        if name not in specs:
            new_nodes.append(Node(name, Kind.CAST, [src], [name], Attrs(to_type=dt), origin=[],
                                  info=NodeInfo(tactic="generic", inserted="precision")))
            from ..ops import Spec

            specs[name] = Spec(dt, specs[src].shape)
        return name

    outputs = set(graph.outputs)
    lowered = 0
    for n in graph.nodes:
        keep_fp32 = keeps_float(n)
        if not keep_fp32:
            # graph inputs are cast once (lazily, by their first lowered reader); constants kept in FLOAT for
            # other readers have a lowered twin
            n.inputs = [cast(i, target) if i in float_inputs else lowered_copy.get(i, i) for i in n.inputs]
        if _is_float_const(n):
            readers = consumers.get(n.outputs[0], [])
            kept_readers = [r for r in readers if keeps_float(r)]
            if _read_as_scale_only(n.outputs[0], readers):
                new_nodes.append(n)   # a quantization scale: FLOAT for every reader
                continue
            if keep_fp32 or (readers and len(kept_readers) == len(readers)):
                kept_outputs.add(n.outputs[0])
                new_nodes.append(n)
                continue
            if kept_readers:
                twin = f"{n.outputs[0]} [{target.name.lower()}]"
                new_nodes.append(n)
                new_nodes.append(Node(twin, Kind.CONSTANT, [], [twin],
                                      Attrs(weights=_lowered_weights(n.attrs.weights, target), shape=n.attrs.shape),
                                      origin=list(n.origin), info=NodeInfo(inserted="precision")))
                from ..ops import Spec

                specs[twin] = Spec(target, specs[n.outputs[0]].shape)
                lowered_copy[n.outputs[0]] = twin
                continue
            n.attrs.weights = _lowered_weights(n.attrs.weights, target)
        if not keep_fp32:
            for k in _TYPE_ATTRS:
                if n.attrs.get(k) == _FLOAT:
                    n.attrs[k] = target
        ins_specs = [specs.get(i) if i else None for i in n.inputs]
        float_dts = {s.dtype for k, s in enumerate(ins_specs) if s is not None and s.dtype in (_FLOAT, target)
                     and not _scale_slot(n, k)}
        want = _FLOAT if keep_fp32 else target
        # a lowered layer reading a layer kept in FLOAT reads it cast back (the FLOAT island ends there)
        from_kept = not keep_fp32 and any(i in kept_outputs for i in n.inputs if i)
        if len(float_dts) > 1 or (keep_fp32 and target in float_dts) or from_kept:
            n.inputs = [cast(i, want) if i and specs.get(i) is not None and specs[i].dtype in (_FLOAT, target)
                        and specs[i].dtype != want and not _scale_slot(n, k) else i for k, i in enumerate(n.inputs)]
            ins_specs = [specs.get(i) if i else None for i in n.inputs]
        new_nodes.append(n)
        try:
            outs = n.op.infer_all(n.attrs, [s for s in ins_specs]) if n.kind != Kind.CONSTANT else \
                n.op.infer_all(n.attrs, [])
        except OpError as e:
            raise OpError(f"node {n.name!r} after precision assignment: {e}") from None
        for o, s in zip(n.outputs, outs):
            specs[o] = s
            if keep_fp32 and s.dtype == _FLOAT:
                kept_outputs.add(o)
        if any(s.dtype == target for s in outs):
            lowered += 1
            n.info.precision = target.name
        # graph outputs keep their declared type
        for idx, o in enumerate(list(n.outputs)):
            if o in outputs and specs[o].dtype != graph.specs[o].dtype and graph.specs[o].dtype == _FLOAT:
                inner = f"{o} [{target.name.lower()}]"
                n.outputs[idx] = inner
                specs[inner] = specs[o]
                new_nodes.append(Node(f"{o} [cast to FLOAT]", Kind.CAST, [inner], [o], Attrs(to_type=_FLOAT),
                                      origin=[], info=NodeInfo(tactic="generic", inserted="precision")))
                specs[o] = graph.specs[o]
    graph.nodes = new_nodes
    graph.specs = {k: v for k, v in graph.infer().items()}
    for k in graph.outputs:
        assert graph.specs[k].dtype == specs[k].dtype
    kept = sum(1 for n in graph.nodes if n.info.keep_float is not None and n.kind != Kind.CONSTANT)
    log(3, f"assign_precision: {lowered} layers in {target.name}" + (f", {kept} kept in FLOAT by the range guard"
                                                                     if kept else ""))
    return lowered
