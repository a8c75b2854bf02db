"""ONNX RNN, GRU and LSTM (every opset) onto the ``rnn`` op (``inferrt/ops/rnn.py``)."""
from __future__ import annotations

from ...enums import DataType, ParserErrorCode
from ...ir.kinds import Kind
from ...ops.rnn import resolve_activations
from ...ops.base import OpError
from ..registry import importer

#: ONNX input slots of each mode (RNN/GRU stop after initial_h; LSTM adds initial_c and P)
_SLOTS = {"RNN": 6, "GRU": 6, "LSTM": 8}


def _import(ctx, node, mode):
    direction = node.attr("direction", "forward")
    if direction not in ("forward", "reverse", "bidirectional"):
        ctx.fail(f"direction must be forward, reverse or bidirectional, got {direction!r}",
                 ParserErrorCode.UNSUPPORTED_NODE_ATTR)
    ins = []
    for i in range(_SLOTS[mode]):
        name = node.input(i)
        ins.append(ctx.tensor(name) if name else None)
    x, w, r = ins[0], ins[1], ins[2]
    if x is None or w is None or r is None:
        ctx.fail("X, W and R are required inputs", ParserErrorCode.INVALID_NODE)
    hidden = node.attr("hidden_size", None)
    if hidden is None:
        rs = tuple(r.shape)
        if len(rs) != 3 or rs[2] < 0:
            ctx.fail("hidden_size is not set and R's shape does not give it; set the hidden_size attribute",
                     ParserErrorCode.INVALID_NODE)
        hidden = int(rs[2])
    acts = node.attr("activations", None)
    alphas = node.attr("activation_alpha", None)
    betas = node.attr("activation_beta", None)
    try:
        resolve_activations(mode, direction, acts, alphas, betas)
    except OpError as e:
        ctx.fail(str(e), ParserErrorCode.UNSUPPORTED_NODE_ATTR)
    if ins[4] is not None:
        ins[4] = ctx.cast(ins[4], DataType.INT32)
    for i in (3, 5, 6, 7):
        if i < len(ins) and ins[i] is not None and ins[i].dtype != x.dtype:
            ins[i] = ctx.cast(ins[i], x.dtype)
    attrs = {
        "mode": mode, "direction": direction, "hidden_size": int(hidden),
        "activations": list(acts) if acts else None,
        "activation_alpha": tuple(alphas or ()), "activation_beta": tuple(betas or ()),
        "clip": node.attr("clip", None), "layout": int(node.attr("layout", 0)),
        "linear_before_reset": bool(node.attr("linear_before_reset", 0)),
        "input_forget": bool(node.attr("input_forget", 0)),
    }
    n_out = 3 if mode == "LSTM" else 2
    layer = ctx.network.internal.add_layer(Kind.RNN, ins, attrs, num_outputs=n_out)
    if all(l.name != node.name for l in ctx.network.internal.layers):  # keep names unique
        layer.name = node.name
    error = ctx.network.internal.layer_error(layer)
    if error:
        ctx.fail(error, ParserErrorCode.INVALID_NODE)
    return [layer.get_output(i) if i < n_out and node.outputs[i] else None for i in range(len(node.outputs))]


def _register(mode, versions):
    for v in versions:
        importer(mode, since=v)(lambda ctx, node, _m=mode: _import(ctx, node, _m))


_register("RNN", (1, 7, 14, 22))
_register("GRU", (1, 3, 7, 14, 22))
_register("LSTM", (1, 7, 14, 22))
