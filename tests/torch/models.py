"""Models built in the tests: a torchvision-style CNN, tiny BERT / GPT-2 (random weights), a module with an op no
converter handles, float64 references."""
from __future__ import annotations

import copy

import numpy as np
import torch


class Block(torch.nn.Module):
    """A ResNet basic block: conv-bn-relu-conv-bn + residual, relu."""

    def __init__(self, c):
        super().__init__()
        self.c1 = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.b1 = torch.nn.BatchNorm2d(c)
        self.c2 = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.b2 = torch.nn.BatchNorm2d(c)

    def forward(self, x):
        return torch.relu(x + self.b2(self.c2(torch.relu(self.b1(self.c1(x))))))


class SmallResNet(torch.nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
        self.bn = torch.nn.BatchNorm2d(8)
        self.pool = torch.nn.MaxPool2d(2)
        self.layer = torch.nn.Sequential(Block(8), Block(8))
        self.avg = torch.nn.AvgPool2d(2)
        self.fc = torch.nn.Linear(8, classes)

    def forward(self, x):
        x = self.pool(torch.relu(self.bn(self.stem(x))))
        x = self.avg(self.layer(x))
        return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1))


def cnn(seed=0):
    torch.manual_seed(seed)
    m = SmallResNet().eval()
    for mod in m.modules():  # non-trivial statistics so BN folding is exercised
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.2, 0.2)
    return m


class WithCustomOp(torch.nn.Module):
    """linear -> cummax (no converter) -> linear: the middle op stays in PyTorch."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(6, 6)
        self.b = torch.nn.Linear(6, 3)

    def forward(self, x):
        y = torch.relu(self.a(x))
        y = torch.cummax(y, dim=1).values
        return self.b(y) * 2.0


class Cond(torch.nn.Module):
    """linear, then torch.cond on the sign of the sum (relu * 2 or minus 1), then + 1."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 4)

    def forward(self, x):
        y = self.lin(x)
        return torch.cond(y.sum() > 0, lambda t: torch.relu(t) * 2, lambda t: t - 1, (y,)) + 1


def bert(seed=0):
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    cfg = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                     vocab_size=100, max_position_embeddings=64)
    return BertModel(cfg).eval()


def gpt2(seed=0):
    from transformers import GPT2Config, GPT2Model

    torch.manual_seed(seed)
    cfg = GPT2Config(n_embd=32, n_layer=2, n_head=2, vocab_size=100, n_positions=64, use_cache=False,
                     bos_token_id=0, eos_token_id=0)
    return GPT2Model(cfg).eval()


def reference(module, *args):
    """``module`` run on the CPU in float64 on ``args`` (floating tensors promoted), as numpy; the module itself is
    not changed (not even moved: a compiled module would see its parameters' storage change)."""
    m = copy.deepcopy(module).cpu().double()
    args = [a.cpu() for a in args]
    args = [a.double() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args]
    with torch.no_grad():
        out = m(*args)
    out = getattr(out, "last_hidden_state", out)
    return out.numpy()


def as_numpy(out) -> np.ndarray:
    out = getattr(out, "last_hidden_state", out)
    return out.detach().float().cpu().numpy()
