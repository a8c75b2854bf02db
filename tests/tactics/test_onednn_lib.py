"""oneDNN called directly (tactics/onednn_lib.py): kept convolution primitives match a float64 reference for every
post-op and geometry the convolution tactic hands them, run concurrently from several threads, say which oneDNN
call failed, and stand aside where turned off or where they cannot serve (the tactic then runs PyTorch's op)."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_close

import inferrt as trt
from inferrt.tactics import onednn_lib

pytestmark = pytest.mark.skipif(onednn_lib.library() is None,
                                reason="the cpu extra's oneDNN (onednn-cpu-gomp) is not installed")
G = torch.Generator().manual_seed(11)

ACTS = {   # post-op name: (alpha, beta, float64 reference)
    "relu": (0.0, 0.0, torch.relu),
    "leaky": (0.1, 0.0, lambda t: F.leaky_relu(t, 0.1)),
    "tanh": (0.0, 0.0, torch.tanh),
    "sigmoid": (0.0, 0.0, torch.sigmoid),
    "gelu_tanh": (0.0, 0.0, lambda t: F.gelu(t, approximate="tanh")),
    "gelu_erf": (0.0, 0.0, F.gelu),
    "clip": (-0.5, 0.7, lambda t: t.clamp(-0.5, 0.7)),
}


def _cl(t):
    return t.contiguous(memory_format=torch.channels_last)


def _run(prim, x, bias=None, residual=None):
    y = torch.empty(prim.out_shape, memory_format=torch.channels_last)
    return prim(_cl(x), y, bias, residual)


@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("geometry", ["grouped_dilated_asymmetric", "depthwise_stride2", "pointwise"])
def test_primitive_matches_float64(act, geometry):
    cin, cout, k, s, d, groups, pad_l, pad_r = {
        "grouped_dilated_asymmetric": (16, 32, 3, 2, 2, 4, (1, 2), (2, 1)),
        "depthwise_stride2": (24, 24, 3, 2, 1, 24, (1, 1), (1, 1)),
        "pointwise": (32, 48, 1, 1, 1, 1, (0, 0), (0, 0)),
    }[geometry]
    alpha, beta, ref_act = ACTS[act]
    name = "relu" if act == "leaky" else act
    x = torch.randn(2, cin, 13, 11, generator=G)
    w = torch.randn(cout, cin // groups, k, k, generator=G) / (cin // groups * k * k) ** 0.5
    b = torch.randn(cout, generator=G)
    prim = onednn_lib.ConvPrimitive(onednn_lib.library(), tuple(x.shape), w, True, (s, s), (d, d), pad_l, pad_r,
                                    groups, [("eltwise", name, alpha, beta)])
    ref = F.conv2d(F.pad(x.double(), (pad_l[1], pad_r[1], pad_l[0], pad_r[0])), w.double(), b.double(), s, 0, d,
                   groups)
    ref = ref_act(ref)
    assert prim.out_shape == tuple(ref.shape)
    assert_close(_run(prim, x, b).numpy(), ref.numpy(), np.float32, what=f"{geometry} {act}")


@pytest.mark.parametrize("act", [None, "sigmoid", "relu"])
def test_residual_add_then_activation(act):
    """The residual is added as a binary post-op (read, not accumulated into: the residual is left as it was), and
    any activation may follow it."""
    x, r = torch.randn(1, 8, 9, 9, generator=G), _cl(torch.randn(1, 16, 9, 9, generator=G))
    w = torch.randn(16, 8, 3, 3, generator=G) / 8
    post = [("add",)] + ([("eltwise", act, 0.0, 0.0)] if act else [])
    prim = onednn_lib.ConvPrimitive(onednn_lib.library(), tuple(x.shape), w, False, (1, 1), (1, 1), (1, 1), (1, 1),
                                    1, post)
    r_before = r.clone()
    ref = F.conv2d(x.double(), w.double(), None, 1, 1) + r.double()
    ref = ACTS[act][2](ref) if act else ref
    assert_close(_run(prim, x, residual=r).numpy(), ref.numpy(), np.float32, what=f"add {act}")
    assert torch.equal(r, r_before)


def test_one_channel_source_gets_an_optimized_kernel():
    """MNIST's first layer (1 input channel): described by NCHW strides oneDNN 3.2 runs it in its reference kernel
    (~14 ms instead of ~20 us); by the channels-last strides it picks a jit kernel."""
    x = torch.randn(1, 1, 28, 28, generator=G)
    w = torch.randn(32, 1, 3, 3, generator=G)
    prim = onednn_lib.ConvPrimitive(onednn_lib.library(), tuple(x.shape), w, False, (1, 1), (1, 1), (1, 1), (1, 1),
                                    1, [])
    assert not prim.impl.startswith("ref"), prim.impl
    assert_close(_run(prim, x).numpy(), F.conv2d(x.double(), w.double(), None, 1, 1).numpy(), np.float32)


def test_planar_source_reordered_by_onednn_into_a_kept_buffer():
    """An NCHW source (a network's image input) becomes channels-last through a kept oneDNN reorder: the same bytes
    as PyTorch's copy, in one buffer kept per thread (no fresh pages per call); a source that is not NCHW-dense
    (a strided view) goes through PyTorch's copy; the convolution on the reordered source matches float64."""
    x = torch.randn(2, 3, 17, 19, generator=G)
    w = torch.randn(8, 3, 3, 3, generator=G)
    prim = onednn_lib.ConvPrimitive(onednn_lib.library(), tuple(x.shape), w, False, (2, 2), (1, 1), (1, 1), (1, 1),
                                    1, [])
    a = prim.to_channels_last(x)
    assert a.is_contiguous(memory_format=torch.channels_last) and torch.equal(a, x)
    x2 = torch.randn(2, 3, 17, 19, generator=G)
    b = prim.to_channels_last(x2)
    assert b.data_ptr() == a.data_ptr() and torch.equal(b, x2)     # the thread's kept buffer, rewritten
    wide = torch.randn(2, 3, 17, 38, generator=G)[..., ::2]
    c = prim.to_channels_last(wide)
    assert c.data_ptr() != a.data_ptr() and torch.equal(c, wide)
    y = torch.empty(prim.out_shape, memory_format=torch.channels_last)
    assert_close(prim(prim.to_channels_last(x), y).numpy(),
                 F.conv2d(x.double(), w.double(), None, 2, 1).numpy(), np.float32)


def test_concurrent_executions_keep_their_own_arguments():
    """One primitive run from four threads at once, each on its own input: each gets its own result (the memory
    objects and scratchpad are per thread)."""
    w = torch.randn(32, 16, 3, 3, generator=G) / 12
    prim = onednn_lib.ConvPrimitive(onednn_lib.library(), (1, 16, 20, 20), w, False, (1, 1), (1, 1), (1, 1),
                                    (1, 1), 1, [("eltwise", "relu", 0.0, 0.0)])
    xs = [torch.randn(1, 16, 20, 20, generator=G) for _ in range(4)]
    refs = [torch.relu(F.conv2d(x.double(), w.double(), None, 1, 1)).numpy() for x in xs]
    errors = []

    def worker(i):
        try:
            for _ in range(30):
                assert_close(_run(prim, xs[i]).numpy(), refs[i], np.float32, what=f"thread {i}")
        except Exception as e:   # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_a_rejected_problem_names_the_call():
    w = torch.randn(8, 4, 3, 3, generator=G)
    with pytest.raises(onednn_lib.OnednnError, match="dnnl_convolution_forward_primitive_desc_create"):
        onednn_lib.ConvPrimitive(onednn_lib.library(), (1, 4, 8, 8), w, False, (1, 1), (1, 1), (-1, -1),
                                 (-1, -1), 1, [])


def test_sync_threads_sets_a_fresh_threads_team():
    """A thread that never ran a PyTorch parallel region has OpenMP's default team (every core); oneDNN would run
    on all of them. sync_threads gives it the count asked for."""
    seen = []

    def worker():
        onednn_lib.sync_threads(1)
        seen.append(onednn_lib._omp()[0]())

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [1]


def test_turned_off_by_environment(monkeypatch):
    monkeypatch.setenv("INFERRT_ONEDNN", "0")
    onednn_lib.library.cache_clear()
    try:
        assert onednn_lib.library() is None
    finally:
        monkeypatch.delenv("INFERRT_ONEDNN")
        onednn_lib.library.cache_clear()
    assert onednn_lib.library() is not None


def test_tactic_falls_back_to_pytorch_where_a_primitive_is_rejected(monkeypatch):
    """Where oneDNN rejects the problem, the layer runs PyTorch's op (with the residual add + ReLU fused there) and
    gives the same answer."""
    def reject(*args, **kw):
        raise onednn_lib.OnednnError("oneDNN dnnl_convolution_forward_primitive_desc_create returned status 2")

    monkeypatch.setattr(onednn_lib, "ConvPrimitive", reject)
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, (1, 8, 10, 10))
    r = net.add_input("r", trt.float32, (1, 8, 10, 10))
    w = (torch.randn(8, 8, 3, 3, generator=G) / 8).numpy()
    conv = net.add_convolution_nd(x, 8, (3, 3), w, None)
    conv.padding_nd = (1, 1)
    s = net.add_elementwise(conv.get_output(0), r, trt.ElementWiseOperation.SUM).get_output(0)
    layer = net.add_activation(s, trt.ActivationType.SIGMOID)
    layer.get_output(0).name = "y"
    net.mark_output(layer.get_output(0))
    config = builder.create_builder_config()
    config.device = "cpu"
    engine = trt.Runtime(trt.Logger(trt.Logger.ERROR)).deserialize_cuda_engine(builder.build(net, config))
    assert [n.info.tactic for n in engine.graph.nodes if n.kind in ("fused_conv", "convolution")] == ["onednn_conv"]
    xv, rv = torch.randn(1, 8, 10, 10, generator=G), torch.randn(1, 8, 10, 10, generator=G)
    out = engine.create_execution_context().infer({"x": xv.numpy(), "r": rv.numpy()})["y"]
    ref = torch.sigmoid(F.conv2d(xv.double(), torch.from_numpy(w).double(), None, 1, 1) + rv.double())
    assert_close(out, ref.numpy(), np.float32, what="fallback")


def test_a_misspelt_switch_is_an_error(monkeypatch):
    """INFERRT_ONEDNN takes on/off values only: anything else names the variable and the values, rather than
    quietly choosing a path."""
    monkeypatch.setenv("INFERRT_ONEDNN", "maybe")
    onednn_lib.library.cache_clear()
    try:
        with pytest.raises(ValueError, match="INFERRT_ONEDNN='maybe'.*set it to 0"):
            onednn_lib.library()
    finally:
        monkeypatch.delenv("INFERRT_ONEDNN")
        onednn_lib.library.cache_clear()
