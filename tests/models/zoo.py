"""The six end-to-end models (transformers configs, random weights, never downloaded), exported to ONNX opset 17
with a dynamic batch dimension. Shared by the ONNX end-to-end tests and the optimization tests."""
from __future__ import annotations

import io

import numpy as np

MODELS = ["resnet50", "mobilenet_v2", "convnext", "vit", "bert", "gpt2"]


def _hf(name):
    import torch
    import transformers as tf

    torch.manual_seed(0)
    if name == "resnet50":
        m = tf.ResNetModel(tf.ResNetConfig())
    elif name == "mobilenet_v2":
        m = tf.MobileNetV2Model(tf.MobileNetV2Config())
    elif name == "convnext":
        m = tf.ConvNextModel(tf.ConvNextConfig())
    elif name == "vit":
        m = tf.ViTModel(tf.ViTConfig(), add_pooling_layer=False)
    elif name == "bert":
        m = tf.BertModel(tf.BertConfig(), add_pooling_layer=False)
    elif name == "gpt2":
        m = tf.GPT2Model(tf.GPT2Config())
    else:
        raise ValueError(name)
    m.config._attn_implementation = "eager"
    return m.eval()


class _LastHidden:
    pass


def export(name: str, batch: int = 2):
    """(onnx bytes, {input: numpy array}, output name, profiles) for ``name``."""
    import torch

    model = _hf(name)

    class Wrap(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, *args):
            return self.m(*args).last_hidden_state

    rng = np.random.default_rng(0)
    if name in ("bert", "gpt2"):
        seq = 32
        ids = rng.integers(0, 1000, (batch, seq)).astype(np.int64)
        feeds = {"input_ids": ids}
        if name == "bert":
            mask = np.ones((batch, seq), np.int64)
            mask[1, seq // 2:] = 0  # padding in the second sequence
            feeds["attention_mask"] = mask
    else:
        size = 224
        feeds = {"pixel_values": rng.standard_normal((batch, 3, size, size)).astype(np.float32)}
    names = list(feeds)
    buf = io.BytesIO()
    torch.onnx.export(Wrap(model), tuple(torch.from_numpy(v) for v in feeds.values()), buf, input_names=names,
                      output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                      dynamic_axes={n: {0: "batch"} for n in names})
    profiles = {n: ((1,) + v.shape[1:], v.shape, (4,) + v.shape[1:]) for n, v in feeds.items()}
    return buf.getvalue(), feeds, "last_hidden_state", profiles
