"""Reduced precision (BuilderFlag.FP16 / BF16) on the GPU.

    x(float32) ─ cast ─ [every floating layer in HALF/BF16: weights pre-cast once at build] ─ cast ─ y(float32)

Network I/O keeps its declared types (casts at the boundary). Layers whose precision was set to FLOAT (with
OBEY/PREFER_PRECISION_CONSTRAINTS) run in FLOAT between casts. Ops compute softmax and normalization statistics in
float32 internally and matrix products accumulate in float32 (cuBLAS/cuDNN defaults). Cast-like attributes that
target FLOAT (``to_type``, ``output_type``) are retargeted, and mixed float inputs are harmonized with casts, so
the graph stays well typed.
"""
from __future__ import annotations

import numpy as np

from ..enums import BuilderFlag, DataType
from ..ir.graph import Node
from ..ops.base import Attrs, OpError

_FLOAT = DataType.FLOAT
_TYPE_ATTRS = ("to_type", "output_type")


def target_precision(config, device: str):
    if device != "cuda":
        return None
    if config.get_flag(BuilderFlag.FP16):
        return DataType.HALF
    if config.get_flag(BuilderFlag.BF16):
        return DataType.BF16
    return None


def _np_target(dt):
    return np.float16 if dt == DataType.HALF else None


def assign_precision(graph, config, device, log) -> int:
    """Lower float32 math to the precision the flags allow. Returns the number of layers lowered."""
    target = target_precision(config, device)
    if target is None:
        return 0
    obey = config.get_flag(BuilderFlag.OBEY_PRECISION_CONSTRAINTS) or config.get_flag(
        BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
    specs = dict(graph.specs)
    new_nodes: list[Node] = []
    rename: dict[str, str] = {}

    def cast(src: str, dt: DataType, origin) -> str:
        name = f"{src} [{dt.name.lower()}]"
        if name not in specs:
            new_nodes.append(Node(name, "cast", [src], [name], Attrs(to_type=dt), origin=list(origin),
                                  info={"tactic": "generic", "inserted": "precision"}))
            from ..ops import Spec

            specs[name] = Spec(dt, specs[src].shape)
        return name

    for name in graph.inputs:
        if graph.specs[name].dtype == _FLOAT:
            rename[name] = cast(name, target, [])
    outputs = set(graph.outputs)
    lowered = 0
    for n in graph.nodes:
        n.inputs = [rename.get(i, i) if i else i for i in n.inputs]
        if n.kind == "constant" and n.attrs.weights is not None and np.asarray(n.attrs.weights).dtype == np.float32:
            w = n.attrs.weights
            if target == DataType.HALF:
                n.attrs.weights = np.asarray(w).astype(np.float16)
            else:
                import torch

                n.attrs.weights = torch.from_numpy(np.ascontiguousarray(w)).to(torch.bfloat16)
        for k in _TYPE_ATTRS:
            if n.attrs.get(k) == _FLOAT:
                n.attrs[k] = target
        keep_fp32 = obey and n.info.get("precision") == "FLOAT"
        ins_specs = [specs.get(i) if i else None for i in n.inputs]
        float_dts = {s.dtype for s in ins_specs if s is not None and s.dtype in (_FLOAT, target)}
        want = _FLOAT if keep_fp32 else target
        if len(float_dts) > 1 or (keep_fp32 and target in float_dts):
            n.inputs = [cast(i, want, n.origin) if i and specs.get(i) is not None and specs[i].dtype in (_FLOAT, target)
                        and specs[i].dtype != want else i for i in n.inputs]
            ins_specs = [specs.get(i) if i else None for i in n.inputs]
        new_nodes.append(n)
        try:
            outs = n.op.infer_all(n.attrs, [s for s in ins_specs]) if n.kind != "constant" else \
                n.op.infer_all(n.attrs, [])
        except OpError as e:
            raise OpError(f"node {n.name!r} after precision assignment: {e}") from None
        for o, s in zip(n.outputs, outs):
            specs[o] = s
        if any(s.dtype == target for s in outs):
            lowered += 1
            n.info["precision"] = target.name
        # graph outputs keep their declared type
        for idx, o in enumerate(list(n.outputs)):
            if o in outputs and specs[o].dtype != graph.specs[o].dtype and graph.specs[o].dtype == _FLOAT:
                inner = f"{o} [{target.name.lower()}]"
                n.outputs[idx] = inner
                specs[inner] = specs[o]
                new_nodes.append(Node(f"{o} [cast to FLOAT]", "cast", [inner], [o], Attrs(to_type=_FLOAT),
                                      origin=list(n.origin), info={"tactic": "generic", "inserted": "precision"}))
                specs[o] = graph.specs[o]
    graph.nodes = new_nodes
    graph.specs = {k: v for k, v in graph.infer().items()}
    for k in graph.outputs:
        assert graph.specs[k].dtype == specs[k].dtype
    log_msg = f"assign_precision: {lowered} layers in {target.name}"
    log(3, log_msg)
    return lowered
