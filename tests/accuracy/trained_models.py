"""Two small models trained on real or well-defined data in seconds on the CPU, exported to ONNX in memory.

``digits_cnn``: a CNN trained on scikit-learn's bundled 8x8 handwritten digits (``sklearn.datasets.load_digits``:
1797 images shipped inside the package, nothing downloaded), 80/20 split with a fixed seed::

    x[N,1,8,8] -> Conv(16, 3x3, pad 1) -> Relu -> Conv(32, 3x3, pad 1) -> Relu -> MaxPool(2)
               -> Flatten -> Gemm(128) -> Relu -> Gemm(10) = logits

``reversal_transformer``: a two-layer transformer encoder trained to reverse a sequence of 8 tokens over a
vocabulary of 16 (``y[i] = x[L-1-i]``), per-position logits; the held-out split is fresh random sequences::

    ids[N,8] -> Embedding(16, 32) + learned positions -> 2 x TransformerEncoderLayer(32, 4 heads, ff 64)
             -> Linear(16) = logits[N,8,16]

Training uses a local torch generator and restores torch's thread count and global RNG afterwards; nothing is
written to disk. Both return a ``TrainedModel`` (ONNX bytes, held-out inputs, held-out labels, FP32 accuracy).
"""
from __future__ import annotations

import dataclasses
import functools
import io

import numpy as np

DIGITS_SEED = 20261207
REVERSAL_SEED = 20261208
SEQ_LEN = 8
VOCAB = 16


@dataclasses.dataclass(frozen=True)
class TrainedModel:
    name: str
    onnx: bytes                 # the exported FP32 model (opset 17)
    input_name: str
    calib: np.ndarray           # training-split inputs used as calibration data (a few hundred rows)
    held_out: np.ndarray        # held-out inputs
    labels: np.ndarray          # held-out ground-truth classes (per row, or per row and position)
    fp32_accuracy: float        # the PyTorch model's accuracy on the held-out split


def _export(module, example, input_name: str, dynamic_batch: bool = True) -> bytes:
    import torch

    buf = io.BytesIO()
    module.eval()
    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)   # the fused fast path has no ONNX mapping
    try:
        with torch.no_grad():
            torch.onnx.export(module, (example,), buf, input_names=[input_name], output_names=["logits"],
                              opset_version=17, dynamo=False,
                              dynamic_axes={input_name: {0: "batch"}, "logits": {0: "batch"}} if dynamic_batch
                              else None)
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)
    return buf.getvalue()


class _Isolated:
    """Train without touching torch's global RNG; restore the thread count."""

    def __enter__(self):
        import torch

        self.threads = torch.get_num_threads()
        self.state = torch.random.get_rng_state()
        return self

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.threads)
        torch.random.set_rng_state(self.state)
        return False


@functools.lru_cache(maxsize=None)
def digits_cnn(epochs: int = 12) -> TrainedModel:
    import torch
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[:, None]          # [1797, 1, 8, 8] in [0, 1]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(DIGITS_SEED).permutation(len(x))
    cut = int(0.8 * len(x))
    tr, te = order[:cut], order[cut:]
    with _Isolated():
        torch.manual_seed(DIGITS_SEED)
        net = torch.nn.Sequential(
            torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 32, 3, padding=1),
            torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(32 * 16, 128),
            torch.nn.ReLU(), torch.nn.Linear(128, 10))
        opt = torch.optim.Adam(net.parameters(), lr=3e-3)
        gen = torch.Generator().manual_seed(DIGITS_SEED)
        xt, yt = torch.from_numpy(x[tr]), torch.from_numpy(y[tr])
        for _ in range(epochs):
            perm = torch.randperm(len(xt), generator=gen)
            for i in range(0, len(xt), 64):
                idx = perm[i:i + 64]
                opt.zero_grad()
                torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
                opt.step()
        net.eval()
        with torch.no_grad():
            acc = float((net(torch.from_numpy(x[te])).argmax(-1).numpy() == y[te]).mean())
        data = _export(net, torch.from_numpy(x[te[:2]]), "x")
    return TrainedModel("digits_cnn", data, "x", x[tr[:256]], x[te], y[te], acc)


class _Reverser:
    """Built lazily so importing this file does not import torch."""

    @staticmethod
    def make():
        import torch

        class Reverser(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = torch.nn.Embedding(VOCAB, 32)
                self.pos = torch.nn.Parameter(torch.randn(1, SEQ_LEN, 32) * 0.1)
                layer = torch.nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
                self.encoder = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
                self.head = torch.nn.Linear(32, VOCAB)

            def forward(self, ids):
                return self.head(self.encoder(self.embed(ids) + self.pos))

        return Reverser()


@functools.lru_cache(maxsize=None)
def reversal_transformer(steps: int = 400, held_out: int = 256) -> TrainedModel:
    import torch

    rng = np.random.default_rng(REVERSAL_SEED)
    test = rng.integers(0, VOCAB, (held_out, SEQ_LEN)).astype(np.int64)
    calib = rng.integers(0, VOCAB, (128, SEQ_LEN)).astype(np.int64)
    with _Isolated():
        torch.manual_seed(REVERSAL_SEED)
        net = _Reverser.make()
        opt = torch.optim.Adam(net.parameters(), lr=3e-3)
        gen = torch.Generator().manual_seed(REVERSAL_SEED)
        for _ in range(steps):
            ids = torch.randint(0, VOCAB, (64, SEQ_LEN), generator=gen)
            opt.zero_grad()
            logits = net(ids)
            torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), ids.flip(1).reshape(-1)).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            pred = net(torch.from_numpy(test)).argmax(-1).numpy()
        acc = float((pred == test[:, ::-1]).mean())
        data = _export(net, torch.from_numpy(test[:2]), "ids")
    return TrainedModel("reversal_transformer", data, "ids", calib, test, np.ascontiguousarray(test[:, ::-1]), acc)
