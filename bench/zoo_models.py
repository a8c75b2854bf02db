"""The model zoo's models: constructors with random weights (never downloaded) and their inputs.

Every model is wrapped so that it takes positional tensors and returns a tuple of tensors, which both of torch's ONNX
exporters handle the same way. Inputs are generated for a batch size from a seed; every model treats the samples of
a batch independently (eval mode), so the batch-1 and batch-7 inputs are the first rows of the batch-64 ones.

- torchvision: ``weights=None``; BatchNorm running statistics are measured first on random images (train mode,
  ``momentum=None`` so the statistics are a cumulative average over a few batches), then the model is put in eval
  mode, so activations have a trained network's scale instead of shrinking or growing layer by layer.
- transformers: random weights from small but real configurations (the sizes of published checkpoints such as
  bert-small, whisper-tiny, CLIP ViT-B/32, with fewer layers where noted), the default attention implementation,
  and a padding mask (right padding, a different length per row) where the model takes one.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

#: torchvision classification / segmentation models, in the issue's order
VISION = ["resnet50", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny", "regnet_y_400mf",
          "densenet121", "vit_b_16", "swin_t", "deeplabv3_mobilenet_v3_large"]
#: transformers models (random weights from their configs)
TEXT_AND_AUDIO = ["bert", "distilbert", "roberta", "gpt2", "t5_encoder", "whisper_encoder", "clip_vision", "llama"]
MODELS = VISION + TEXT_AND_AUDIO
#: a model small enough for the harness's own fast CPU test (not part of the zoo)
TINY = "tiny_cnn"

IMAGE_SIZE = 224
SEQ_LEN = 128


@dataclasses.dataclass
class ZooModel:
    """A model of the zoo: ``module`` (eval mode, float32, on the CPU) and how to make its inputs."""

    name: str
    module: object
    input_names: list[str]
    output_names: list[str]
    make_inputs: Callable[[int, int], dict[str, np.ndarray]]   # (batch, seed) -> {input name: array}


def _wrap(model, names: list[str], pick: Callable):
    import torch

    class Wrapped(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, *args):
            return pick(self.m, dict(zip(names, args)))

    return Wrapped(model).eval()


def measure_batchnorm_statistics(model, make_batch: Callable[[int], object], batches: int = 3) -> int:
    """Replace every BatchNorm's running statistics with those measured on ``batches`` random batches (train mode,
    cumulative average), then put the model in eval mode. Returns the number of BatchNorm layers measured."""
    import torch

    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for b in bns:
        b.reset_running_stats()
        b.momentum = None
    if bns:
        model.train()
        with torch.no_grad():
            for i in range(batches):
                model(make_batch(i))
    model.eval()
    return len(bns)


def _images(batch: int, seed: int, size: int = IMAGE_SIZE) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((batch, 3, size, size)).astype(np.float32)}


def _vision(name: str) -> ZooModel:
    import torch
    import torchvision

    torch.manual_seed(0)
    if name == "deeplabv3_mobilenet_v3_large":
        net = torchvision.models.segmentation.deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None,
                                                                           aux_loss=False)
    else:
        net = getattr(torchvision.models, name)(weights=None)
    for lin in net.modules():   # ViT's classifier starts at zero, which would make any output match
        if isinstance(lin, torch.nn.Linear) and not lin.weight.any():
            torch.nn.init.normal_(lin.weight, std=0.02)
    gen = torch.Generator().manual_seed(1234)
    measure_batchnorm_statistics(net, lambda i: torch.randn(8, 3, IMAGE_SIZE, IMAGE_SIZE, generator=gen))
    if name.startswith("deeplabv3"):
        module = _wrap(net, ["x"], lambda m, a: (m(a["x"])["out"],))
    else:
        module = _wrap(net, ["x"], lambda m, a: (m(a["x"]),))
    return ZooModel(name, module, ["x"], ["y"], _images)


def _tokens(vocab: int, with_mask: bool, seq: int = SEQ_LEN):
    def make(batch: int, seed: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        ids = rng.integers(1, vocab, (batch, seq)).astype(np.int64)
        out = {"input_ids": ids}
        if with_mask:
            mask = np.ones((batch, seq), np.int64)
            for i in range(batch):   # right padding; row 0 too, so batch 1 exercises the mask
                mask[i, seq - (11 + 37 * i) % (seq // 2):] = 0
            out["attention_mask"] = mask
        return out

    return make


def _hidden(m, a):
    return (m(**a).last_hidden_state,)


def _transformers(name: str) -> ZooModel:
    import torch
    import transformers as tf

    torch.manual_seed(0)
    if name == "bert":            # bert-small: 4 layers, 512 wide, 8 heads
        cfg = tf.BertConfig(hidden_size=512, num_hidden_layers=4, num_attention_heads=8, intermediate_size=2048)
        net, names = tf.BertModel(cfg, add_pooling_layer=False), ["input_ids", "attention_mask"]
        inputs = _tokens(cfg.vocab_size, True)
    elif name == "distilbert":    # distilbert-base's width, 3 of its 6 layers
        cfg = tf.DistilBertConfig(n_layers=3)
        net, names = tf.DistilBertModel(cfg), ["input_ids", "attention_mask"]
        inputs = _tokens(cfg.vocab_size, True)
    elif name == "roberta":       # roberta-base's width, 4 of its 12 layers
        cfg = tf.RobertaConfig(num_hidden_layers=4)
        net, names = tf.RobertaModel(cfg, add_pooling_layer=False), ["input_ids", "attention_mask"]
        inputs = _tokens(cfg.vocab_size - 2, True)
    elif name == "gpt2":          # gpt2's width, 4 of its 12 layers; causal mask plus padding mask
        cfg = tf.GPT2Config(n_layer=4)
        net, names = tf.GPT2Model(cfg), ["input_ids", "attention_mask"]
        inputs = _tokens(cfg.vocab_size, True)
    elif name == "t5_encoder":    # t5-small's encoder
        cfg = tf.T5Config(d_model=512, d_ff=2048, d_kv=64, num_layers=6, num_heads=8)
        net, names = tf.T5EncoderModel(cfg), ["input_ids", "attention_mask"]
        inputs = _tokens(cfg.vocab_size, True)
    elif name == "whisper_encoder":   # whisper-tiny's encoder: 80 mel bins x 3000 frames
        cfg = tf.WhisperConfig(d_model=384, encoder_layers=4, encoder_attention_heads=6, encoder_ffn_dim=1536,
                               decoder_layers=4, decoder_attention_heads=6, decoder_ffn_dim=1536, num_mel_bins=80)
        net, names = tf.WhisperModel(cfg).get_encoder(), ["input_features"]

        def inputs(batch, seed):
            rng = np.random.default_rng(seed)
            return {"input_features": rng.standard_normal((batch, 80, 3000)).astype(np.float32)}
    elif name == "clip_vision":   # CLIP ViT-B/32's vision tower
        cfg = tf.CLIPVisionConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                  num_attention_heads=12, image_size=224, patch_size=32)
        net, names = tf.CLIPVisionModel(cfg), ["pixel_values"]

        def inputs(batch, seed):
            return {"pixel_values": _images(batch, seed)["x"]}
    elif name == "llama":         # a small Llama-style decoder: RMSNorm, rotary, SwiGLU, grouped-query attention
        cfg = tf.LlamaConfig(vocab_size=32000, hidden_size=512, intermediate_size=1376, num_hidden_layers=4,
                             num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=512)
        net, names = tf.LlamaModel(cfg), ["input_ids", "attention_mask"]
        inputs = _tokens(cfg.vocab_size, True)
    else:
        raise ValueError(f"unknown zoo model {name!r}; known: {', '.join(MODELS)}")
    net.eval()
    if hasattr(net.config, "use_cache"):
        net.config.use_cache = False
    module = _wrap(net, names, _hidden)
    return ZooModel(name, module, names, ["last_hidden_state"], inputs)


def _tiny() -> ZooModel:
    """Conv + BatchNorm + ReLU + pooling + Linear at 16x16: the harness's own smoke-test model."""
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, padding=1, groups=8), torch.nn.BatchNorm2d(8), torch.nn.Hardswish(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 5))
    gen = torch.Generator().manual_seed(1234)
    measure_batchnorm_statistics(net, lambda i: torch.randn(8, 3, 16, 16, generator=gen))
    module = _wrap(net, ["x"], lambda m, a: (m(a["x"]),))
    return ZooModel(TINY, module, ["x"], ["y"], lambda b, s: _images(b, s, 16))


def make(name: str) -> ZooModel:
    """The zoo model ``name`` (see MODELS, or TINY)."""
    if name == TINY:
        return _tiny()
    if name in VISION:
        return _vision(name)
    return _transformers(name)
