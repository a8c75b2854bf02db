"""Small ResNet-style and BERT-style torch models exported to ONNX (opset 14, legacy exporter, dynamic axes)."""
from __future__ import annotations

import io
import math

import torch
import torch.nn as nn


class _Block(nn.Module):
    def __init__(self, c, stride=1):
        super().__init__()
        cin = c if stride == 1 else c // 2
        self.c1, self.b1 = nn.Conv2d(cin, c, 3, stride, 1, bias=False), nn.BatchNorm2d(c)
        self.c2, self.b2 = nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c)
        self.down = None if stride == 1 else nn.Sequential(nn.Conv2d(cin, c, 1, stride, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        y = torch.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return torch.relu(y + (x if self.down is None else self.down(x)))


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.l1, self.l2 = _Block(8), _Block(16, 2)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        return self.fc(self.l2(self.l1(self.stem(x))).mean((2, 3)))


class _Encoder(nn.Module):
    def __init__(self, h, heads):
        super().__init__()
        self.h, self.heads = h, heads
        self.q, self.k, self.v, self.o = (nn.Linear(h, h) for _ in range(4))
        self.ln1, self.ln2 = nn.LayerNorm(h), nn.LayerNorm(h)
        self.f1, self.f2 = nn.Linear(h, 4 * h), nn.Linear(4 * h, h)
        self.act = nn.GELU()

    def forward(self, x, mask):
        b, t, _ = x.shape
        d = self.h // self.heads
        q = self.q(x).view(b, t, self.heads, d).transpose(1, 2)
        k = self.k(x).view(b, t, self.heads, d).permute(0, 2, 3, 1)
        v = self.v(x).view(b, t, self.heads, d).transpose(1, 2)
        a = torch.softmax(q @ k / math.sqrt(d) + mask, dim=-1)
        c = (a @ v).transpose(1, 2).reshape(b, t, self.h)
        x = self.ln1(x + self.o(c))
        return self.ln2(x + self.f2(self.act(self.f1(x))))


class Bert(nn.Module):
    def __init__(self, vocab=50, h=32, heads=4, layers=2):
        super().__init__()
        self.emb = nn.Embedding(vocab, h)
        self.pos = nn.Parameter(torch.randn(1, 16, h) * 0.1)
        self.ln = nn.LayerNorm(h)
        self.layers = nn.ModuleList(_Encoder(h, heads) for _ in range(layers))

    def forward(self, ids, attn):
        x = self.ln(self.emb(ids) + self.pos[:, : ids.shape[1]])
        mask = (1.0 - attn[:, None, None, :].float()) * -10000.0
        for layer in self.layers:
            x = layer(x, mask)
        return x


def export(model, args, names, dynamic_axes) -> bytes:
    torch.manual_seed(0)
    for p in model.parameters():
        p.data.normal_(0, 0.2)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    model.eval()
    f = io.BytesIO()
    torch.onnx.export(model, args, f, input_names=names, output_names=["y"], dynamic_axes=dynamic_axes,
                      opset_version=14, dynamo=False)
    return f.getvalue()


def resnet_onnx() -> bytes:
    return export(ResNet(), (torch.randn(2, 3, 16, 16),), ["x"], {"x": {0: "batch"}})


def bert_onnx(layers=2) -> bytes:
    ids, attn = torch.randint(0, 50, (2, 8)), torch.ones(2, 8, dtype=torch.int64)
    return export(Bert(layers=layers), (ids, attn), ["ids", "attn"],
                  {"ids": {0: "batch", 1: "seq"}, "attn": {0: "batch", 1: "seq"}})
