import numpy as np
import pytest

import inferrt as trt
from tests.helpers import new_network
from tests.passes.nets import compare_optimized, count, dyn_profile, optimize, rand, transformer_network

ONLY = {"fuse_softmax", "fuse_attention", "eliminate_dead_layers"}


def _feeds(mask, batches=(2, 3)):
    out = []
    for b in batches:
        f = {"x": rand(b, 8, 32)}
        if mask == "padding":
            m = np.zeros((b, 1, 1, 8), np.float32)
            m[..., 5 + b % 2:] = -1e9
            f["mask"] = m
        out.append(f)
    return out


def _prof(mask):
    p = dyn_profile("x", (1, 8, 32))
    if mask == "padding":
        p.update(dyn_profile("mask", (1, 1, 1, 8)))
    return [p]


VARIANTS = [
    dict(),                                               # MHA, K through TRANSPOSE
    dict(key_layout="shuffle", mask="causal"),            # Kᵀ from a transpose layer, constant causal mask
    dict(mask="padding", primitive_softmax=True),         # padding mask input, softmax from primitives
    dict(kv_heads=2),                                     # GQA: K/V broadcast over the group axis
    dict(kv_heads=1, mask="causal"),                      # MQA
]


def test_structure_one_attention_layer():
    for kw in VARIANTS:
        g = optimize(transformer_network(**kw)[1], only=ONLY)
        att = [n for n in g.nodes if n.kind == "attention"]
        assert len(att) == 1, kw
        a = att[0]
        assert count(g, "softmax") == 0 and count(g, "matrix_multiply") == 6, kw   # q, k, v, out, ffn1, ffn2
        assert {"scores", "scale", "context"} <= set(a.origin), a.origin
        assert abs(a.attrs.scale - 1 / np.sqrt(8)) < 1e-7
        assert a.attrs.causal == (kw.get("mask") == "causal")
        assert len(a.inputs) == (4 if kw.get("mask") == "padding" else 3)
        if kw.get("key_layout") == "shuffle":
            # K arrived as (B, H, D, S) from a reshape + transpose layer, which stays and now writes (B, H, S, D)
            # (SDPA's fused kernels need K's last axis contiguous)
            assert a.attrs.key_transposed is False and "k_heads_t" not in a.origin
            kt = [n for n in g.nodes if n.name == "k_heads_t"]
            assert len(kt) == 1 and kt[0].outputs[0] == a.inputs[1] and kt[0].attrs.second_transpose == (0, 2, 1, 3)
        if kw.get("mask") == "causal":
            assert "mask_add" in a.origin


@pytest.mark.parametrize("kw", VARIANTS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()) or "mha")
def test_numerics_against_unfused_dynamic_batch(kw):
    builder, net = transformer_network(**kw)
    m = kw.get("mask", "none")
    compare_optimized(builder, net, _feeds(m), profiles=_prof(m), passes=["fuse_softmax", "fuse_attention"],
                      rtol=1e-4, atol=1e-5)


def _softmax_attention(net, q, k, v, axis, key_op=trt.MatrixOperation.TRANSPOSE):
    """softmax(q @ op(k), over ``axis``) @ v with no scale, marked as output "y" (``key_op``: how k enters)."""
    s = net.add_matrix_multiply(q, trt.MatrixOperation.NONE, k, key_op)
    sm = net.add_softmax(s.get_output(0))
    sm.axes = 1 << axis
    o = net.add_matrix_multiply(sm.get_output(0), trt.MatrixOperation.NONE, v, trt.MatrixOperation.NONE)
    o.get_output(0).name = "y"
    net.mark_output(o.get_output(0))


def test_scale_is_explicit_when_the_network_has_none():
    builder, net = new_network()
    q = net.add_input("q", trt.float32, (2, 3, 4, 16))
    k = net.add_input("k", trt.float32, (2, 3, 5, 16))
    v = net.add_input("v", trt.float32, (2, 3, 5, 8))
    _softmax_attention(net, q, k, v, axis=3)
    g = optimize(net, only=ONLY)
    assert [n.attrs.scale for n in g.nodes if n.kind == "attention"] == [1.0]
    compare_optimized(builder, net, [{"q": rand(2, 3, 4, 16, scale=2), "k": rand(2, 3, 5, 16), "v": rand(2, 3, 5, 8)}],
                      passes=["fuse_attention"], atol=1e-5)


def test_softmax_over_another_axis_or_shared_scores_do_not_fuse():
    builder, net = new_network()
    q = net.add_input("q", trt.float32, (2, 4, 8))
    _softmax_attention(net, q, q, q, axis=1)
    assert count(optimize(net, only=ONLY), "attention") == 0


def test_last_two_axes_swap_is_absorbed():
    builder, net = new_network()
    q = net.add_input("q", trt.float32, (-1, 2, 4, 8))
    k = net.add_input("k", trt.float32, (-1, 2, 6, 8))
    v = net.add_input("v", trt.float32, (-1, 2, 6, 8))
    kt = net.add_shuffle(k)
    kt.first_transpose = (0, 1, 3, 2)
    kt.name = "k_transpose"
    _softmax_attention(net, q, kt.get_output(0), v, axis=3, key_op=trt.MatrixOperation.NONE)
    g = optimize(net, only=ONLY)
    a = [n for n in g.nodes if n.kind == "attention"][0]
    assert a.inputs[1] == "k" and not a.attrs.key_transposed and "k_transpose" in a.origin
    assert len(g.nodes) == 1
    prof = [{n: ((1, 2) + s_, (2, 2) + s_, (3, 2) + s_) for n, s_ in (("q", (4, 8)), ("k", (6, 8)), ("v", (6, 8)))}]
    compare_optimized(builder, net, [{"q": rand(3, 2, 4, 8), "k": rand(3, 2, 6, 8), "v": rand(3, 2, 6, 8)}],
                      profiles=prof, passes=["fuse_attention"], atol=1e-5)
