"""Structure of ResNet-style and BERT-style models exported from torch after the full pipeline, and their outputs
against the unoptimized build and onnxruntime (dynamic batch / sequence)."""
import warnings

import numpy as np
import pytest

import inferrt as trt
from tests.passes.nets import check_onnx_numerics, count, optimize, parse_onnx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")




@pytest.fixture(scope="module")
def resnet():
    from tests.passes.onnx_models import resnet_onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return resnet_onnx()


@pytest.fixture(scope="module")
def bert():
    from tests.passes.onnx_models import bert_onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bert_onnx()


def test_resnet_one_layer_per_convolution(resnet):
    model = onnx.load_from_string(resnet)
    convs = [n.name for n in model.graph.node if n.op_type == "Conv"]
    absorbed = [n.name for n in model.graph.node if n.op_type in ("Relu", "Add", "BatchNormalization")]
    builder, net = parse_onnx(resnet)
    g = optimize(net)
    assert count(g, "fused_conv") + count(g, "convolution") == len(convs) == 6
    assert count(g, "activation") == 0 and count(g, "elementwise") == 0 and count(g, "pointwise") == 0
    origin = {o for n in g.nodes for o in n.origin}
    assert all(any(a in o for o in origin) for a in absorbed), absorbed
    residual = [n for n in g.nodes if n.kind == "fused_conv" and ["add", 3] in n.attrs.epilogue]
    assert len(residual) == 2
    assert count(g, "fused_matmul") == 1   # the classifier (Gemm + bias)


def test_resnet_numerics_dynamic_batch(resnet):
    builder, net = parse_onnx(resnet)
    rng = np.random.default_rng(1)
    feeds = [{"x": rng.standard_normal((b, 3, 16, 16)).astype(np.float32)} for b in (2, 3)]
    check_onnx_numerics(resnet, builder, net, {"x": ((1, 3, 16, 16), (2, 3, 16, 16), (4, 3, 16, 16))}, feeds)


def test_bert_one_attention_per_block_and_one_layer_per_layernorm(bert):
    builder, net = parse_onnx(bert)
    g = optimize(net)
    assert count(g, "attention") == 2
    assert count(g, "layer_norm") == 4            # 2 per block
    assert count(g, "add_layer_norm") == 1        # the embeddings' LayerNorm, with the token + position add
    assert count(g, "softmax") == 0 and count(g, "reduce") == 0 and count(g, "unary") == 0
    assert count(g, "activation") == 0            # GELU went into the FFN matmul epilogue
    ffn = [n for n in g.nodes if n.kind == "fused_matmul" and ["act", "GELU_ERF", 0.0, 0.0] in n.attrs.epilogue]
    assert len(ffn) == 2
    merged = [n for n in g.nodes if n.kind == "fused_matmul" and "merged" in n.name]
    assert len(merged) == 2                       # Q, K, V projections, once per block
    floats = [n for n in g.nodes if n.kind == "elementwise" and g.specs[n.outputs[0]].dtype == trt.float32]
    # the token + position embedding add (gather + slice) went into the embeddings' LayerNorm
    assert floats == [], [n.name for n in floats]
    for ln in (n for n in g.nodes if n.kind in ("layer_norm", "add_layer_norm")):
        assert sum("ReduceMean" in o for o in ln.origin) == 2 and any("Sqrt" in o for o in ln.origin)


def test_bert_numerics_dynamic_batch_and_sequence(bert):
    builder, net = parse_onnx(bert)
    rng = np.random.default_rng(2)
    feeds = []
    for b, t in ((2, 8), (3, 5)):
        attn = np.ones((b, t), np.int64)
        attn[0, t - 2:] = 0
        feeds.append({"ids": rng.integers(0, 50, (b, t)).astype(np.int64), "attn": attn})
    profile = {"ids": ((1, 1), (2, 8), (4, 16)), "attn": ((1, 1), (2, 8), (4, 16))}
    check_onnx_numerics(bert, builder, net, profile, feeds)
