"""Models for the refit tests: the ONNX models of tests/passes/onnx_models.py and transformers' BertModel (small and
BERT-base configs made in code, random weights, never downloaded), with other weights, and builds."""
from __future__ import annotations

import functools
import io
import warnings

import numpy as np
import onnx
from onnx import numpy_helper

import inferrt as trt

_TOKENS = {"ids": ((1, 8), (2, 8), (2, 8)), "attn": ((1, 8), (2, 8), (2, 8))}
SHAPES = {"resnet": {"x": ((1, 3, 16, 16), (2, 3, 16, 16), (2, 3, 16, 16))},
          "bert": _TOKENS, "hf-bert-small": _TOKENS, "hf-bert-base": _TOKENS}
#: transformers BertConfig arguments: a 2-layer model, and BERT-base (BertConfig's defaults: 12 layers, hidden 768,
#: 12 heads, 3072-wide feed-forward, 30522-token vocabulary; 110M parameters)
HF_BERT = {"hf-bert-small": dict(vocab_size=100, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                 intermediate_size=128, max_position_embeddings=64),
           "hf-bert-base": {}}


def model(kind: str) -> bytes:
    from tests.passes.onnx_models import bert_onnx, resnet_onnx

    if kind in HF_BERT:
        return hf_bert(kind)
    return resnet_onnx() if kind == "resnet" else bert_onnx(layers=2)


@functools.lru_cache(maxsize=2)
def hf_bert(kind: str) -> bytes:
    """transformers' BertModel (no pooler, eager attention) from the config ``HF_BERT[kind]`` with seeded random
    weights, exported to ONNX opset 17 with dynamic batch and sequence; output ``y`` (the last hidden state)."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    bert = BertModel(BertConfig(attn_implementation="eager", **HF_BERT[kind]), add_pooling_layer=False).eval()
    with torch.no_grad():   # as trained: no two parameters equal (fresh biases are zeros, LayerNorm scales ones)
        for name, p in bert.named_parameters():
            p.add_(torch.randn_like(p) * 0.02)

    class LastHidden(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, ids, attn):
            return self.bert(input_ids=ids, attention_mask=attn).last_hidden_state

    x = feed(kind)
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(LastHidden().eval(), (torch.from_numpy(x["ids"]), torch.from_numpy(x["attn"])), buf,
                          input_names=["ids", "attn"], output_names=["y"], opset_version=17, dynamo=False,
                          dynamic_axes={n: {0: "batch", 1: "seq"} for n in ("ids", "attn")})
    return buf.getvalue()


def float_weight_bytes(data: bytes) -> int:
    """Bytes of the model's learned float weights (float initializers of more than one value)."""
    m = onnx.load_from_string(data)
    return sum(numpy_helper.to_array(i).nbytes for i in m.graph.initializer
               if i.data_type == onnx.TensorProto.FLOAT and int(np.prod(i.dims)) > 1)


def onnxruntime_outputs(data: bytes, inputs: dict) -> dict:
    """The model's outputs from onnxruntime (the independent reference)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, inputs)))


def retrained(data: bytes, seed: int = 1) -> bytes:
    """The same model with every learned float weight (more than one value) changed: a retrained copy."""
    m = onnx.load_from_string(data)
    rng = np.random.default_rng(seed)
    for i, init in enumerate(m.graph.initializer):
        a = numpy_helper.to_array(init)
        if a.dtype == np.float32 and a.size > 1:
            b = a * rng.uniform(0.5, 1.5, a.shape).astype(np.float32) + rng.normal(0, 0.05, a.shape).astype(np.float32)
            if "running_var" in init.name:
                b = np.abs(b) + 0.1
            m.graph.initializer[i].CopyFrom(numpy_helper.from_array(b.astype(np.float32), init.name))
    return m.SerializeToString()


def build(data: bytes, kind: str, device: str = "cpu", flags=(), logger=None) -> bytes:
    logger = logger or trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    assert parser.parse(data), [str(parser.get_error(i)) for i in range(parser.num_errors)]
    config = builder.create_builder_config()
    config.device = device
    config.clear_flag(trt.BuilderFlag.TF32)
    for f in flags:
        config.set_flag(f)
    profile = builder.create_optimization_profile()
    for name, (lo, opt, hi) in SHAPES[kind].items():
        profile.set_shape(name, lo, opt, hi)
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    assert plan is not None
    return bytes(plan)


def feed(kind: str, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    if kind == "resnet":
        return {"x": rng.standard_normal((2, 3, 16, 16)).astype(np.float32)}
    attn = np.ones((2, 8), np.int64)
    if kind in HF_BERT:
        attn[1, 5:] = 0   # padding in the second sequence
    return {"ids": rng.integers(0, 50, (2, 8)).astype(np.int64), "attn": attn}


def run(engine, inputs: dict) -> dict:
    ctx = engine.create_execution_context()
    out = ctx.infer(inputs)
    return {k: np.asarray(v.cpu() if hasattr(v, "cpu") else v) for k, v in out.items()}


def _bits(w) -> tuple:
    """(dtype, shape, bytes) of a constant's values, numpy array or torch tensor."""
    if hasattr(w, "detach"):
        import torch

        t = w.detach().cpu().contiguous()
        return str(t.dtype), tuple(t.shape), t.reshape(-1).view(torch.uint8).numpy().tobytes()
    a = np.ascontiguousarray(w)
    return a.dtype.str, a.shape, a.tobytes()


def engine_differences(engine, other) -> list[str]:
    """What differs between two engines' optimized graphs: the nodes (names, kinds, tactics) and every constant's
    values, bit for bit. Empty when a refitted engine holds exactly what a fresh build of its weights holds."""
    mine, theirs = {n.name: n for n in engine.graph.nodes}, {n.name: n for n in other.graph.nodes}
    diffs = [f"node {k!r} only in one engine" for k in sorted(set(mine) ^ set(theirs))]
    for name in sorted(set(mine) & set(theirs)):
        a, b = mine[name], theirs[name]
        if (a.kind, a.info.tactic) != (b.kind, b.info.tactic):
            diffs.append(f"node {name!r}: {a.kind}/{a.info.tactic} vs {b.kind}/{b.info.tactic}")
        elif a.kind == "constant" and _bits(a.attrs.weights) != _bits(b.attrs.weights):
            diffs.append(f"constant {name!r} holds other values")
    return diffs
