"""Benchmark models built in code with random weights (never downloaded): torchvision CNN/ViT, transformers BERT/GPT-2."""
from __future__ import annotations

import torch


class _HFWrapper(torch.nn.Module):
    """Return only the last hidden state so every model has one tensor output."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, *args):
        return self.model(*args).last_hidden_state


def _realistic_statistics(m, size):
    """Random weights, but activations of a trained network's scale: BatchNorm statistics measured on random
    images (else MobileNetV2's activations shrink below FP16's range and every output reads 0), and no all-zero
    classifier (ViT's head starts at zero, which would make any output match)."""
    bns = [b for b in m.modules() if isinstance(b, torch.nn.modules.batchnorm._BatchNorm)]
    for b in bns:
        b.reset_running_stats()
        b.momentum = None  # cumulative average
    for lin in m.modules():
        if isinstance(lin, torch.nn.Linear) and not lin.weight.any():
            torch.nn.init.normal_(lin.weight, std=0.02)
    if bns:
        m.train()
        with torch.no_grad():
            for _ in range(2):
                m(torch.randn(8, 3, size, size))
        m.eval()


def make_model(name: str, batch: int, small: bool = False, attn: str = "eager"):
    """(module in eval mode, example inputs, input names, dynamic axes) for a benchmark row. ``attn``: transformers'
    attention implementation ("eager" is what the ONNX export needs; "sdpa" is PyTorch's default and faster)."""
    torch.manual_seed(0)
    if name in ("resnet50", "mobilenet_v2", "vit_b_16"):
        import torchvision

        m = getattr(torchvision.models, name)(weights=None).eval()
        size = 64 if small else 224
        if name == "vit_b_16" and small:
            m = torchvision.models.VisionTransformer(image_size=64, patch_size=16, num_layers=2, num_heads=4,
                                                     hidden_dim=64, mlp_dim=128).eval()
        _realistic_statistics(m, size)
        x = torch.randn(batch, 3, size, size)
        return m, (x,), ["x"], {"x": {0: "batch"}}
    if name == "bert_base":
        from transformers import BertConfig, BertModel

        cfg = BertConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128) if small \
            else BertConfig()
        cfg._attn_implementation = attn
        m = _HFWrapper(BertModel(cfg, add_pooling_layer=False).eval())
        seq = 16 if small else 128
        ids = torch.randint(0, cfg.vocab_size, (batch, seq))
        mask = torch.ones(batch, seq, dtype=torch.int64)
        mask[:, seq - seq // 4:] = 0
        return m, (ids, mask), ["input_ids", "attention_mask"], {"input_ids": {0: "batch"},
                                                                "attention_mask": {0: "batch"}}
    if name == "gpt2":
        from transformers import GPT2Config, GPT2Model

        cfg = GPT2Config(n_layer=2, n_embd=64, n_head=4) if small else GPT2Config()
        cfg._attn_implementation = attn
        m = _HFWrapper(GPT2Model(cfg).eval())
        seq = 32 if small else 512
        ids = torch.randint(0, cfg.vocab_size, (batch, seq))
        return m, (ids,), ["input_ids"], {"input_ids": {0: "batch"}}
    raise ValueError(f"unknown model {name!r}")


def export_onnx(model, inputs, names, dynamic_axes, dynamo: bool = False) -> bytes:
    """The model as ONNX bytes: TorchScript's exporter (``dynamo=False``, opset 17, with ``dynamic_axes``), or
    torch's default exporter (``dynamo=True``, torch.export based, its opset) at the example inputs' static shapes
    (it does not convert these models' ``dynamic_axes``: "Failed to convert 'dynamic_axes' to 'dynamic_shapes'")."""
    import io

    buf = io.BytesIO()
    if dynamo:
        torch.onnx.export(model, inputs, buf, input_names=names, output_names=["y"], dynamo=True, verbose=False)
    else:
        torch.onnx.export(model, inputs, buf, input_names=names, output_names=["y"], dynamic_axes=dynamic_axes,
                          opset_version=17, dynamo=False)
    return buf.getvalue()
