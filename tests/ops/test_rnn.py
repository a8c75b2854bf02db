"""The ``rnn`` op (RNN / GRU / LSTM) against an independent float64 numpy implementation of ONNX's equations."""
from __future__ import annotations

import numpy as np
import pytest

import inferrt as trt
from inferrt.ops import get_op
from inferrt.ops.base import OpError, Spec
from tests.helpers import assert_close, build_and_run, new_network

RNG = np.random.default_rng(5)
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
NP_ACT = {
    "sigmoid": lambda x, a, b: 1 / (1 + np.exp(-x)), "tanh": lambda x, a, b: np.tanh(x),
    "relu": lambda x, a, b: np.maximum(x, 0), "leakyrelu": lambda x, a, b: np.where(x >= 0, x, a * x),
    "hardsigmoid": lambda x, a, b: np.clip(a * x + b, 0, 1), "softsign": lambda x, a, b: x / (1 + np.abs(x)),
}


def reference(mode, x, w, r, bias, seq, h0, c0, p, hidden, direction, acts, clip=None, lbr=False, layout=0):
    """Y, Y_h, Y_c by the ONNX operator definitions, one batch entry and one step at a time, in float64."""
    x, w, r = (np.asarray(v, np.float64) for v in (x, w, r))
    if layout:
        x = x.transpose(1, 0, 2)
        h0 = None if h0 is None else h0.transpose(1, 0, 2)
        c0 = None if c0 is None else c0.transpose(1, 0, 2)
    t_len, batch, _ = x.shape
    nd, g, h = w.shape[0], GATES[mode], hidden
    per = len(acts) // nd
    y = np.zeros((t_len, nd, batch, h))
    yh, yc = np.zeros((nd, batch, h)), np.zeros((nd, batch, h))
    for d in range(nd):
        f = [lambda v, k=k: NP_ACT[acts[d * per + k][0]](np.clip(v, -clip, clip) if clip else v,
                                                         *acts[d * per + k][1:]) for k in range(per)]
        wb = bias[d] if bias is not None else np.zeros(2 * g * h)
        for bi in range(batch):
            steps = int(seq[bi]) if seq is not None else t_len
            hs = h0[d, bi].astype(np.float64) if h0 is not None else np.zeros(h)
            cs = c0[d, bi].astype(np.float64) if c0 is not None else np.zeros(h)
            order = range(steps - 1, -1, -1) if (direction == "reverse" or d == 1) else range(steps)
            for t in order:
                xt = x[t, bi]
                if mode == "RNN":
                    hs = f[0](w[d] @ xt + r[d] @ hs + wb[:h] + wb[h:])
                elif mode == "GRU":
                    wz, wr, wh = np.split(w[d], 3)
                    rz, rr, rh = np.split(r[d], 3)
                    bwz, bwr, bwh, brz, brr, brh = np.split(wb, 6)
                    z = f[0](wz @ xt + rz @ hs + bwz + brz)
                    rt = f[0](wr @ xt + rr @ hs + bwr + brr)
                    hh = f[1](wh @ xt + rt * (rh @ hs + brh) + bwh) if lbr else f[1](wh @ xt + rh @ (rt * hs) + brh + bwh)
                    hs = (1 - z) * hh + z * hs
                else:
                    wi, wo, wf, wc = np.split(w[d], 4)
                    ri, ro, rf, rc = np.split(r[d], 4)
                    bs = np.split(wb, 8)
                    pi, po, pf = np.split(p[d], 3) if p is not None else (0, 0, 0)
                    i = f[0](wi @ xt + ri @ hs + pi * cs + bs[0] + bs[4])
                    fg = f[0](wf @ xt + rf @ hs + pf * cs + bs[2] + bs[6])
                    c = f[1](wc @ xt + rc @ hs + bs[3] + bs[7])
                    cs = fg * cs + i * c
                    o = f[0](wo @ xt + ro @ hs + po * cs + bs[1] + bs[5])
                    hs = o * NP_ACT[acts[d * per + 2][0]](cs, *acts[d * per + 2][1:])
                y[t, d, bi] = hs
            yh[d, bi], yc[d, bi] = hs, cs
    if layout:
        return y.transpose(2, 0, 1, 3), yh.transpose(1, 0, 2), yc.transpose(1, 0, 2)
    return y, yh, yc


def run(mode, direction="forward", t=4, b=3, i=5, h=4, seq=False, init=False, peep=False, layout=0, acts=None,
        clip=None, lbr=False, device="cpu"):
    nd = 2 if direction == "bidirectional" else 1
    g = GATES[mode]
    x = RNG.standard_normal((t, b, i) if layout == 0 else (b, t, i)).astype(np.float32)
    w = (RNG.standard_normal((nd, g * h, i)) * 0.5).astype(np.float32)
    r = (RNG.standard_normal((nd, g * h, h)) * 0.5).astype(np.float32)
    bias = (RNG.standard_normal((nd, 2 * g * h)) * 0.3).astype(np.float32)
    lens = RNG.integers(1, t + 1, size=b).astype(np.int32) if seq else None
    hshape = (nd, b, h) if layout == 0 else (b, nd, h)
    h0 = RNG.standard_normal(hshape).astype(np.float32) if init else None
    c0 = RNG.standard_normal(hshape).astype(np.float32) if init and mode == "LSTM" else None
    p = (RNG.standard_normal((nd, 3 * h)) * 0.3).astype(np.float32) if peep else None
    names = acts or {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}[mode]
    builder, net = new_network()
    feeds = {"X": x}
    xt = net.add_input("X", trt.float32, x.shape)
    ins = [xt] + [net.add_constant(v.shape, v).get_output(0) for v in (w, r, bias)]
    for name, v in (("seq", lens), ("h0", h0), ("c0", c0)):
        if v is None:
            ins.append(None)
        else:
            ins.append(net.add_input(name, trt.int32 if v.dtype == np.int32 else trt.float32, v.shape))
            feeds[name] = v
    ins.append(None if p is None else net.add_constant(p.shape, p).get_output(0))
    if mode != "LSTM":
        ins = ins[:6]
    layer = net._add("rnn", ins, {"mode": mode, "direction": direction, "hidden_size": h, "activations": names,
                                  "clip": clip, "linear_before_reset": lbr, "layout": layout},
                     num_outputs=3 if mode == "LSTM" else 2)
    for k in range(layer.num_outputs):
        layer.get_output(k).name = f"o{k}"
        net.mark_output(layer.get_output(k))
    got = build_and_run(builder, net, feeds, device=device)
    default_ab = {"leakyrelu": (0.01, 0.0), "hardsigmoid": (0.2, 0.5)}
    acts_ref = [(n.lower(), *default_ab.get(n.lower(), (0.0, 0.0))) for n in names] * nd
    ref = reference(mode, x, w, r, bias, lens, h0, c0, p, h, direction, acts_ref, clip, lbr, layout)
    for k in range(layer.num_outputs):
        assert_close(got[f"o{k}"], ref[k], rtol=1e-4, atol=1e-5, what=f"{mode} output {k}")


@pytest.mark.parametrize("mode", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_directions_with_lengths_and_initial_state(mode, direction, device):
    run(mode, direction, seq=True, init=True, device=device)


@pytest.mark.parametrize("mode", ["RNN", "GRU", "LSTM"])
def test_layout_1(mode):
    run(mode, "bidirectional", layout=1, seq=True, init=True)


def test_lstm_peepholes_clip_and_activations():
    run("LSTM", "bidirectional", peep=True, init=True, clip=0.8, acts=["HardSigmoid", "Relu", "Softsign"])


def test_gru_linear_before_reset_and_leaky():
    run("GRU", lbr=True, acts=["Sigmoid", "LeakyRelu"], init=True)


def test_shape_inference_is_symbolic():
    op = get_op("rnn")
    a = op.default_attrs()
    a.update(mode="GRU", direction="bidirectional", hidden_size=8)
    f = trt.DataType.FLOAT
    outs = op.infer(a, [Spec(f, (-1, 2, 3)), Spec(f, (2, 24, 3)), Spec(f, (2, 24, 8))])
    assert [o.shape for o in outs] == [(-1, 2, 2, 8), (2, 2, 8)]


def test_bad_weight_shape_names_the_input():
    op = get_op("rnn")
    a = op.default_attrs()
    a.update(mode="LSTM", hidden_size=4)
    f = trt.DataType.FLOAT
    with pytest.raises(OpError, match="R has shape"):
        op.infer(a, [Spec(f, (3, 2, 5)), Spec(f, (1, 16, 5)), Spec(f, (1, 12, 4))])
    with pytest.raises(OpError, match="initial_c and P are LSTM inputs"):
        a.update(mode="GRU")
        op.infer(a, [Spec(f, (3, 2, 5)), Spec(f, (1, 12, 5)), Spec(f, (1, 12, 4)), None, None, None,
                     Spec(f, (1, 2, 4))])


@pytest.mark.parametrize("mode,acts,lbr", [("LSTM", None, False), ("GRU", None, True), ("RNN", ["Relu"], False),
                                           ("RNN", None, False)])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_fused_path_matches_time_loop(mode, acts, lbr, direction, device, monkeypatch):
    """Where torch's fused cells apply (default activations, no clip/peepholes/lengths) they must give the time
    loop's results; both are checked against the numpy reference."""
    from inferrt.ops.rnn import RNN

    calls = []
    original = RNN._fused
    monkeypatch.setattr(RNN, "_fused", lambda self, *args: calls.append(original(self, *args)) or calls[-1])
    run(mode, direction, init=True, acts=acts, lbr=lbr, device=device)
    assert calls and calls[-1] is not None, "the fused path did not run"
    monkeypatch.setattr(RNN, "use_fused", False)
    run(mode, direction, init=True, acts=acts, lbr=lbr, device=device)
