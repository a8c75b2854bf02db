"""Scale a GEMM's activation per input channel and its weight's rows by the inverse, keeping the function:

    X @ W  ==  (X * (1/s)) @ (diag(s) W)

(SmoothQuant's migration and AWQ-lite's weight scaling). The weight rows are scaled in the initializer (a copy
when other nodes read it too). The activation's 1/s folds into the producer when the producer is an affine
layer-norm tail read only by the scaled GEMMs: ``LayerNormalization`` with constant scale/bias, or the decomposed
``Mul(γ) -> Add(β)`` an exported LayerNorm ends with (γ/s, β/s). Otherwise a ``Mul`` by 1/s is inserted before
those GEMMs only (other readers keep X).
"""
from __future__ import annotations

import numpy as np
from onnx import helper, numpy_helper


def _const(index, name):
    t = index.inits.get(name)
    return None if t is None else numpy_helper.to_array(t)


def _channel_vector(arr, k) -> bool:
    """``arr`` broadcasts along the last axis only, with k (or 1) entries there."""
    return arr is not None and arr.ndim >= 1 and arr.shape[-1] in (1, k) and int(np.prod(arr.shape[:-1])) == 1


def _set_init(index, names, node, i, arr) -> None:
    """Node ``node`` reads ``arr`` at input ``i``: the initializer updated in place when only it reads it, else a
    new one."""
    old = node.input[i]
    readers = index.readers.get(old, [])
    t = numpy_helper.from_array(np.asarray(arr, np.float32), old)
    if len(readers) == 1 and old not in index.outputs:
        index.inits[old].CopyFrom(t)
        return
    t.name = names(f"{old}_scaled")
    index.graph.initializer.append(t)
    index.inits[t.name] = t
    node.input[i] = t.name


def _fold(index, names, x, inv) -> bool:
    k = inv.shape[0]
    p = index.producer.get(x)
    if p is None:
        return False
    if p.op_type == "LayerNormalization" and len(p.input) >= 2:
        axis = next((a.i for a in p.attribute if a.name == "axis"), -1)
        gamma = _const(index, p.input[1])
        beta = _const(index, p.input[2]) if len(p.input) > 2 and p.input[2] else None
        if axis != -1 or gamma is None or gamma.shape != (k,) or (len(p.input) > 2 and p.input[2]
                                                                   and (beta is None or beta.shape != (k,))):
            return False
        _set_init(index, names, p, 1, gamma * inv)
        if beta is not None:
            _set_init(index, names, p, 2, beta * inv)
        return True
    if p.op_type == "Add":
        bi = next((i for i in (0, 1) if p.input[i] in index.inits), None)
        if bi is None:
            return False
        beta = _const(index, p.input[bi])
        u = p.input[1 - bi]
        m = index.producer.get(u)
        if m is None or m.op_type != "Mul" or len(index.readers.get(u, [])) != 1 or u in index.outputs:
            return False
        gi = next((i for i in (0, 1) if m.input[i] in index.inits), None)
        if gi is None:
            return False
        gamma = _const(index, m.input[gi])
        if not (_channel_vector(beta, k) and _channel_vector(gamma, k)):
            return False
        _set_init(index, names, p, bi, beta * inv.reshape((1,) * (beta.ndim - 1) + (k,)))
        _set_init(index, names, m, gi, gamma * inv.reshape((1,) * (gamma.ndim - 1) + (k,)))
        return True
    return False


def scale_weight_rows(index, names, wn, s: np.ndarray) -> np.ndarray:
    """The weight of ``wn`` with its input-channel rows multiplied by ``s`` (written back to the graph)."""
    w = _const(index, wn.weight).astype(np.float32)
    shape = [1] * w.ndim
    shape[wn.reduce_axis] = -1
    scaled = (w * s.reshape(shape)).astype(np.float32)
    _set_init(index, names, wn.node, 1, scaled)
    wn.weight = wn.node.input[1]
    return scaled


def scale_activation(index, names, x: str, readers: list, inv: np.ndarray, tag: str) -> str:
    """Multiply activation ``x`` by ``inv`` (per last-axis channel) for ``readers`` [(node, input index)]:
    folded into the producer when every reader of ``x`` is among them, else through a new Mul. Returns "fold" or
    the Mul's name."""
    inv = np.asarray(inv, np.float32)
    all_readers = index.readers.get(x, [])
    if len(all_readers) == len(readers) and x not in index.outputs and _fold(index, names, x, inv):
        return "fold"
    s = names(f"{x}_{tag}_inv_scale")
    out = names(f"{x}_{tag}")
    index.graph.initializer.append(numpy_helper.from_array(inv, s))
    node = helper.make_node("Mul", [x, s], [out], name=names(f"{x}_{tag}_Mul"))
    # insert before the first reader, keeping the order topological
    first = min(list(index.graph.node).index(n) for n, _ in readers)
    index.graph.node.insert(first, node)
    for n, i in readers:
        n.input[i] = out
    return node.name
