"""The ``rnn`` op: ONNX's RNN, GRU and LSTM (every attribute), written as an explicit time loop.

Inputs (ONNX order): X, W, R, B, sequence_lens, initial_h, initial_c, P (the last two LSTM only).
Outputs: Y, Y_h (and Y_c for LSTM). Gate order follows ONNX: LSTM i, o, f, c; GRU z, r, h; RNN one gate.
``layout`` 0: X [T, B, I], Y [T, D, B, H], Y_h [D, B, H]; ``layout`` 1: X [B, T, I], Y [B, T, D, H], Y_h [B, D, H].
Steps at or past a batch entry's sequence length leave its state unchanged and write zeros into Y.
"""
from __future__ import annotations

import contextlib
import threading

import torch

from ..dtypes import FLOAT_TYPES
from ..enums import DataType, LayerType
from .base import BOOL, FLOAT, FLOATS, INT, JSON, Choice, OpDef, OpError, Spec, register

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
DEFAULT_ACTIVATIONS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}
#: activation -> (default alpha, default beta); None where the function takes no such parameter
ACTIVATION_PARAMS = {
    "relu": (None, None), "tanh": (None, None), "sigmoid": (None, None), "softsign": (None, None),
    "softplus": (None, None), "affine": (1.0, 0.0), "leakyrelu": (0.01, None), "thresholdedrelu": (1.0, None),
    "scaledtanh": (1.0, 1.0), "hardsigmoid": (0.2, 0.5), "elu": (1.0, None),
}


def resolve_activations(mode: str, direction: str, names, alphas, betas) -> list[tuple[str, float, float]]:
    """(name, alpha, beta) per activation slot and direction; alpha/beta lists are consumed in order by the
    activations that take them (ONNX's rule), defaults as the corresponding ONNX operators."""
    nd = 2 if direction == "bidirectional" else 1
    per = len(DEFAULT_ACTIVATIONS[mode])
    names = list(names) if names else DEFAULT_ACTIVATIONS[mode] * nd
    if len(names) == per and nd == 2:
        names = names * 2
    if len(names) != per * nd:
        raise OpError(f"{mode} with direction {direction} needs {per * nd} activations, got {len(names)} ({names})")
    al, be = list(alphas or ()), list(betas or ())
    out = []
    for n in names:
        key = str(n).lower()
        if key not in ACTIVATION_PARAMS:
            raise OpError(f"unsupported activation {n!r}; supported: {', '.join(sorted(ACTIVATION_PARAMS))}")
        da, db = ACTIVATION_PARAMS[key]
        a = (al.pop(0) if al else da) if da is not None else 0.0
        b = (be.pop(0) if be else db) if db is not None else 0.0
        out.append((key, float(a), float(b)))
    return out


def apply_activation(x, name: str, alpha: float, beta: float):
    if name == "relu":
        return torch.relu(x)
    if name == "tanh":
        return torch.tanh(x)
    if name == "sigmoid":
        return torch.sigmoid(x)
    if name == "softsign":
        return x / (1 + x.abs())
    if name == "softplus":
        return torch.nn.functional.softplus(x)
    if name == "affine":
        return alpha * x + beta
    if name == "leakyrelu":
        return torch.where(x >= 0, x, alpha * x)
    if name == "thresholdedrelu":
        return torch.where(x > alpha, x, torch.zeros_like(x))
    if name == "scaledtanh":
        return alpha * torch.tanh(beta * x)
    if name == "hardsigmoid":
        return torch.clamp(alpha * x + beta, 0.0, 1.0)
    if name == "elu":
        return torch.where(x >= 0, x, alpha * (torch.exp(x) - 1))
    raise ValueError(f"unsupported activation {name!r}")


_FP32_LOCK = threading.Lock()


def _rnn_precision():
    """torch's cuDNN-RNN float32 precision setting object (torch >= 2.9), or None."""
    cfg = getattr(torch.backends.cudnn, "rnn", None)
    return cfg if cfg is not None and hasattr(cfg, "fp32_precision") else None


@contextlib.contextmanager
def _exact_fp32_rnn(x):
    """Run cuDNN RNNs in IEEE float32 (not TF32, whose error grows along the sequence). BuilderFlag.TF32 allows
    TF32, it does not require it; the time loop's products follow the flag like every other FLOAT product."""
    cfg = _rnn_precision()
    if not x.is_cuda or x.dtype != torch.float32 or cfg is None:
        yield
        return
    with _FP32_LOCK:
        saved = cfg.fp32_precision
        cfg.fp32_precision = "ieee"
        try:
            yield
        finally:
            cfg.fp32_precision = saved


@register
class RNN(OpDef):
    kind = "rnn"
    layer_type = LayerType.GENERIC_OP
    attrs = {
        "mode": (Choice(*GATES), "LSTM"),
        "direction": (Choice("forward", "reverse", "bidirectional"), "forward"),
        "hidden_size": (INT, 0),
        "activations": (JSON, None),             # list of ONNX activation names, or None for the defaults
        "activation_alpha": (FLOATS, ()),
        "activation_beta": (FLOATS, ()),
        "clip": (FLOAT, None),
        "linear_before_reset": (BOOL, False),
        "input_forget": (BOOL, False),
        "layout": (INT, 0),
    }
    inputs = ("X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P")
    min_inputs = 3
    num_outputs = 3

    def _validate(self, a, ins):
        mode, direction = a.mode, a.direction
        if mode not in GATES:
            raise OpError(f"mode must be RNN, GRU or LSTM, got {mode!r}")
        if direction not in ("forward", "reverse", "bidirectional"):
            raise OpError(f"direction must be forward, reverse or bidirectional, got {direction!r}")
        if a.layout not in (0, 1):
            raise OpError(f"layout must be 0 or 1, got {a.layout}")
        if a.hidden_size <= 0:
            raise OpError(f"hidden_size must be positive, got {a.hidden_size}")
        if mode != "LSTM" and any(x is not None for x in ins[6:8]):
            raise OpError(f"initial_c and P are LSTM inputs; a {mode} does not take them")
        return resolve_activations(mode, direction, a.activations, a.activation_alpha, a.activation_beta)

    def infer(self, a, ins):
        self._validate(a, ins)
        x, w, r = ins[0], ins[1], ins[2]
        nd = 2 if a.direction == "bidirectional" else 1
        h, g = a.hidden_size, GATES[a.mode]
        if x.shape is None or len(x.shape) != 3:
            raise OpError(f"X must have rank 3, got shape {x.shape}")
        for name, s, shape in (("W", w, (nd, g * h, x.shape[2])), ("R", r, (nd, g * h, h))):
            if s.shape is None or len(s.shape) != 3:
                raise OpError(f"{name} must have rank 3 (expected shape {shape}), got {s.shape}")
            for d, e in zip(s.shape, shape):
                if d >= 0 and e >= 0 and d != e:
                    raise OpError(f"{name} has shape {s.shape} but {a.mode} with hidden_size {h}, direction "
                                  f"{a.direction} and input size {x.shape[2]} needs {shape}")
        extra = {3: ("B", (nd, 2 * g * h)), 7: ("P", (nd, 3 * h))}
        for idx, (name, shape) in extra.items():
            s = ins[idx] if len(ins) > idx else None
            if s is not None and s.shape is not None and any(d >= 0 and d != e for d, e in zip(s.shape, shape)) \
                    or (s is not None and s.shape is not None and len(s.shape) != len(shape)):
                raise OpError(f"{name} has shape {s.shape}, expected {shape}")
        floats = FLOAT_TYPES
        for name, sp in zip(self.inputs, ins):
            if sp is not None and name != "sequence_lens" and sp.dtype not in floats:
                raise OpError(f"{name} must be a float tensor, got {sp.dtype.name}")
        t, b = (x.shape[0], x.shape[1]) if a.layout == 0 else (x.shape[1], x.shape[0])
        if a.layout == 0:
            y, yh = (t, nd, b, h), (nd, b, h)
        else:
            y, yh = (b, t, nd, h), (b, nd, h)
        outs = [Spec(x.dtype, y), Spec(x.dtype, yh)]
        if a.mode == "LSTM":
            outs.append(Spec(x.dtype, yh))
        return outs

    def run(self, a, ins, outs):
        acts = self._validate(a, ins)
        ins = list(ins) + [None] * (8 - len(ins))
        x = ins[0]
        # weights may sit in another float type than X (a precision pass lowers X): compute in X's type
        w, r, bias, h0, c0, p = (None if t is None else t.to(x.dtype) for t in (ins[1], ins[2], ins[3], ins[5],
                                                                            ins[6], ins[7]))
        seq = ins[4]
        mode, h = a.mode, a.hidden_size
        g = GATES[mode]
        nd = 2 if a.direction == "bidirectional" else 1
        if a.layout == 1:
            x = x.transpose(0, 1)
            h0 = None if h0 is None else h0.transpose(0, 1)
            c0 = None if c0 is None else c0.transpose(0, 1)
        t_len, batch = x.shape[0], x.shape[1]
        dt, dev = x.dtype, x.device
        lens = None if seq is None else seq.to(device=dev, dtype=torch.int64).reshape(batch)
        per = len(DEFAULT_ACTIVATIONS[mode])
        fused = None if seq is not None or not self.use_fused else self._fused(a, acts, x, w, r, bias, h0, c0, p)
        ys, hs, cs = fused if fused is not None else ([], [], [])
        for d in range(len(ys), nd):  # the explicit time loop (skipped when the fused path ran)
            reverse = a.direction == "reverse" or d == 1
            state_h = h0[d] if h0 is not None else x.new_zeros(batch, h)
            state_c = c0[d] if c0 is not None else x.new_zeros(batch, h)
            wb = bias[d] if bias is not None else x.new_zeros(2 * g * h)
            peep = p[d] if p is not None else None
            xw = torch.matmul(x, w[d].t()) + wb[:g * h]          # [T, B, G*H]
            rd, rb = r[d], wb[g * h:]
            fns = acts[d * per:(d + 1) * per]
            y = x.new_zeros(t_len, batch, h)
            steps = range(t_len - 1, -1, -1) if reverse else range(t_len)
            for step in steps:
                nh, nc = self._cell(mode, a, fns, xw[step], state_h, state_c, rd, rb, peep, h)
                if seq is None:  # every batch entry runs every step
                    state_h, state_c = nh, (nc if mode == "LSTM" else state_c)
                    y[step] = nh
                    continue
                live = (step < lens).reshape(batch, 1)
                state_h = torch.where(live, nh, state_h)
                if mode == "LSTM":
                    state_c = torch.where(live, nc, state_c)
                y[step] = torch.where(live, nh, torch.zeros_like(nh))
            ys.append(y)
            hs.append(state_h)
            cs.append(state_c)
        y = torch.stack(ys, 1).to(dt)                             # [T, D, B, H]
        yh, yc = torch.stack(hs, 0), torch.stack(cs, 0)           # [D, B, H]
        if a.layout == 1:
            y, yh, yc = y.permute(2, 0, 1, 3), yh.transpose(0, 1), yc.transpose(0, 1)
        res = [y, yh]
        if mode == "LSTM":
            res.append(yc)
        return res

    #: use torch's fused RNN/GRU/LSTM (cuDNN on the GPU) where its semantics equal ONNX's exactly
    use_fused = True
    _modules: dict = {}

    def _fused(self, a, acts, x, w, r, bias, h0, c0, p):
        """Per-direction (Y [T, B, H], Y_h, Y_c) lists from torch.nn.RNN/GRU/LSTM, or None when the attributes
        leave its semantics (other activations, clip, peepholes, input_forget, GRU without linear_before_reset)."""
        mode, h = a.mode, a.hidden_size
        names = [n for n, _, _ in acts]
        if a.clip is not None or x.dtype not in (torch.float32, torch.float16, torch.bfloat16):
            return None
        if x.is_cuda and x.dtype == torch.float32 and _rnn_precision() is None:
            return None  # cuDNN would run in TF32 and this torch cannot switch that off for RNNs alone
        if mode == "LSTM":
            if names != ["sigmoid", "tanh", "tanh"] * (len(names) // 3) or a.input_forget or \
                    (p is not None and bool(p.any())):
                return None
            perm, cls, extra = (0, 2, 3, 1), torch.nn.LSTM, {}
        elif mode == "GRU":
            if names != ["sigmoid", "tanh"] * (len(names) // 2) or not a.linear_before_reset:
                return None
            perm, cls, extra = (1, 0, 2), torch.nn.GRU, {}
        else:
            if len(set(names)) != 1 or names[0] not in ("tanh", "relu"):
                return None
            perm, cls, extra = (0,), torch.nn.RNN, {"nonlinearity": names[0]}
        nd = w.shape[0]
        bidir = nd == 2
        key = (mode, extra.get("nonlinearity"), x.shape[2], h, bidir)
        module = self._modules.get(key)
        if module is None:
            module = cls(x.shape[2], h, bidirectional=bidir, device="meta", **extra)
            self._modules[key] = module

        def blocks(t):
            return torch.cat([t.reshape(len(perm), h, *t.shape[1:])[i] for i in perm], 0)

        params = {}
        zeros = x.new_zeros(2 * len(perm) * h)
        for d in range(nd):
            sfx = "_reverse" if d == 1 else ""
            b = bias[d] if bias is not None else zeros
            params[f"weight_ih_l0{sfx}"] = blocks(w[d])
            params[f"weight_hh_l0{sfx}"] = blocks(r[d])
            params[f"bias_ih_l0{sfx}"] = blocks(b[:len(perm) * h])
            params[f"bias_hh_l0{sfx}"] = blocks(b[len(perm) * h:])
        reverse_only = a.direction == "reverse"
        xin = x.flip(0) if reverse_only else x
        hx = h0 if h0 is not None else x.new_zeros(nd, x.shape[1], h)
        if mode == "LSTM":
            hx = (hx, c0 if c0 is not None else x.new_zeros(nd, x.shape[1], h))
        from torch.func import functional_call

        with torch.no_grad(), _exact_fp32_rnn(x):
            y, state = functional_call(module, params, (xin, hx))
        hn, cn = state if mode == "LSTM" else (state, x.new_zeros(nd, x.shape[1], h))
        y = y.reshape(y.shape[0], y.shape[1], nd, h)
        if reverse_only:
            y = y.flip(0)
        return [y[:, :, d] for d in range(nd)], list(hn), list(cn)

    @staticmethod
    def _cell(mode, a, fns, xw, h_prev, c_prev, rw, rb, peep, h):
        def act(i, v, clip=True):
            if clip and a.clip is not None:
                v = torch.clamp(v, -a.clip, a.clip)
            name, alpha, beta = fns[i]
            return apply_activation(v, name, alpha, beta)

        if mode == "RNN":
            return act(0, xw + torch.matmul(h_prev, rw.t()) + rb), None
        if mode == "GRU":
            xz, xr, xh = xw[:, :h], xw[:, h:2 * h], xw[:, 2 * h:]
            rz, rr, rh = rw[:h], rw[h:2 * h], rw[2 * h:]
            bz, br, bh = rb[:h], rb[h:2 * h], rb[2 * h:]
            z = act(0, xz + torch.matmul(h_prev, rz.t()) + bz)
            r = act(0, xr + torch.matmul(h_prev, rr.t()) + br)
            if a.linear_before_reset:
                hh = act(1, xh + r * (torch.matmul(h_prev, rh.t()) + bh))
            else:
                hh = act(1, xh + torch.matmul(r * h_prev, rh.t()) + bh)
            return (1 - z) * hh + z * h_prev, None
        gates = xw + torch.matmul(h_prev, rw.t()) + rb
        gi, go, gf, gc = gates[:, :h], gates[:, h:2 * h], gates[:, 2 * h:3 * h], gates[:, 3 * h:]
        if peep is not None:
            gi = gi + peep[:h] * c_prev
            gf = gf + peep[2 * h:] * c_prev
        i = act(0, gi)
        f = 1 - i if a.input_forget else act(0, gf)
        c = f * c_prev + i * act(1, gc)
        if peep is not None:
            go = go + peep[h:2 * h] * c
        o = act(0, go)
        return o * act(2, c, clip=False), c

