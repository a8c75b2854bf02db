"""fuse_attention on PyTorch's SDPA decomposition as the ONNX exporters write it (√scale on Q and K, the mask as
Where(condition, 0, -inf | finfo.min), the NaN guard after the softmax): tiny transformers BERT (padding mask)
and GPT-2 (causal mask) from both exporters, and the mask forms one at a time, against onnxruntime and the
unoptimized build."""
import numpy as np
import pytest

import inferrt as trt
from tests.helpers import assert_close
from tests.passes.nets import build_engine, check_onnx_numerics, count, optimize, parse_onnx
from tests.passes.sdpa_models import EXPORT_SEQ, VOCAB, export, sdpa_graph, sdpa_reference

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("transformers")

FINFO_MIN = float(np.finfo(np.float32).min)
CASES = [("bert", "torchscript"), ("bert", "dynamo"), ("gpt2", "torchscript"), ("gpt2", "dynamo")]




def _attention(g):
    return [n for n in g.nodes if n.kind == "attention"]


@pytest.mark.parametrize("name,exporter", CASES, ids=lambda v: v)
def test_exported_sdpa_one_attention_per_layer(name, exporter):
    builder, net = parse_onnx(export(name, exporter))
    g = optimize(net)
    att = _attention(g)
    assert len(att) == 2, [n.kind for n in g.nodes]
    assert count(g, "softmax") == 0 and count(g, "matrix_multiply") + count(g, "fused_matmul") == 2 * 4
    assert not [n for n in g.nodes if n.kind == "unary" and n.attrs.op == trt.UnaryOperation.ISNAN]
    for a in att:
        assert a.attrs.scale == pytest.approx(0.25, abs=1e-7)     # √(1/4) on Q and on K
        assert a.attrs.key_transposed is False                    # K handed over as (B, H, S, D)
        assert any("Softmax" in o for o in a.origin)
        if name == "gpt2":
            assert a.attrs.causal and len(a.inputs) == 3
        else:
            assert not a.attrs.causal and len(a.inputs) == 4
            mask = g.specs[a.inputs[3]].dtype
            # -inf from TorchScript: the BOOL condition itself; finfo.min from dynamo: the additive mask stays
            assert mask == (trt.bool if exporter == "torchscript" else trt.float32), mask
    guarded = exporter == "dynamo" or name == "bert"            # TorchScript's is_causal path has no NaN guard
    assert guarded == any("IsNaN" in o for o in att[0].origin)


def _feeds(name, rng, b, t):
    f = {"input_ids": rng.integers(0, VOCAB, (b, t)).astype(np.int64)}
    if name == "bert":
        attn = np.ones((b, t), np.int64)
        attn[0, t - 3:] = 0              # padded keys
        attn[1, t - 1:] = 0
        if b == 3:
            attn[2] = 0                  # every key padded: the rows the NaN guard (or finfo.min) decides
        f["attention_mask"] = attn
    return f


@pytest.mark.parametrize("name,exporter", CASES, ids=lambda v: v)
def test_exported_sdpa_numerics_two_sequence_lengths(name, exporter):
    rng = np.random.default_rng(3)
    model = export(name, exporter)
    builder, net = parse_onnx(model)
    feeds = [_feeds(name, rng, b, t) for b, t in ((2, EXPORT_SEQ), (3, 5))]
    profile = {n: ((1, 2), (2, EXPORT_SEQ), (4, 16)) for n in feeds[0]}
    check_onnx_numerics(model, builder, net, profile, feeds)


# mask built in-graph: (comparison of key index with query index, whether the condition marks the attended
# positions, blocked value, Trilu's k when the mask is TorchScript's Trilu form instead) -> is it causal
FORMS = [
    ("LessOrEqual", True, float("-inf"), None, True),      # key <= query: causal
    ("Greater", False, float("-inf"), None, True),         # Where(key > query, -inf, 0): causal
    ("LessOrEqual", True, FINFO_MIN, None, True),          # dynamo's blocked value: causal all the same
    ("Less", True, float("-inf"), None, False),            # strict: row 0 attends to nothing (zeros)
    ("Less", True, FINFO_MIN, None, False),                # strict with finfo.min: row 0 averages V
    ("GreaterOrEqual", True, float("-inf"), None, False),  # key >= query: the other triangle
    (None, False, float("-inf"), 0, True),                 # Where(Trilu(ones, 0) == 0, -inf, 0): causal
    (None, False, float("-inf"), 1, False),                # Trilu k = 1: one key past the diagonal
]


def _attended(compare, attended_when_true, trilu_k, t):
    key, query = np.arange(t)[None, :], np.arange(t)[:, None]
    if trilu_k is not None:
        return key - query <= trilu_k
    cond = {"LessOrEqual": key <= query, "Greater": key > query, "Less": key < query,
            "GreaterOrEqual": key >= query}[compare]
    return cond if attended_when_true else ~cond


def _form_id(v):
    if isinstance(v, float):
        return "-inf" if v < FINFO_MIN else "finfo"
    return f"trilu{v}" if isinstance(v, int) and not isinstance(v, bool) else str(v)


@pytest.mark.parametrize("compare,attended_when_true,blocked,trilu_k,causal", FORMS, ids=_form_id)
def test_mask_forms(compare, attended_when_true, blocked, trilu_k, causal):
    model = sdpa_graph(compare, attended_when_true, blocked, trilu_k=trilu_k)
    builder, net = parse_onnx(model)
    g = optimize(net)
    att = _attention(g)
    assert len(att) == 1, [n.kind for n in g.nodes]
    if causal:   # the mask's builders (Range or Trilu, comparisons, Where) are gone
        assert [n.kind for n in g.nodes if n.kind != "constant"] == ["attention"]
    a = att[0]
    assert a.attrs.causal is causal and a.attrs.key_transposed is False
    assert a.attrs.scale == pytest.approx(8 ** -0.5, rel=1e-6)
    if causal:
        assert len(a.inputs) == 3
        assert any(("Trilu" if trilu_k is not None else "Range") in o for o in a.origin)
        assert any("Where" in o for o in a.origin)
    else:
        mask = g.specs[a.inputs[3]].dtype
        assert mask == (trt.bool if blocked == float("-inf") and attended_when_true else trt.float32)
    rng = np.random.default_rng(4)
    feeds = [{n: rng.standard_normal((b, 2, t, 8)).astype(np.float32) for n in ("q", "k", "v")}
             for b, t in ((2, 5), (3, 9))]
    profile = {n: ((1, 2, 1, 8), (2, 2, 5, 8), (4, 2, 12, 8)) for n in ("q", "k", "v")}
    check_onnx_numerics(model, builder, net, profile, feeds)
    if blocked == float("-inf"):
        engine = build_engine(builder, net, "cpu", profile)
        for f in feeds:
            attended = _attended(compare, attended_when_true, trilu_k, f["q"].shape[2])
            want = sdpa_reference(f["q"], f["k"], f["v"], attended)
            assert_close(engine.create_execution_context().infer(f)["y"], want, what="vs float64")


def test_unguarded_causal_mask_fuses():
    model = sdpa_graph(guard=False)
    builder, net = parse_onnx(model)
    g = optimize(net)
    assert [n.kind for n in g.nodes if n.kind != "constant"] == ["attention"]
    assert g.nodes[-1].attrs.causal


def test_window_mask_is_not_causal():
    """key <= query AND key > query - 2 (a sliding window) compares an offset index: the mask stays an input."""
    from onnx import helper

    model = onnx.load_from_string(sdpa_graph())
    g = model.graph
    cond = next(n for n in g.node if n.op_type == "LessOrEqual")
    i = list(g.node).index(cond)
    g.node.insert(i + 1, helper.make_node("Sub", ["query_idx", "two"], ["lo"]))
    g.node.insert(i + 2, helper.make_node("Greater", ["key_idx", "lo"], ["inside"]))
    g.node.insert(i + 3, helper.make_node("And", ["cond", "inside"], ["window"]))
    where = next(n for n in g.node if n.op_type == "Where" and n.input[0] == "cond")
    where.input[0] = "window"
    data = model.SerializeToString()
    builder, net = parse_onnx(data)
    a = _attention(optimize(net))
    assert len(a) == 1 and not a[0].attrs.causal and len(a[0].inputs) == 4
    rng = np.random.default_rng(5)
    feeds = [{n: rng.standard_normal((2, 2, t, 8)).astype(np.float32) for n in ("q", "k", "v")} for t in (4, 7)]
    check_onnx_numerics(data, builder, net, {n: ((1, 2, 1, 8), (2, 2, 4, 8), (2, 2, 8, 8)) for n in ("q", "k", "v")}, feeds)


def test_causal_mask_that_broadcasts_the_batch_stays_a_mask():
    """A causal mask expanded to batch 2 over queries of batch 1 makes the output batch 2: dropping it for the
    causal flag would change the output's shape, so it stays an input."""
    from onnx import TensorProto, helper

    model = onnx.load_from_string(sdpa_graph())
    g = model.graph
    for x in g.input:
        x.type.tensor_type.shape.dim[0].dim_value = 1
    g.initializer.extend([helper.make_tensor("batch2", TensorProto.INT64, [2], [2, 1])])
    where = next(i for i, n in enumerate(g.node) if n.op_type == "Where")
    g.node.insert(where, helper.make_node("Unsqueeze", ["t", "ax0"], ["t1"]))
    g.node.insert(where + 1, helper.make_node("Concat", ["batch2", "t1", "t1"], ["mshape"], axis=0))
    g.node.insert(where + 2, helper.make_node("Expand", ["cond", "mshape"], ["cond4"]))   # as dynamo's GPT-2 mask
    g.node[where + 3].input[0] = "cond4"
    data = model.SerializeToString()
    builder, net = parse_onnx(data)
    a = _attention(optimize(net))
    assert len(a) == 1 and not a[0].attrs.causal and len(a[0].inputs) == 4
    rng = np.random.default_rng(6)
    feeds = [{n: rng.standard_normal((1, 2, t, 8)).astype(np.float32) for n in ("q", "k", "v")} for t in (4, 7)]
    check_onnx_numerics(data, builder, net, {n: ((1, 2, 1, 8), (1, 2, 4, 8), (1, 2, 8, 8)) for n in ("q", "k", "v")},
                    feeds)
