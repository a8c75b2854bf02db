"""Tiny transformers BERT and GPT-2 with PyTorch's SDPA attention (transformers' default), built from configs in
code (random weights, no files), exported to ONNX by both torch exporters; and an ONNX graph holding SDPA's
decomposition alone, with the mask built in-graph (from Range, or TorchScript's Trilu), for the mask forms one at
a time."""
from __future__ import annotations

import functools
import io
import warnings

import numpy as np

VOCAB = 100
HEADS, HIDDEN = 2, 32          # head size 16: scale 1/4, written by the exporters as 1/2 on Q and on K
EXPORT_SEQ = 8


def _module(name):
    import torch
    from transformers import BertConfig, BertModel, GPT2Config, GPT2Model

    torch.manual_seed(0)
    if name == "bert":
        cfg = BertConfig(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=HEADS,
                         intermediate_size=64, max_position_embeddings=64)
        cfg._attn_implementation = "sdpa"
        inner = BertModel(cfg, add_pooling_layer=False).eval()

        class Bert(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = inner

            def forward(self, input_ids, attention_mask):
                return self.inner(input_ids, attention_mask=attention_mask).last_hidden_state

        return Bert().eval(), ["input_ids", "attention_mask"]
    cfg = GPT2Config(vocab_size=VOCAB, n_embd=HIDDEN, n_layer=2, n_head=HEADS, n_positions=64, bos_token_id=0,
                     eos_token_id=0)
    cfg._attn_implementation = "sdpa"
    inner = GPT2Model(cfg).eval()

    class Gpt2(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids):
            return self.inner(input_ids).last_hidden_state

    return Gpt2().eval(), ["input_ids"]


@functools.lru_cache(maxsize=None)
def export(name, exporter) -> bytes:
    """ONNX bytes of the tiny ``name`` ("bert" / "gpt2") exported by ``exporter`` ("torchscript" / "dynamo") from
    inputs of batch 2 and sequence EXPORT_SEQ, with dynamic batch and sequence axes. Cached: the dynamo export
    takes seconds."""
    import torch

    model, names = _module(name)
    ids = torch.randint(0, VOCAB, (2, EXPORT_SEQ))
    args = (ids, torch.ones(2, EXPORT_SEQ, dtype=torch.int64))[:len(names)]
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            batch, length = torch.export.Dim("batch", max=16), torch.export.Dim("seq", min=2, max=32)
            shapes = {n: {0: batch, 1: length} for n in names}
            torch.onnx.export(model, args, f, input_names=names, output_names=["y"], dynamic_shapes=shapes,
                              dynamo=True, verbose=False)
        else:
            axes = {n: {0: "batch", 1: "seq"} for n in names}
            torch.onnx.export(model, args, f, input_names=names, output_names=["y"], dynamic_axes=axes,
                              opset_version=17, dynamo=False)
    return f.getvalue()


def sdpa_graph(compare="LessOrEqual", attended_when_true=True, blocked=float("-inf"), guard=True,
               heads=2, head=8, trilu_k=None) -> bytes:
    """SDPA's decomposition as both exporters write it, on inputs q, k, v of shape (B, heads, T, head) with a
    dynamic B and T: scores = (q·√s) @ (kᵀ·√s) + Where(cond, 0, blocked) (or Where(cond, blocked, 0) when not
    ``attended_when_true``), softmax, the NaN guard Where(IsNaN(p), 0, p) when ``guard``, then @ v. ``cond`` is
    ``compare``(key index, query index), both from one Range(0, T, 1) unsqueezed to (1, T) and (T, 1); with
    ``trilu_k``, cond is instead TorchScript's causal form Trilu(Expand(1, (T, T)), k, upper=0) == 0 (the positions
    masked, so the Where is reversed)."""
    from onnx import TensorProto, helper

    f32 = TensorProto.FLOAT
    root = float(head) ** -0.25
    nodes = [
        helper.make_node("Shape", ["q"], ["qshape"]),
        helper.make_node("Gather", ["qshape", "two"], ["t"], axis=0),
        helper.make_node("Range", ["zero", "t", "one"], ["idx"]),
        helper.make_node("Unsqueeze", ["idx", "ax0"], ["key_idx"]),        # (1, T)
        helper.make_node("Unsqueeze", ["idx", "ax1"], ["query_idx"]),      # (T, 1)
        helper.make_node(compare, ["key_idx", "query_idx"], ["cond"]) if trilu_k is None else
        helper.make_node("Identity", ["masked_by_trilu"], ["cond"]),
        helper.make_node("Where", ["cond", "fzero", "fblocked"] if attended_when_true else
                         ["cond", "fblocked", "fzero"], ["mask"]),
        helper.make_node("Mul", ["q", "root"], ["qs"]),
        helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
        helper.make_node("Mul", ["kt", "root"], ["kts"]),
        helper.make_node("MatMul", ["qs", "kts"], ["scores"]),
        helper.make_node("Add", ["scores", "mask"], ["masked"]),
        helper.make_node("Softmax", ["masked"], ["p"], axis=-1),
    ]
    if trilu_k is not None:
        nodes[5:5] = [helper.make_node("Unsqueeze", ["t", "ax0"], ["t1"]),
                      helper.make_node("Concat", ["t1", "t1"], ["tt"], axis=0),
                      helper.make_node("Expand", ["fone", "tt"], ["ones"]),
                      helper.make_node("Trilu", ["ones", "trilu_k"], ["lower"], upper=0),
                      helper.make_node("Equal", ["lower", "fzero"], ["masked_by_trilu"])]
    if guard:
        nodes += [helper.make_node("IsNaN", ["p"], ["nan"]),
                  helper.make_node("Where", ["nan", "fzero", "p"], ["pg"])]
    nodes.append(helper.make_node("MatMul", ["pg" if guard else "p", "v"], ["y"]))
    inits = [helper.make_tensor("two", TensorProto.INT64, [], [2]),
             helper.make_tensor("zero", TensorProto.INT64, [], [0]),
             helper.make_tensor("one", TensorProto.INT64, [], [1]),
             helper.make_tensor("ax0", TensorProto.INT64, [1], [0]),
             helper.make_tensor("ax1", TensorProto.INT64, [1], [1]),
             helper.make_tensor("fzero", f32, [], [0.0]),
             helper.make_tensor("fone", f32, [1], [1.0]),
             helper.make_tensor("trilu_k", TensorProto.INT64, [], [trilu_k or 0]),
             helper.make_tensor("fblocked", f32, [], [blocked]),
             helper.make_tensor("root", f32, [], [root])]
    io_ = [helper.make_tensor_value_info(n, f32, ["b", heads, "t", head]) for n in ("q", "k", "v")]
    graph = helper.make_graph(nodes, "sdpa", io_, [helper.make_tensor_value_info("y", f32, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()


def sdpa_reference(q, k, v, attended, head=8):
    """float64 softmax(q kᵀ / √head with the positions not ``attended`` (T, T) removed) v, zeros where a row
    attends to nothing."""
    s = np.einsum("bhld,bhsd->bhls", q.astype(np.float64), k.astype(np.float64)) / np.sqrt(head)
    s = np.where(attended, s, -np.inf)
    m = np.max(s, axis=-1, keepdims=True)
    e = np.exp(s - np.where(np.isfinite(m), m, 0))
    tot = e.sum(-1, keepdims=True)
    p = np.divide(e, tot, out=np.zeros_like(e), where=tot > 0)
    return p @ v.astype(np.float64)
