"""The CPU ``cpu_pool`` tactic (tactics/tactic_cpu_pool.py): chosen for CPU float 2-D max/average pooling; its one
PyTorch call matches a float64 numpy reference (windows walked explicitly) for every padding mode, and layers
PyTorch's pooling cannot express fall back to the generic op at that shape with the same results."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import assert_close

import inferrt as trt
from inferrt.tactics.tactic_cpu_pool import pool_call, torch_pool_out

RNG = np.random.default_rng(11)
PT = trt.PoolingType
PM = trt.PaddingMode


def _pool_ref(x, kind, k, s, pre, post, round_up, excludes, out_sp):
    """float64 pooling by walking the windows: padding is -inf for max and counts (or not) for averages; the
    round-up overhang past the right padding never counts."""
    n, c, h, w = x.shape
    y = np.empty((n, c) + tuple(out_sp))
    for i in range(out_sp[0]):
        for j in range(out_sp[1]):
            r0, c0 = i * s[0] - pre[0], j * s[1] - pre[1]
            r1, c1 = r0 + k[0], c0 + k[1]
            win = x[:, :, max(r0, 0):min(r1, h), max(c0, 0):min(c1, w)].astype(np.float64)
            if kind == PT.MAX:
                y[:, :, i, j] = win.max(axis=(2, 3))
            else:
                if excludes:
                    cnt = win.shape[2] * win.shape[3]
                else:   # padded positions count, the overhang past the padding does not
                    cnt = (min(r1, h + post[0]) - r0) * (min(c1, w + post[1]) - c0)
                y[:, :, i, j] = win.sum(axis=(2, 3)) / cnt
    return y


CASES = {   # name: (kind, window, stride, pre, post, padding mode, average_count_excludes_padding, channels)
    "max_2x2": (PT.MAX, (2, 2), (2, 2), (0, 0), (0, 0), None, True, 4),
    "max_resnet_stem": (PT.MAX, (3, 3), (2, 2), (1, 1), (1, 1), None, True, 4),
    "max_round_up": (PT.MAX, (3, 3), (2, 2), (0, 0), (0, 0), PM.EXPLICIT_ROUND_UP, True, 3),
    "max_same_upper": (PT.MAX, (3, 3), (2, 2), (0, 0), (0, 0), PM.SAME_UPPER, True, 3),
    "max_asymmetric": (PT.MAX, (3, 3), (1, 1), (0, 0), (1, 1), None, True, 3),          # generic fallback
    "avg_include_pad": (PT.AVERAGE, (3, 3), (1, 1), (1, 1), (1, 1), None, False, 5),
    "avg_exclude_pad": (PT.AVERAGE, (3, 3), (2, 2), (1, 1), (1, 1), None, True, 5),
    "avg_round_up_include": (PT.AVERAGE, (3, 3), (2, 2), (1, 1), (1, 1), PM.EXPLICIT_ROUND_UP, False, 2),
    "avg_rect": (PT.AVERAGE, (2, 3), (1, 2), (0, 1), (0, 1), None, True, 2),
    "avg_pad_over_half": (PT.AVERAGE, (3, 3), (1, 1), (2, 2), (2, 2), None, False, 2),   # generic fallback
}


def _build(case, shape, dynamic=False):
    kind, k, s, pre, post, mode, excludes, _ = CASES[case]
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, (-1,) + shape[1:] if dynamic else shape)
    p = net.add_pooling_nd(x, kind, k)
    p.stride_nd, p.pre_padding, p.post_padding = s, pre, post
    p.average_count_excludes_padding = excludes
    if mode is not None:
        p.padding_mode = mode
    y = p.get_output(0)
    y.name = "y"
    net.mark_output(y)
    config = builder.create_builder_config()
    config.device = "cpu"
    if dynamic:
        prof = builder.create_optimization_profile()
        prof.set_shape("x", (1,) + shape[1:], shape, (2 * shape[0],) + shape[1:])
        config.add_optimization_profile(prof)
    return trt.Runtime(trt.Logger(trt.Logger.ERROR)).deserialize_cuda_engine(builder.build(net, config))


def _resolved(case, hw):
    """(pre, post) padding and output size the layer has at spatial size ``hw``, from the shared padding rules."""
    kind, k, s, pre, post, mode, excludes, _ = CASES[case]
    if mode in (PM.SAME_UPPER,):
        out = [-(-n // s[i]) for i, n in enumerate(hw)]
        total = [max(0, (out[i] - 1) * s[i] + k[i] - hw[i]) for i in range(2)]
        return tuple(t // 2 for t in total), tuple(t - t // 2 for t in total), tuple(out)
    up = mode == PM.EXPLICIT_ROUND_UP
    out = []
    for i, n in enumerate(hw):
        span = n + pre[i] + post[i] - k[i]
        o = (-(-span // s[i]) if up else span // s[i]) + 1
        if up and (o - 1) * s[i] >= n + pre[i]:
            o -= 1
        out.append(o)
    return pre, post, tuple(out)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("channels_last", [False, True])
def test_pooling_matches_float64(case, channels_last):
    kind, k, s, _, _, mode, excludes, c = CASES[case]
    shape = (2, c, 9, 8)
    engine = _build(case, shape)
    pools = [n for n in engine.graph.nodes if n.kind == "pooling"]
    assert len(pools) == 1 and pools[0].info.tactic == "cpu_pool", [(n.kind, n.info.tactic) for n in pools]
    xv = RNG.standard_normal(shape).astype(np.float32)
    pre, post, out_sp = _resolved(case, shape[2:])
    ref = _pool_ref(xv, kind, k, s, pre, post, mode == PM.EXPLICIT_ROUND_UP, excludes, out_sp)
    # the tactic's own runner on a channels-last or plain input, and the engine end to end
    run = engine.executor.kernels[pools[0].name]
    x = torch.from_numpy(xv)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = run([x], [torch.empty((2, c) + out_sp)])[0]
    assert tuple(y.shape) == (2, c) + out_sp
    assert_close(y.numpy(), ref, np.float32)
    if channels_last and pool_call(pools[0].op, pools[0].attrs, shape, out_sp) is not None:
        assert y.is_contiguous(memory_format=torch.channels_last)
    out = engine.create_execution_context().infer({"x": xv})["y"]
    assert_close(out, ref, np.float32)


def test_fallback_only_where_pytorch_cannot_pool():
    """The cases marked generic fallback resolve to no PyTorch call; the others to one."""
    for case in CASES:
        engine = _build(case, (1, CASES[case][-1], 9, 8))
        node = next(n for n in engine.graph.nodes if n.kind == "pooling")
        _, _, out_sp = _resolved(case, (9, 8))
        f = pool_call(node.op, node.attrs, (1, CASES[case][-1], 9, 8), out_sp)
        assert (f is None) == (case in ("max_asymmetric", "avg_pad_over_half", "max_same_upper")), case


def test_dynamic_batch_reuses_per_shape_parameters():
    engine = _build("max_resnet_stem", (2, 4, 9, 8), dynamic=True)
    ctx = engine.create_execution_context()
    for n in (1, 3, 4, 1):
        xv = RNG.standard_normal((n, 4, 9, 8)).astype(np.float32)
        ref = _pool_ref(xv, PT.MAX, (3, 3), (2, 2), (1, 1), (1, 1), False, True, (5, 4))
        assert_close(ctx.infer({"x": xv})["y"], ref, np.float32)


@pytest.mark.parametrize("n,k,s,d,p,ceil,expected", [
    (112, 3, 2, 1, 1, False, 56), (9, 3, 2, 1, 0, True, 4), (10, 3, 2, 1, 0, True, 5), (8, 2, 2, 1, 0, False, 4),
    (5, 2, 2, 1, 1, True, 3),   # the last window would start in the right padding: dropped
])
def test_torch_pool_out(n, k, s, d, p, ceil, expected):
    assert torch_pool_out(n, k, s, d, p, ceil) == expected
    x = torch.zeros(1, 1, n, n)
    assert torch.nn.functional.max_pool2d(x, k, s, p, d, ceil).shape[-1] == expected
