"""The subgraph interpreter of the ``if`` and ``loop`` ops (``ops/control_flow.py``): ``run_graph`` runs a subgraph
on tensors (each node's output shapes inferred from the actual values, outputs allocated, the node's generic PyTorch
implementation run); ``infer_graph`` infers a subgraph's specs from the specs the node feeds it. Subgraphs run in
the precision they were built in (``declared_dtype``), with casts at their boundary.
"""
from __future__ import annotations

import numpy as np
import torch

from ..dtypes import FLOAT_TYPES as _FLOATS, from_torch_dtype, storage_tensor, torch_dtype
from ..ir.kinds import Kind
from .base import OpError, Spec

_FOLD_LIMIT = 1 << 16


def spec_of(t: torch.Tensor) -> Spec:
    s = Spec(from_torch_dtype(t.dtype), tuple(t.shape))
    if t.numel() <= _FOLD_LIMIT and not t.is_floating_point():
        s.value = t.detach().cpu().numpy()
    return s


def _constant_of(graph, node, device) -> torch.Tensor:
    cache = graph.__dict__.setdefault("_const_cache", {})
    key = (node.name, str(device))
    t = cache.get(key)
    if t is None:
        t = storage_tensor(node.attrs.weights).reshape(tuple(node.attrs.shape)).to(device)
        cache[key] = t
    return t


def declared_dtype(graph, name, dtype):
    """The dtype a subgraph input is built for when ``dtype`` is another float type (a precision pass lowered the
    outer graph): subgraphs run in the precision they were built in, with casts at their boundary."""
    s = graph.specs.get(name)
    if s is not None and s.dtype != dtype and s.dtype in _FLOATS and dtype in _FLOATS:
        return s.dtype
    return dtype


def run_graph(graph, inputs: list, device, where: str = "subgraph") -> list:
    """Run ``graph`` on ``inputs`` (tensors bound to ``graph.inputs`` in order); returns its outputs."""
    if len(inputs) != len(graph.inputs):
        raise RuntimeError(f"{where}: expects {len(graph.inputs)} inputs, got {len(inputs)}")
    vals = {}
    for name, t in zip(graph.inputs, inputs):
        if t is not None and t.is_floating_point():
            dt = declared_dtype(graph, name, from_torch_dtype(t.dtype))
            t = t.to(torch_dtype(dt))
        vals[name] = t
    for n in graph.nodes:
        if n.kind == Kind.CONSTANT:
            vals[n.outputs[0]] = _constant_of(graph, n, device)
            continue
        ins = [vals[i] if i else None for i in n.inputs]
        try:
            specs = n.op.infer_all(n.attrs, [None if t is None else spec_of(t) for t in ins])
        except (OpError, ValueError, TypeError, IndexError) as e:
            raise RuntimeError(f"{where}: node {n.name!r} ({n.kind}): {e}") from None
        if all(s.value is not None for s in specs):
            outs = [torch.tensor(np.asarray(s.value), device=device) for s in specs]
        else:
            outs = [torch.empty(tuple(s.shape), dtype=torch_dtype(s.dtype), device=device) if s.static else None
                    for s in specs]
            res = n.op.run(n.attrs, ins, outs)
            if res is not None:
                done = []
                for o, r in zip(outs, res):
                    if o is None:
                        done.append(r.to(device))
                    elif r.data_ptr() != o.data_ptr():
                        done.append(o.copy_(r.reshape(o.shape) if r.shape != o.shape else r))
                    else:
                        done.append(o)
                outs = done
        for name, t in zip(n.outputs, outs):
            vals[name] = t
    return [vals[o] for o in graph.outputs]


def device_of(ins, outs):
    for t in list(ins) + list(outs):
        if isinstance(t, torch.Tensor):
            return t.device
    return torch.device("cpu")


def infer_graph(graph, specs: list, where: str) -> dict:
    if len(specs) != len(graph.inputs):
        raise OpError(f"{where} takes {len(graph.inputs)} inputs but the node gives it {len(specs)}")
    feed = {}
    for name, s in zip(graph.inputs, specs):
        if s is not None and declared_dtype(graph, name, s.dtype) != s.dtype:
            s = Spec(declared_dtype(graph, name, s.dtype), s.shape)
        feed[name] = s if s is not None else graph.specs.get(name)
    try:
        return graph.infer(feed)
    except OpError as e:
        raise OpError(f"{where}: {e}") from None


def merge_specs(a: Spec, b: Spec, where: str) -> Spec:
    """The spec covering both ``a`` and ``b`` (differing dims become -1, differing ranks an unknown rank)."""
    if a.dtype != b.dtype:
        raise OpError(f"{where}: data types differ ({a.dtype.name} vs {b.dtype.name}); cast one of them")
    if a.shape is None or b.shape is None or len(a.shape) != len(b.shape):
        return Spec(a.dtype, None)
    return Spec(a.dtype, tuple(x if x == y else -1 for x, y in zip(a.shape, b.shape)))


def truth(t, what) -> bool:
    if t.numel() != 1:
        raise RuntimeError(f"{what} must hold exactly one value, got shape {tuple(t.shape)}")
    return bool(t.reshape(()).item())
