"""Signal-processing ops (ONNX DFT, STFT, window functions, MelWeightMatrix).

Complex tensors use ONNX's layout: a trailing dimension of 2 (real, imaginary); real signals may have a trailing
dimension of 1. Transforms run through ``torch.fft`` (CPU and CUDA) in at least float32.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..dtypes import FLOAT_TYPES as _FLOATS, torch_dtype
from ..enums import DataType
from .base import BOOL, DTYPE, INT, Choice, OpDef, OpError, Spec, norm_axis, register


def _scalar(spec, what):
    """The integer value of a scalar (or 1-element) input, or None when it is not known yet."""
    if spec is None or spec.value is None:
        return None
    v = np.asarray(spec.value).reshape(-1)
    if v.size != 1:
        raise OpError(f"{what} must hold one value, got shape {tuple(np.shape(spec.value))}")
    return int(v[0])


def _int_of(t):
    return None if t is None else int(t.reshape(-1)[0].item())


def _check_signal(x, what="input"):
    if x.dtype not in _FLOATS:
        raise OpError(f"{what} must be a floating-point tensor, got {x.dtype.name}")
    if x.shape is None or len(x.shape) < 2 or x.shape[-1] not in (1, 2, -1):
        raise OpError(f"{what} must end in a dimension of 1 (real) or 2 (complex), got shape {x.shape}")


class _AttrView(dict):
    """Attributes with one value replaced by an input's (attribute access like ``Attrs``)."""

    __getattr__ = dict.__getitem__


def _to_complex(x):
    """[..., 1|2] real tensor -> complex tensor of shape [...] (complex64 at least, like onnxruntime)."""
    x = x.to(torch.float64) if x.dtype == torch.float64 else x.to(torch.float32)
    if x.shape[-1] == 1:
        return torch.complex(x[..., 0], torch.zeros_like(x[..., 0]))
    return torch.complex(x[..., 0].contiguous(), x[..., 1].contiguous())


def _from_complex(c, dtype):
    return torch.stack((c.real, c.imag), dim=-1).to(dtype)


@register
class DFT(OpDef):
    """ONNX DFT along ``axis`` (an axis of the input, never the trailing complex one).

    forward: out[k] = sum_n x[n] exp(-2 pi i k n / L); ``onesided`` keeps bins 0..L//2.
    inverse: 1/L sum_k X[k] exp(+2 pi i k n / L); with ``onesided`` the input holds bins 0..L//2 of a Hermitian
    spectrum and the output is real ([..., 1]), L defaulting to 2 * (bins - 1)."""

    kind = "dft"
    attrs = {"axis": (INT, -2), "inverse": (BOOL, False), "onesided": (BOOL, False)}
    #: ``axis`` (input 2, opset 20) overrides the attribute; unknown until run time, every signal dim is unknown
    inputs = ("input", "dft_length", "axis")

    def _geometry(self, a, shape, dft_len):
        rank = len(shape)
        ax = norm_axis(a.axis, rank, "DFT axis")
        if ax == rank - 1:
            raise OpError(f"DFT axis {a.axis} is the trailing real/imaginary dimension; "
                          f"choose an axis in 0..{rank - 2}")
        n = shape[ax]
        if dft_len is None:
            dft_len = -1 if n < 0 else (2 * (n - 1) if a.inverse and a.onesided else n)
        if dft_len == 0 or dft_len < -1:
            raise OpError(f"dft_length must be positive, got {dft_len}")
        if a.inverse:
            size, last = dft_len, (1 if a.onesided else 2)
        else:
            size, last = (dft_len // 2 + 1 if a.onesided and dft_len >= 0 else dft_len), 2
        return ax, dft_len, size, last

    def infer(self, a, ins):
        x = ins[0]
        _check_signal(x)
        dl = ins[1] if len(ins) > 1 else None
        dft_len = _scalar(dl, "dft_length")
        if dl is not None and dft_len is None:
            dft_len = -1
        axis_in = ins[2] if len(ins) > 2 else None
        if axis_in is not None:
            axis = _scalar(axis_in, "axis")
            if axis is None:
                return [Spec(x.dtype, (-1,) * (len(x.shape) - 1) + (1 if a.inverse and a.onesided else 2,))]
            a = _AttrView(dict(a, axis=axis))
        _, _, size, last = self._geometry(a, x.shape, dft_len)
        ax = norm_axis(a.axis, len(x.shape))
        shape = list(x.shape)
        shape[ax] = size
        shape[-1] = last
        return [Spec(x.dtype, tuple(shape))]

    def run(self, a, ins, outs):
        x = ins[0]
        dl = _int_of(ins[1]) if len(ins) > 1 and ins[1] is not None else None
        if len(ins) > 2 and ins[2] is not None:
            a = _AttrView(dict(a, axis=_int_of(ins[2])))
        ax, n, _, _ = self._geometry(a, tuple(x.shape), dl)
        c = _to_complex(x)
        if a.inverse and a.onesided:
            return [torch.fft.irfft(c, n=n, dim=ax).unsqueeze(-1).to(x.dtype)]
        if a.inverse:
            return [_from_complex(torch.fft.ifft(c, n=n, dim=ax), x.dtype)]
        y = torch.fft.fft(c, n=n, dim=ax)
        if a.onesided:
            y = y.narrow(ax, 0, n // 2 + 1)
        return [_from_complex(y, x.dtype)]


@register
class STFT(OpDef):
    """ONNX STFT: frames of ``frame_length`` every ``frame_step`` samples, times ``window``, DFT per frame.
    signal [batch, length, 1|2] -> [batch, frames, bins, 2]."""

    kind = "stft"
    attrs = {"onesided": (BOOL, True)}
    inputs = ("signal", "frame_step", "window", "frame_length")
    min_inputs = 2

    def _geometry(self, a, length, step, window_len, frame_len):
        if frame_len is None:
            frame_len = window_len if window_len is not None else length
        if window_len is not None and frame_len is not None and window_len >= 0 and frame_len >= 0 \
                and window_len != frame_len:
            raise OpError(f"window has {window_len} values but frame_length is {frame_len}; they must agree")
        if step is not None and step <= 0:
            raise OpError(f"frame_step must be positive, got {step}")
        if frame_len is not None and frame_len > 0 and length >= 0 and frame_len > length:
            raise OpError(f"frame_length {frame_len} is longer than the signal ({length} samples)")
        frames = -1 if step is None or frame_len is None or frame_len < 0 or length < 0 \
            else 1 + (length - frame_len) // step
        bins = -1 if frame_len is None or frame_len < 0 else (frame_len // 2 + 1 if a.onesided else frame_len)
        return frame_len, frames, bins

    def infer(self, a, ins):
        x = ins[0]
        _check_signal(x, "signal")
        if len(x.shape) != 3:
            raise OpError(f"signal must be [batch, length, 1|2], got shape {x.shape}")
        if a.onesided and x.shape[-1] == 2:
            raise OpError("onesided output needs a real signal (trailing dimension 1); set onesided=0")
        win = ins[2] if len(ins) > 2 else None
        fl = ins[3] if len(ins) > 3 else None
        frame_len = _scalar(fl, "frame_length") if fl is not None else None
        if fl is not None and frame_len is None:
            frame_len = -1
        _, frames, bins = self._geometry(a, x.shape[1], _scalar(ins[1], "frame_step"),
                                         None if win is None else win.shape[0], frame_len)
        return [Spec(x.dtype, (x.shape[0], frames, bins, 2))]

    def run(self, a, ins, outs):
        x = ins[0]
        win = ins[2] if len(ins) > 2 else None
        fl = _int_of(ins[3]) if len(ins) > 3 and ins[3] is not None else None
        step = _int_of(ins[1])
        frame_len, _, _ = self._geometry(a, x.shape[1], step, None if win is None else win.shape[0], fl)
        c = _to_complex(x)                                       # [batch, length]
        frames = c.unfold(1, frame_len, step)                    # [batch, frames, frame_len]
        if win is not None:
            frames = frames * win.to(frames.real.dtype)
        y = torch.fft.fft(frames, n=frame_len, dim=-1)
        if a.onesided:
            y = y[..., :frame_len // 2 + 1]
        return [_from_complex(y, x.dtype)]


@register
class Window(OpDef):
    """Hann, Hamming and Blackman windows of ``size`` samples (``periodic``: N = size, else N = size - 1)."""

    kind = "window"
    attrs = {"window": (Choice("hann", "hamming", "blackman"), "hann"), "periodic": (BOOL, True),
             "to_type": (DTYPE, DataType.FLOAT)}
    inputs = ("size",)

    def infer(self, a, ins):
        if a.window not in ("hann", "hamming", "blackman"):
            raise OpError(f"unknown window {a.window!r}; use hann, hamming or blackman")
        n = _scalar(ins[0], "window size")
        if n is not None and n < 0:
            raise OpError(f"window size must be >= 0, got {n}")
        return [Spec(a.to_type, (-1 if n is None else n,))]

    def run(self, a, ins, outs):
        size = _int_of(ins[0])
        dev = ins[0].device
        n = torch.arange(size, dtype=torch.float64, device=dev)
        denom = size if a.periodic else size - 1
        ph = 2 * math.pi * n / denom if denom else torch.zeros_like(n)
        if a.window == "hann":
            w = torch.sin(math.pi * n / denom) ** 2 if denom else torch.zeros_like(n)
        elif a.window == "hamming":
            alpha = 25.0 / 46.0
            w = alpha - (1 - alpha) * torch.cos(ph)
        else:
            w = 0.42 - 0.5 * torch.cos(ph) + 0.08 * torch.cos(2 * ph)
        return [w.to(torch_dtype(a.to_type))]


def _mel_bins(num_mel, dft_len, rate, lo, hi):
    """The integer spectrogram bin of each of the num_mel + 2 mel-spaced edges (ONNX's formula)."""
    lo_mel = 2595.0 * math.log10(1.0 + lo / 700.0)
    hi_mel = 2595.0 * math.log10(1.0 + hi / 700.0)
    step = (hi_mel - lo_mel) / (num_mel + 2)
    mel = np.arange(num_mel + 2, dtype=np.float64) * step + lo_mel
    hz = 700.0 * np.expm1(mel / 2595.0 * math.log(10.0))
    return (((dft_len + 1) * hz) // rate).astype(np.int64)


@register
class MelWeightMatrix(OpDef):
    """ONNX MelWeightMatrix: [dft_length // 2 + 1, num_mel_bins] triangular filters on the mel scale."""

    kind = "mel_weight_matrix"
    attrs = {"to_type": (DTYPE, DataType.FLOAT)}
    inputs = ("num_mel_bins", "dft_length", "sample_rate", "lower_edge_hertz", "upper_edge_hertz")
    min_inputs = 5

    def infer(self, a, ins):
        m = _scalar(ins[0], "num_mel_bins")
        d = _scalar(ins[1], "dft_length")
        if (m is not None and m <= 0) or (d is not None and d <= 0):
            raise OpError(f"num_mel_bins ({m}) and dft_length ({d}) must be positive")
        return [Spec(a.to_type, (-1 if d is None else d // 2 + 1, -1 if m is None else m))]

    def run(self, a, ins, outs):
        m, d, rate = (_int_of(t) for t in ins[:3])
        lo, hi = (float(t.reshape(-1)[0].item()) for t in ins[3:5])
        if rate <= 0 or not 0 <= lo < hi:
            raise ValueError(f"MelWeightMatrix: need sample_rate > 0 and 0 <= lower_edge_hertz < upper_edge_hertz, "
                             f"got {rate}, {lo}, {hi}")
        bins = _mel_bins(m, d, rate, lo, hi)
        nspec = d // 2 + 1
        if bins.max() >= nspec:
            raise ValueError(f"MelWeightMatrix: upper_edge_hertz {hi} maps past the last of {nspec} spectrogram "
                             f"bins; use upper_edge_hertz <= sample_rate / 2")
        w = np.zeros((nspec, m), dtype=np.float64)
        for i in range(m):
            left, center, right = bins[i], bins[i + 1], bins[i + 2]
            if center == left:
                w[center, i] = 1.0
            else:
                j = np.arange(left, center + 1)
                w[j, i] = (j - left) / (center - left)
            if right > center:
                j = np.arange(center, right)
                w[j, i] = (right - j) / (right - center)
        return [torch.from_numpy(w).to(torch_dtype(a.to_type)).to(ins[0].device)]
