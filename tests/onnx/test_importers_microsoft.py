"""com.microsoft (onnxruntime contrib) operators against onnxruntime's CPU kernels, on models built here with
onnx.helper, over attribute variants; and the ParserErrors for unsupported attribute combinations.

Float ops compare at the float32 tolerance of tests/helpers.py. The quantized ops are in
test_importers_microsoft_quant.py; the shared helpers in microsoft_check.py."""
from __future__ import annotations

import numpy as np
import pytest
from microsoft_check import ATOL, MS, RNG, RTOL, check, model_of, ms, pack_bits, parse_errors, rand
from onnx import TensorProto as TP, helper as oh

import inferrt


# ----------------------------------------------------------------------------------------------- GELU family
def test_gelu_biasgelu_fastgelu_quickgelu():
    x, b = rand(2, 5, 8, scale=2), rand(8)
    nodes = [ms("Gelu", ["x"], ["g"]), ms("BiasGelu", ["x", "b"], ["bg"]), ms("FastGelu", ["x"], ["fg"]),
             ms("FastGelu", ["x", "b"], ["fgb"]), ms("QuickGelu", ["x"], ["qg"]),
             oh.make_node("QuickGelu", ["x"], ["qg2"], domain=MS, alpha=1.2)]
    check(nodes, {"x": x}, ["g", "bg", "fg", "fgb", "qg", "qg2"], inits={"b": b})


def test_bias_add():
    # onnxruntime has BiasAdd on CUDA only: the reference is its definition, X + bias + skip, in float64
    x, s, b = rand(2, 3, 4), rand(2, 3, 4), rand(4)
    model = model_of([ms("BiasAdd", ["x", "b", "s"], ["y"])], {"x": x, "s": s}, ["y"], inits={"b": b})
    got = inferrt.build_engine(model, device="cpu").create_execution_context().infer({"x": x, "s": s})["y"]
    np.testing.assert_allclose(np.asarray(got), x.astype(np.float64) + b + s, rtol=RTOL, atol=ATOL)


# ----------------------------------------------------------------------------------------------- fused
@pytest.mark.parametrize("act,params", [(None, None), ("Relu", None), ("Tanh", None), ("Sigmoid", None),
                                        ("LeakyRelu", [0.2]), ("Clip", [-0.5, 0.7]), ("HardSigmoid", [0.3, 0.4])])
@pytest.mark.parametrize("with_z", [False, True])
def test_fused_conv(act, params, with_z):
    attrs = {"pads": [1, 1, 1, 1], "strides": [1, 1], "group": 2}
    if act:
        attrs["activation"] = act
    if params:
        attrs["activation_params"] = params
    ins = ["x", "w", "b"] + (["z"] if with_z else [])
    feeds = {"x": rand(1, 4, 6, 6)}
    if with_z:
        feeds["z"] = rand(1, 6, 6, 6)
    check([oh.make_node("FusedConv", ins, ["y"], domain=MS, **attrs)], feeds, ["y"],
          inits={"w": rand(6, 2, 3, 3, scale=0.3), "b": rand(6)})


@pytest.mark.parametrize("act,alpha,beta", [("Relu", None, None), ("LeakyRelu", 0.1, None),
                                            ("HardSigmoid", 0.3, 0.6), ("Elu", 0.7, None), ("Tanh", None, None)])
@pytest.mark.parametrize("trans", [(0, 0), (1, 1)])
def test_fused_gemm(act, alpha, beta, trans):
    attrs = {"alpha": 0.7, "beta": 1.3, "transA": trans[0], "transB": trans[1]}
    for k, v in (("activation", act), ("activation_alpha", alpha), ("activation_beta", beta)):
        if v is not None:
            attrs[k] = v
    a = rand(5, 3) if trans[0] else rand(3, 5)
    b = rand(4, 5) if trans[1] else rand(5, 4)
    check([oh.make_node("FusedGemm", ["a", "b", "c"], ["y"], domain=MS, **attrs)], {"a": a}, ["y"],
          inits={"b": b, "c": rand(4)})


@pytest.mark.parametrize("shapes,flags", [
    (((2, 3, 4), (2, 4, 5)), {}),
    (((2, 4, 3), (2, 4, 5)), {"transA": 1}),
    (((2, 3, 4), (2, 5, 4)), {"transB": 1, "alpha": 0.5}),
    (((3, 2, 4), (2, 4, 5)), {"transBatchA": 1}),
    (((2, 3, 4), (4, 2, 5)), {"transBatchB": 1}),
    (((4, 2, 3), (5, 2, 4)), {"transBatchA": 1, "transBatchB": 1, "transA": 1, "transB": 1, "alpha": 2.0}),
    (((3, 4), (2, 4, 5)), {}),
])
def test_fused_matmul(shapes, flags):
    check([oh.make_node("FusedMatMul", ["a", "b"], ["y"], domain=MS, **flags)], {"a": rand(*shapes[0])}, ["y"],
          inits={"b": rand(*shapes[1])})


def test_fused_activation_that_is_not_supported_is_named():
    node = oh.make_node("FusedGemm", ["a", "b"], ["y"], domain=MS, name="fg", activation="Softplus")
    msg = parse_errors([node], {"a": rand(3, 5)}, ["y"], inits={"b": rand(5, 4)})
    assert "'fg'" in msg and "activation='Softplus'" in msg


# ----------------------------------------------------------------------------------------------- skip + norm
@pytest.mark.parametrize("op", ["SkipLayerNormalization", "SkipSimplifiedLayerNormalization"])
@pytest.mark.parametrize("with_beta,with_bias,skip_2d,with_sum", [(False, False, False, False),
                                                                  (True, True, False, True),
                                                                  (True, False, True, True)])
def test_skip_layer_norm(op, with_beta, with_bias, skip_2d, with_sum):
    h = 16
    simplified = op.startswith("SkipSimplified")
    ins = ["x", "skip", "gamma"]
    inits = {"gamma": rand(h)}
    if not simplified:
        ins.append("beta" if with_beta else "")
        if with_beta:
            inits["beta"] = rand(h)
    if with_bias:
        ins.append("bias")
        inits["bias"] = rand(h)
    outs = ["y", "" if simplified else "mean", "inv", "sum"] if with_sum else ["y"]
    feeds = {"x": rand(2, 5, h), "skip": rand(5, h) if skip_2d else rand(2, 5, h)}
    check([ms(op, ins, outs, epsilon=1e-5)], feeds, [o for o in outs if o], inits=inits)


def test_skip_simplified_layer_norm_mean_output_is_refused():
    node = ms("SkipSimplifiedLayerNormalization", ["x", "s", "g"], ["y", "mean"])
    msg = parse_errors([node], {"x": rand(1, 2, 4), "s": rand(1, 2, 4)}, ["y", "mean"], inits={"g": rand(4)})
    assert "skipsimplifiedlayernormalization_y" in msg and "mean" in msg


@pytest.mark.parametrize("segments,mask,pos_ids", [(False, False, False), (True, True, False), (True, False, True)])
def test_embed_layer_norm(segments, mask, pos_ids):
    b, s, h, vocab = 2, 6, 8, 20
    ids = RNG.integers(0, vocab, (b, s)).astype(np.int32)
    feeds = {"ids": ids}
    inits = {"word": rand(vocab, h), "pos": rand(16, h), "gamma": rand(h), "beta": rand(h)}
    ins = ["ids", "seg" if segments else "", "word", "pos", "segemb" if segments else "", "gamma", "beta",
           "mask" if mask else "", "pos_ids" if pos_ids else ""]
    if segments:
        feeds["seg"] = RNG.integers(0, 2, (b, s)).astype(np.int32)
        inits["segemb"] = rand(2, h)
    if mask:
        m = np.ones((b, s), np.int32)
        m[1, 4:] = 0
        feeds["mask"] = m
    if pos_ids:
        feeds["pos_ids"] = RNG.integers(0, 16, (b, s)).astype(np.int32)
    while ins and not ins[-1]:
        ins.pop()
    check([ms("EmbedLayerNormalization", ins, ["y", "mask_index", "emb_sum"], epsilon=1e-5)], feeds,
          ["y", "mask_index", "emb_sum"], inits=inits, out_types={"mask_index": TP.INT32})


# ----------------------------------------------------------------------------------------------- rotary
def _rope_cache(max_pos, half, base=10000.0):
    inv = 1.0 / base ** (np.arange(half) / half)
    ang = np.arange(max_pos)[:, None] * inv[None, :]
    return np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)


@pytest.mark.parametrize("layout", ["bsd", "bnsh"])
@pytest.mark.parametrize("interleaved", [0, 1])
@pytest.mark.parametrize("rot_dim", [0, 4])
@pytest.mark.parametrize("offset_positions", [False, True])
def test_rotary_embedding(layout, interleaved, rot_dim, offset_positions):
    b, n, s, head = 2, 3, 5, 8
    x = rand(b, s, n * head) if layout == "bsd" else rand(b, n, s, head)
    half = (rot_dim or head) // 2
    cos, sin = _rope_cache(32, half)
    pos = np.array([3], np.int64) if offset_positions else RNG.integers(0, 32, (b, s)).astype(np.int64)
    attrs = {"interleaved": interleaved}
    if layout == "bsd" or rot_dim:  # onnxruntime wants num_heads with rotary_embedding_dim
        attrs["num_heads"] = n
    if rot_dim:
        attrs["rotary_embedding_dim"] = rot_dim
    check([ms("RotaryEmbedding", ["x", "pos", "cos", "sin"], ["y"], **attrs)], {"x": x, "pos": pos}, ["y"],
          inits={"cos": cos, "sin": sin})


def test_rotary_packed_batching_is_refused():
    cos, sin = _rope_cache(16, 4)
    node = oh.make_node("RotaryEmbedding", ["x", "pos", "cos", "sin"], ["y"], domain=MS, name="rope",
                        is_packed_batching=1)
    msg = parse_errors([node], {"x": rand(1, 4, 8), "pos": np.zeros((1, 4), np.int64)}, ["y"],
                       inits={"cos": cos, "sin": sin})
    assert "'rope'" in msg and "is_packed_batching" in msg


# ----------------------------------------------------------------------------------------------- attention
def _lengths_mask(b, t, lengths):
    m = np.zeros((b, t), np.int32)
    for i, n in enumerate(lengths):
        m[i, :n] = 1
    return m


@pytest.mark.parametrize("mask", [None, "1d", "2d", "3d"])
@pytest.mark.parametrize("unidirectional,past", [(0, False), (1, False), (1, True), (0, True)])
def test_attention(mask, unidirectional, past):
    b, s, p, n, h, hidden = 2, 4, 3, 2, 4, 6
    t = s + p if past else s
    feeds = {"x": rand(b, s, hidden)}
    ins = ["x", "w", "bias", "", ""]
    if mask == "1d":
        feeds["mask"] = np.array([t, t - 2], np.int32)
    elif mask == "2d":
        feeds["mask"] = _lengths_mask(b, t, [t, t - 1])
    elif mask == "3d":
        feeds["mask"] = (RNG.random((b, s, t)) > 0.3).astype(np.int32)
        feeds["mask"][:, :, 0] = 1
    if mask:
        ins[3] = "mask"
    if past:
        feeds["past"] = rand(2, b, n, p, h)
        ins[4] = "past"
    while not ins[-1]:
        ins.pop()
    outs = ["y", "present"] if past else ["y"]
    check([ms("Attention", ins, outs, num_heads=n, unidirectional=unidirectional)], feeds, outs,
          inits={"w": rand(hidden, 3 * n * h, scale=0.5), "bias": rand(3 * n * h)})


def test_attention_qkv_sizes_bias_scale_and_filter_value():
    b, s, n, hidden = 2, 5, 2, 6
    sizes = [8, 8, 12]
    feeds = {"x": rand(b, s, hidden), "mask": _lengths_mask(b, s, [5, 2]), "ab": rand(b, n, s, s)}
    node = ms("Attention", ["x", "w", "bias", "mask", "", "ab"], ["y"], num_heads=n, qkv_hidden_sizes=sizes,
              scale=0.3, mask_filter_value=-50.0)
    check([node], feeds, ["y"], inits={"w": rand(hidden, sum(sizes), scale=0.5), "bias": rand(sum(sizes))})


def test_attention_megatron_mask_is_refused():
    node = ms("Attention", ["x", "w", "", "mask"], ["y"], num_heads=2)
    msg = parse_errors([node], {"x": rand(1, 4, 6), "mask": np.ones((1, 1, 4, 4), np.int32)}, ["y"],
                       inits={"w": rand(6, 12)})
    assert "attention_y" in msg and "4-D mask_index" in msg


# onnxruntime takes past and bias only with 3-D key/value
_MHA_CASES = [("bsd", False, False, 0), ("bsd", True, False, 1), ("bsd", False, True, 1), ("bsd", True, True, 0),
              ("bnsh", False, False, 0), ("bnsh", False, False, 1)]


@pytest.mark.parametrize("kv_layout,past,bias,unidirectional", _MHA_CASES)
@pytest.mark.parametrize("mask", [None, "1d", "2d"])
def test_multi_head_attention(kv_layout, mask, past, bias, unidirectional):
    b, s, p, n, h = 2, 3, 2, 2, 4
    l = s if unidirectional else 5  # causal masks are for self-attention (see the refusal test below)
    d = n * h
    feeds = {"q": rand(b, s, d)}
    if kv_layout == "bsd":
        feeds["k"], feeds["v"] = rand(b, l, d), rand(b, l, d)
    else:
        feeds["k"], feeds["v"] = rand(b, n, l, h), rand(b, n, l, h)
    t = l + p if past else l
    ins = ["q", "k", "v", "bias" if bias else "", "", "", "", ""]
    inits = {"bias": rand(3 * d)} if bias else {}
    if mask == "1d":
        feeds["mask"] = np.array([t, t - 2], np.int32)
    elif mask == "2d":
        feeds["mask"] = _lengths_mask(b, t, [t - 1, t])
    if mask:
        ins[4] = "mask"
    if past:
        feeds["pk"], feeds["pv"] = rand(b, n, p, h), rand(b, n, p, h)
        ins[6], ins[7] = "pk", "pv"
    while not ins[-1]:
        ins.pop()
    outs = ["y", "present_k", "present_v"] if past else ["y"]
    check([ms("MultiHeadAttention", ins, outs, num_heads=n, unidirectional=unidirectional)], feeds, outs,
          inits=inits)


def test_multi_head_attention_attention_bias_and_scale():
    b, s, n, h = 1, 4, 2, 3
    feeds = {"q": rand(b, s, n * h), "k": rand(b, s, n * h), "v": rand(b, s, n * h), "ab": rand(1, n, s, s)}
    check([ms("MultiHeadAttention", ["q", "k", "v", "", "", "ab"], ["y"], num_heads=n, scale=0.7)], feeds, ["y"])


def test_multi_head_attention_causal_cross_attention_is_refused():
    node = ms("MultiHeadAttention", ["q", "k", "v"], ["y"], num_heads=1, unidirectional=1)
    msg = parse_errors([node], {"q": rand(1, 3, 4), "k": rand(1, 5, 4), "v": rand(1, 5, 4)}, ["y"])
    assert "multiheadattention_y" in msg and "unidirectional=1" in msg


# onnxruntime's CPU kernel wants head sizes that are multiples of 16 (rotary) or 8, and batch 1 when several new
# tokens follow a past; the decode step (one new token) runs at batch 2
@pytest.mark.parametrize("kvn", [1, 2, 4])
@pytest.mark.parametrize("b,s,past_len", [(2, 4, 0), (1, 4, 3), (2, 1, 5)])
@pytest.mark.parametrize("rotary,interleaved", [(0, 0), (1, 0), (1, 1)])
def test_group_query_attention(kvn, b, s, past_len, rotary, interleaved):
    n, h = 4, 16
    total = past_len + s
    feeds = {"q": rand(b, s, n * h), "k": rand(b, s, kvn * h), "v": rand(b, s, kvn * h),
             "seqlens": np.full(b, total - 1, np.int32), "total": np.array(total, np.int32)}
    ins = ["q", "k", "v", "", "", "seqlens", "total"]
    outs = ["y", "present_k", "present_v"]
    if past_len:
        feeds["pk"], feeds["pv"] = rand(b, kvn, past_len, h), rand(b, kvn, past_len, h)
        ins[3], ins[4] = "pk", "pv"
    inits = {}
    if rotary:
        inits["cos"], inits["sin"] = _rope_cache(32, h // 2)
        ins += ["cos", "sin"]
    node = ms("GroupQueryAttention", ins, outs, num_heads=n, kv_num_heads=kvn, do_rotary=rotary,
              rotary_interleaved=interleaved)
    check([node], feeds, outs, inits=inits)


@pytest.mark.parametrize("window,softcap,packed", [(2, 0.0, False), (-1, 5.0, False), (-1, 0.0, True)])
def test_group_query_attention_window_softcap_packed(window, softcap, packed):
    b, s, n, kvn, h = 1, 6, 4, 2, 8
    q = rand(b, s, n * h, scale=2)
    k, v = rand(b, s, kvn * h, scale=2), rand(b, s, kvn * h)
    feeds = {"seqlens": np.full(b, s - 1, np.int32), "total": np.array(s, np.int32)}
    if packed:
        feeds["qkv"] = np.concatenate([q, k, v], axis=-1)
        ins = ["qkv", "", "", "", "", "seqlens", "total"]
    else:
        feeds.update(q=q, k=k, v=v)
        ins = ["q", "k", "v", "", "", "seqlens", "total"]
    node = ms("GroupQueryAttention", ins, ["y", "pk", "pv"], num_heads=n, kv_num_heads=kvn, local_window_size=window,
              softcap=softcap)
    check([node], feeds, ["y", "pk", "pv"])


def test_group_query_attention_smooth_softmax_is_refused():
    node = ms("GroupQueryAttention", ["q", "k", "v", "", "", "sl", "tot"], ["y", "pk", "pv"], num_heads=2,
              kv_num_heads=1, smooth_softmax=1)
    msg = parse_errors([node], {"q": rand(1, 2, 8), "k": rand(1, 2, 4), "v": rand(1, 2, 4),
                                "sl": np.array([1], np.int32), "tot": np.array(2, np.int32)}, ["y"])
    assert "groupqueryattention_y" in msg and "smooth_softmax" in msg


# ----------------------------------------------------------------------------------------------- dynamic shapes
def _dynamic_model(nodes, feeds, dyn, outputs, inits, out_types=None):
    """``dyn``: {input: [axes that get symbolic dims]}."""
    model = model_of(nodes, feeds, outputs, inits, out_types)
    for vi in model.graph.input:
        for ax in dyn.get(vi.name, ()):
            vi.type.tensor_type.shape.dim[ax].dim_param = f"{vi.name}_{ax}"
    return model


@pytest.mark.parametrize("batch,seq", [(1, 3), (3, 7)])
def test_transformer_block_with_dynamic_batch_and_sequence(batch, seq):
    # EmbedLayerNormalization -> Attention (mask, causal) -> SkipLayerNormalization -> FastGelu, built once for a
    # profile of batch 1..4 and sequence 1..8 and run at two shapes
    import onnxruntime as ort

    h, n, vocab = 8, 2, 30
    inits = {"word": rand(vocab, h), "pos": rand(16, h), "g": rand(h), "be": rand(h), "w": rand(h, 3 * h, scale=0.5),
             "wb": rand(3 * h), "g2": rand(h), "b2": rand(h)}
    nodes = [ms("EmbedLayerNormalization", ["ids", "", "word", "pos", "", "g", "be", "mask"], ["e", "mi"]),
             ms("Attention", ["e", "w", "wb", "mi"], ["a"], num_heads=n, unidirectional=1),
             ms("SkipLayerNormalization", ["a", "e", "g2", "b2"], ["s"]), ms("FastGelu", ["s"], ["y"])]
    mask = np.ones((batch, seq), np.int32)
    mask[-1, seq - 1:] = 0
    feeds = {"ids": RNG.integers(0, vocab, (batch, seq)).astype(np.int32), "mask": mask}
    model = _dynamic_model(nodes, feeds, {"ids": [0, 1], "mask": [0, 1]}, ["y"], inits)
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(["y"], feeds)[0]
    profiles = {k: ((1, 1), (2, 4), (4, 8)) for k in ("ids", "mask")}
    engine = inferrt.build_engine(model, device="cpu", profiles=profiles)
    got = np.asarray(engine.create_execution_context().infer(feeds)["y"])
    np.testing.assert_allclose(got, ref, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("seq", [1, 5])
def test_group_query_attention_with_dynamic_sequence_and_rotary(seq):
    import onnxruntime as ort

    b, n, kvn, h, past = 1, 4, 2, 16, 3
    cos, sin = _rope_cache(32, h // 2)
    node = ms("GroupQueryAttention", ["q", "k", "v", "pk", "pv", "sl", "tot", "cos", "sin"], ["y", "ok", "ov"],
              num_heads=n, kv_num_heads=kvn, do_rotary=1)
    feeds = {"q": rand(b, seq, n * h), "k": rand(b, seq, kvn * h), "v": rand(b, seq, kvn * h),
             "pk": rand(b, kvn, past, h), "pv": rand(b, kvn, past, h), "sl": np.array([past + seq - 1], np.int32),
             "tot": np.array(past + seq, np.int32)}
    model = _dynamic_model([node], feeds, {"q": [1], "k": [1], "v": [1]}, ["y", "ok", "ov"],
                           {"cos": cos, "sin": sin})
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    profiles = {k: ((b, 1, feeds[k].shape[2]), (b, 4, feeds[k].shape[2]), (b, 8, feeds[k].shape[2]))
                for k in ("q", "k", "v")}
    got = inferrt.build_engine(model, device="cpu", profiles=profiles).create_execution_context().infer(feeds)
    for name, r in zip(["y", "ok", "ov"], ref):
        np.testing.assert_allclose(np.asarray(got[name]), r, rtol=RTOL, atol=ATOL, err_msg=name)


@pytest.mark.gpu
def test_contrib_ops_on_the_gpu():
    # the same decompositions built for CUDA with the default config (TF32 matrix products): the tf32 row
    import onnxruntime as ort

    b, s, n, kvn, h = 2, 4, 4, 2, 16
    q4 = RNG.integers(0, 16, (6, 2, 16))
    inits = {"w4": pack_bits(q4, 4), "sc": (RNG.random(12) * 0.1).astype(np.float32)}
    nodes = [ms("GroupQueryAttention", ["q", "k", "v", "", "", "sl", "tot"], ["y", "pk", "pv"], num_heads=n,
                kv_num_heads=kvn),
             ms("MatMulNBits", ["a", "w4", "sc"], ["z"], K=32, N=6, bits=4, block_size=16),
             ms("SkipLayerNormalization", ["q", "q2", "g"], ["ln"])]
    inits["g"] = rand(n * h)
    feeds = {"q": rand(b, s, n * h), "k": rand(b, s, kvn * h), "v": rand(b, s, kvn * h),
             "sl": np.full(b, s - 1, np.int32), "tot": np.array(s, np.int32), "a": rand(3, 32),
             "q2": rand(b, s, n * h)}
    model = model_of(nodes, feeds, ["y", "z", "ln"], inits)
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    got = inferrt.build_engine(model, device="cuda").create_execution_context().infer(feeds)
    rtol, atol = tolerance("tf32")
    for name, r in zip(["y", "z", "ln"], ref):
        np.testing.assert_allclose(np.asarray(got[name]), r, rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("op", ["Attention", "MultiHeadAttention", "GroupQueryAttention"])
def test_attention_decompositions_fuse_into_one_attention_layer(op):
    # masks (padding + causal) are summed before the one add that fuse_attention recognizes
    b, s, n, h = 2, 4, 2, 16
    if op == "Attention":
        feeds = {"x": rand(b, s, 8), "mask": _lengths_mask(b, s, [4, 3])}
        node, inits = ms(op, ["x", "w", "", "mask"], ["y"], num_heads=n, unidirectional=1), {"w": rand(8, 3 * n * h)}
    elif op == "MultiHeadAttention":
        feeds = {k: rand(b, s, n * h) for k in "qkv"}
        feeds["mask"] = _lengths_mask(b, s, [4, 2])
        node, inits = ms(op, ["q", "k", "v", "", "mask"], ["y"], num_heads=n, unidirectional=1), {}
    else:
        feeds = {"q": rand(b, s, n * h), "k": rand(b, s, h), "v": rand(b, s, h)}
        feeds.update(sl=np.full(b, s - 1, np.int32), tot=np.array(s, np.int32))
        node, inits = ms(op, ["q", "k", "v", "", "", "sl", "tot"], ["y"], num_heads=n, kv_num_heads=1), {}
    check([node], feeds, ["y"], inits=inits)
    engine = inferrt.build_engine(model_of([node], feeds, ["y"], inits), device="cpu")
    info = engine.create_engine_inspector().get_engine_information(inferrt.LayerInformationFormat.ONELINE)
    assert ": attention (" in info, info
