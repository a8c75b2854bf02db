"""Third-party-style models whose FP16 builds failed (issue 9): an audio front end (STFT as a Conv1d with a large
kernel, power, mel filterbank MatMul, Log) and a small 1-D CNN classifier, with realistic inputs."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

SAMPLE_RATE = 16000


def _mel_filterbank(n_freqs: int, n_mels: int, sr: int) -> np.ndarray:
    """HTK-style triangular filters (peak 1, not area-normalized), (n_freqs, n_mels)."""
    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    freqs = np.linspace(0, sr / 2, n_freqs)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), n_mels + 2))
    fb = np.zeros((n_freqs, n_mels))
    for m in range(n_mels):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        up = (freqs - lo) / (mid - lo)
        down = (hi - freqs) / (hi - mid)
        fb[:, m] = np.maximum(0.0, np.minimum(up, down))
    return fb.astype(np.float32)


class AudioFrontEnd(nn.Module):
    """log-mel spectrogram: Conv1d STFT (Hann-windowed DFT basis, kernel n_fft), |X|^2, mel MatMul, Log."""

    def __init__(self, n_fft=1024, hop=256, n_mels=80):
        super().__init__()
        self.n_freqs = n_fft // 2 + 1
        n = np.arange(n_fft)
        k = np.arange(self.n_freqs)[:, None]
        window = 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)
        basis = np.concatenate([np.cos(2 * np.pi * k * n / n_fft), -np.sin(2 * np.pi * k * n / n_fft)]) * window
        self.stft = nn.Conv1d(1, 2 * self.n_freqs, n_fft, stride=hop, bias=False)
        with torch.no_grad():
            self.stft.weight.copy_(torch.from_numpy(basis[:, None, :].astype(np.float32)))
        self.register_buffer("mel", torch.from_numpy(_mel_filterbank(self.n_freqs, n_mels, SAMPLE_RATE)))

    def forward(self, wav):                       # (B, T)
        spec = self.stft(wav.unsqueeze(1))        # (B, 2F, frames)
        re, im = spec[:, :self.n_freqs], spec[:, self.n_freqs:]
        power = re * re + im * im
        mel = torch.matmul(power.transpose(1, 2), self.mel)
        return torch.log(mel + 1e-6)


def speech_like(batch: int, seconds: float = 1.0, peak: float = 0.9, seed: int = 0) -> np.ndarray:
    """Voiced-speech-like waveforms in [-peak, peak]: harmonics of a gliding 120-250 Hz pitch, a syllable envelope,
    a little noise. ``peak=0.9 * 32768`` gives the 16-bit PCM scale that Kaldi-style front ends take."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    out = []
    for _ in range(batch):
        f0 = rng.uniform(120, 250) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(1, 3) * t))
        phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
        wav = sum(np.sin(h * phase + rng.uniform(0, 2 * np.pi)) / h for h in range(1, 16))
        wav *= 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t) ** 2
        wav += 0.01 * rng.standard_normal(t.shape)
        out.append(wav / np.abs(wav).max() * peak)
    return np.stack(out).astype(np.float32)


class Cnn1d(nn.Module):
    """A small 1-D CNN classifier (Conv1d / BatchNorm / ReLU / MaxPool, global average pool, Linear)."""

    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, 16, 9, stride=2, padding=4), nn.BatchNorm1d(16), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(16, 32, 7, padding=3), nn.BatchNorm1d(32), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(32, 64, 5, padding=2), nn.BatchNorm1d(64), nn.ReLU(),
            nn.Conv1d(64, 64, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(64, classes)

    def forward(self, x):                         # (B, 1, T)
        return self.head(self.features(x).mean(dim=2))


def cnn1d(seed=0, length=4000) -> Cnn1d:
    """A Cnn1d with BatchNorm statistics measured on signals (so activations have a trained network's scale)."""
    with torch.random.fork_rng(devices=[]):    # the initializers draw from the global RNG: leave it as it was
        torch.manual_seed(seed)
        model = Cnn1d()
    model.train()
    with torch.no_grad():
        for i in range(8):
            model(torch.from_numpy(speech_like(16, length / SAMPLE_RATE, seed=100 + i))[:, None, :])
    return model.eval()
