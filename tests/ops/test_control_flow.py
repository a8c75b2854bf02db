"""TensorRT's loop and conditional API (add_loop / add_if_conditional) against numpy references, lowering to
if/loop subgraph nodes, plan round trips, and the errors for malformed constructs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import inferrt as trt
from inferrt.plan.format import BlobWriter
from tests.helpers import assert_close, build_and_run, new_network

RNG = np.random.default_rng(11)
SUM, PROD, SUB = trt.ElementWiseOperation.SUM, trt.ElementWiseOperation.PROD, trt.ElementWiseOperation.SUB


def scalar(network, value, dtype=np.int32):
    return network.add_constant((), np.array(value, dtype=dtype)).get_output(0)


def accumulate_network(n=5, width=3, dynamic=False):
    """The accumulation loop from TensorRT's documentation: rec = init; for each row x of X: rec = rec + x."""
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1 if dynamic else n, width))
    init = net.add_input("init", trt.float32, (width,))
    loop = net.add_loop()
    if not dynamic:
        loop.add_trip_limit(scalar(net, n), trt.TripLimit.COUNT)
    it = loop.add_iterator(x, 0, False)
    rec = loop.add_recurrence(init)
    s = net.add_elementwise(rec.get_output(0), it.get_output(0), SUM)
    rec.set_input(1, s.get_output(0))
    last = loop.add_loop_output(rec.get_output(0), trt.LoopOutput.LAST_VALUE)
    cat = loop.add_loop_output(s.get_output(0), trt.LoopOutput.CONCATENATE, 0)
    rev = loop.add_loop_output(rec.get_output(0), trt.LoopOutput.REVERSE, 1)
    if not dynamic:
        cat.set_input(1, scalar(net, n))
        rev.set_input(1, scalar(net, n))
    for name, layer in (("last", last), ("cat", cat), ("rev", rev)):
        layer.get_output(0).name = name
        net.mark_output(layer.get_output(0))
    return builder, net


def accumulate_reference(x, init):
    cum = init + np.cumsum(x.astype(np.float64), 0)
    starts = np.concatenate([init[None].astype(np.float64), cum[:-1]], 0)
    return {"last": cum[-1], "cat": cum, "rev": starts[::-1].T}


@pytest.mark.parametrize("dynamic", [False, True])
def test_accumulate_loop(dynamic, device):
    builder, net = accumulate_network(dynamic=dynamic)
    feeds = {"x": RNG.standard_normal((5, 3)).astype(np.float32), "init": RNG.standard_normal(3).astype(np.float32)}
    profiles = [{"x": ((1, 3), (5, 3), (9, 3))}] if dynamic else None
    got = build_and_run(builder, net, feeds, device=device, profiles=profiles)
    for k, v in accumulate_reference(feeds["x"], feeds["init"]).items():
        assert_close(got[k], v, what=k)


def test_loop_layer_classes_and_properties():
    builder, net = accumulate_network()
    kinds = [type(l).__name__ for l in net]
    for cls in ("ITripLimitLayer", "IIteratorLayer", "IRecurrenceLayer", "ILoopOutputLayer"):
        assert cls in kinds
    rec = next(l for l in net if isinstance(l, trt.IRecurrenceLayer))
    assert rec.num_inputs == 2 and rec.get_input(1) is not None and rec.loop.name.startswith("(Unnamed Loop")
    out = next(l for l in net if isinstance(l, trt.ILoopOutputLayer) and l.kind == trt.LoopOutput.REVERSE)
    assert out.axis == 1 and tuple(out.get_output(0).shape) == (3, 5)
    it = next(l for l in net if isinstance(l, trt.IIteratorLayer))
    assert it.axis == 0 and it.reverse is False and tuple(it.get_output(0).shape) == (3,)


def test_while_loop_counts_until_limit(device):
    """while (i < limit) { i = i + 1; acc = acc * 2 } with the condition computed from recurrences."""
    builder, net = new_network()
    limit = net.add_input("limit", trt.int32, ())
    acc0 = net.add_input("acc0", trt.float32, (2,))
    loop = net.add_loop()
    i = loop.add_recurrence(scalar(net, 0))
    acc = loop.add_recurrence(acc0)
    cond = net.add_elementwise(i.get_output(0), limit, trt.ElementWiseOperation.LESS).get_output(0)
    loop.add_trip_limit(cond, trt.TripLimit.WHILE)
    i.set_input(1, net.add_elementwise(i.get_output(0), scalar(net, 1), SUM).get_output(0))
    acc.set_input(1, net.add_elementwise(acc.get_output(0), net.add_constant((2,), np.full(2, 2, np.float32))
                                         .get_output(0), PROD).get_output(0))
    outs = [loop.add_loop_output(r.get_output(0), trt.LoopOutput.LAST_VALUE).get_output(0) for r in (i, acc)]
    for name, t in zip(("count", "acc"), outs):
        t.name = name
        net.mark_output(t)
    a0 = RNG.standard_normal(2).astype(np.float32)
    for lim in (0, 1, 6):
        got = build_and_run(builder, net, {"limit": np.array(lim, np.int32), "acc0": a0}, device=device)
        assert int(got["count"]) == lim
        assert_close(got["acc"], a0.astype(np.float64) * 2.0 ** lim, what="acc")


def test_last_value_of_body_tensor_and_outer_scope_value():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (4, 2))
    w = net.add_input("w", trt.float32, (2,))
    loop = net.add_loop()
    loop.add_trip_limit(scalar(net, 4), trt.TripLimit.COUNT)
    row = loop.add_iterator(x, 0, True).get_output(0)          # rows in reverse order
    prod = net.add_elementwise(row, w, PROD).get_output(0)      # w read from outside the loop directly
    out = loop.add_loop_output(prod, trt.LoopOutput.LAST_VALUE).get_output(0)
    out.name = "y"
    net.mark_output(out)
    feeds = {"x": RNG.standard_normal((4, 2)).astype(np.float32), "w": RNG.standard_normal(2).astype(np.float32)}
    got = build_and_run(builder, net, feeds)
    assert_close(got["y"], feeds["x"][0].astype(np.float64) * feeds["w"], what="y")


def test_nested_loops(device):
    """out[i] = sum_j x[i, j] * (i + 1), as an outer loop over rows with an inner loop over columns."""
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (3, 4))
    outer = net.add_loop()
    outer.add_trip_limit(scalar(net, 3), trt.TripLimit.COUNT)
    row = outer.add_iterator(x, 0).get_output(0)
    k = outer.add_recurrence(scalar(net, 1.0, np.float32))
    k.set_input(1, net.add_elementwise(k.get_output(0), scalar(net, 1.0, np.float32), SUM).get_output(0))
    inner = net.add_loop()
    inner.add_trip_limit(scalar(net, 4), trt.TripLimit.COUNT)
    v = inner.add_iterator(row, 0).get_output(0)
    acc = inner.add_recurrence(scalar(net, 0.0, np.float32))
    term = net.add_elementwise(v, k.get_output(0), PROD).get_output(0)
    acc.set_input(1, net.add_elementwise(acc.get_output(0), term, SUM).get_output(0))
    total = inner.add_loop_output(acc.get_output(0), trt.LoopOutput.LAST_VALUE).get_output(0)
    col = outer.add_loop_output(total, trt.LoopOutput.CONCATENATE, 0)
    col.set_input(1, scalar(net, 3))
    col.get_output(0).name = "y"
    net.mark_output(col.get_output(0))
    xv = RNG.standard_normal((3, 4)).astype(np.float32)
    got = build_and_run(builder, net, {"x": xv}, device=device)
    assert_close(got["y"], xv.astype(np.float64).sum(1) * np.arange(1, 4), what="y")


def conditional_network():
    builder, net = new_network()
    c = net.add_input("c", trt.bool, ())
    a = net.add_input("a", trt.float32, (2, 3))
    b = net.add_input("b", trt.float32, (2, 3))
    cond = net.add_if_conditional()
    cond.set_condition(c)
    ai = cond.add_input(a).get_output(0)
    bi = cond.add_input(b).get_output(0)
    then = net.add_elementwise(net.add_unary(ai, trt.UnaryOperation.EXP).get_output(0), bi, SUM).get_output(0)
    k = net.add_constant((1, 3), np.array([[1.0, -2.0, 0.5]], np.float32)).get_output(0)
    other = net.add_elementwise(net.add_elementwise(ai, bi, SUB).get_output(0), k, PROD).get_output(0)
    out = cond.add_output(then, other)
    second = cond.add_output(bi, ai)
    for name, layer in (("y", out), ("z", second)):
        layer.get_output(0).name = name
        net.mark_output(layer.get_output(0))
    return builder, net, cond


@pytest.mark.parametrize("flag", [True, False])
def test_conditional_chooses_branch(flag, device):
    builder, net, cond = conditional_network()
    a = RNG.standard_normal((2, 3)).astype(np.float32)
    b = RNG.standard_normal((2, 3)).astype(np.float32)
    got = build_and_run(builder, net, {"c": np.array(flag), "a": a, "b": b}, device=device)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    want = np.exp(a64) + b64 if flag else (a64 - b64) * np.array([[1.0, -2.0, 0.5]])
    assert_close(got["y"], want, what="y")
    assert_close(got["z"], b if flag else a, what="z")
    layers = [l for l in net if isinstance(l, trt.IIfConditionalOutputLayer)]
    assert len(layers) == 2 and layers[0].conditional is cond


def test_plan_round_trip_of_loop_is_identical():
    builder, net = accumulate_network()
    config = builder.create_builder_config()
    config.device = "cpu"
    plan = builder.build_serialized_network(net, config)
    feeds = {"x": RNG.standard_normal((5, 3)).astype(np.float32), "init": RNG.standard_normal(3).astype(np.float32)}
    runtime = trt.Runtime(trt.Logger(trt.Logger.ERROR))
    e1 = runtime.deserialize_cuda_engine(plan)
    e2 = runtime.deserialize_cuda_engine(e1.serialize())
    r1, r2 = (e.create_execution_context().infer(feeds) for e in (e1, e2))
    for k in ("last", "cat", "rev"):
        np.testing.assert_array_equal(r1[k], r2[k])
    assert any(n.kind == "loop" for n in e1.graph.nodes)
    assert not any(n.kind.startswith("loop_") for n in e1.graph.nodes)


def test_graph_json_round_trip_keeps_subgraphs_and_constants():
    from inferrt.builder.lower_network import lower_network

    _, net, _ = conditional_network()
    g = lower_network(net)
    node = next(n for n in g.nodes if n.kind == "if")
    assert any(n.kind == "constant" for n in node.attrs.else_graph.nodes)
    blobs = BlobWriter()
    j = g.to_json(blobs)
    assert "then_graph" in j["nodes"][[n["kind"] for n in j["nodes"]].index("if")]["attrs"]


def _build_error(net, builder):
    config = builder.create_builder_config()
    config.device = "cpu"
    with pytest.raises(trt.BuildError) as e:
        builder.build(net, config)
    return str(e.value)


def test_recurrence_without_next_is_reported():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2,))
    loop = net.add_loop()
    loop.name = "my_loop"
    loop.add_trip_limit(scalar(net, 2), trt.TripLimit.COUNT)
    rec = loop.add_recurrence(x)
    out = loop.add_loop_output(rec.get_output(0), trt.LoopOutput.LAST_VALUE).get_output(0)
    net.mark_output(out)
    msg = _build_error(net, builder)
    assert "my_loop" in msg and "set_input(1" in msg


def test_body_tensor_read_outside_is_reported():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2,))
    loop = net.add_loop()
    loop.add_trip_limit(scalar(net, 2), trt.TripLimit.COUNT)
    rec = loop.add_recurrence(x)
    nxt = net.add_elementwise(rec.get_output(0), rec.get_output(0), SUM).get_output(0)
    rec.set_input(1, nxt)
    net.mark_output(net.add_unary(nxt, trt.UnaryOperation.EXP).get_output(0))
    msg = _build_error(net, builder)
    assert "computed inside the construct" in msg and "add_loop_output" in msg


def test_condition_must_be_bool_scalar():
    builder, net = new_network()
    c = net.add_input("c", trt.float32, (1,))
    cond = net.add_if_conditional()
    cond.set_condition(c)
    assert any("BOOL" in e for e in net._layer_errors())


def test_loop_op_runs_zero_iterations():
    """A COUNT of 0: recurrences keep their initial values, concatenations are empty."""
    builder, net = new_network()
    n = net.add_input("n", trt.int32, ())
    init = net.add_input("init", trt.float32, (3,))
    loop = net.add_loop()
    loop.add_trip_limit(n, trt.TripLimit.COUNT)
    rec = loop.add_recurrence(init)
    nxt = net.add_elementwise(rec.get_output(0), rec.get_output(0), SUM).get_output(0)
    rec.set_input(1, nxt)
    outs = [loop.add_loop_output(rec.get_output(0), trt.LoopOutput.LAST_VALUE).get_output(0),
            loop.add_loop_output(nxt, trt.LoopOutput.CONCATENATE, 0).get_output(0)]
    for name, t in zip(("last", "all"), outs):
        t.name = name
        net.mark_output(t)
    iv = RNG.standard_normal(3).astype(np.float32)
    for count in (0, 3):
        got = build_and_run(builder, net, {"n": np.array(count, np.int32), "init": iv})
        assert_close(got["last"], iv.astype(np.float64) * 2 ** count, what="last")
        assert_close(got["all"], iv.astype(np.float64)[None] * 2.0 ** np.arange(1, count + 1)[:, None], what="all")


def test_if_node_on_torch_tensors():
    from inferrt.ops import get_op

    _, net, _ = conditional_network()
    from inferrt.builder.lower_network import lower_network

    g = lower_network(net)
    node = next(n for n in g.nodes if n.kind == "if")
    a, b = torch.randn(2, 3), torch.randn(2, 3)
    res = get_op("if").run(node.attrs, [torch.tensor(False), a, b], [None, None])
    assert torch.allclose(res[1], a)
    assert torch.allclose(res[0], (a - b) * torch.tensor([[1.0, -2.0, 0.5]]))


def test_repeated_runs_of_one_context(device):
    """One execution context, many runs (CUDA-graph capture on the GPU must not freeze the branch or trip count)."""
    builder, net, _ = conditional_network()
    config = builder.create_builder_config()
    config.device = device
    engine = trt.Runtime(trt.Logger(trt.Logger.ERROR)).deserialize_cuda_engine(builder.build_serialized_network(
        net, config))
    ctx = engine.create_execution_context()
    a = RNG.standard_normal((2, 3)).astype(np.float32)
    b = RNG.standard_normal((2, 3)).astype(np.float32)
    for flag in (True, True, False, True, False, False, True):
        got = ctx.infer({"c": np.array(flag), "a": a, "b": b})
        assert_close(got["z"], b if flag else a, what=f"z (condition {flag})")
    b2, net2 = accumulate_network()
    config2 = b2.create_builder_config()
    config2.device = device
    ctx2 = trt.Runtime(trt.Logger(trt.Logger.ERROR)).deserialize_cuda_engine(
        b2.build_serialized_network(net2, config2)).create_execution_context()
    for _ in range(4):
        feeds = {"x": RNG.standard_normal((5, 3)).astype(np.float32), "init": RNG.standard_normal(3).astype(np.float32)}
        got = ctx2.infer(feeds)
        assert_close(got["cat"], accumulate_reference(feeds["x"], feeds["init"])["cat"], what="cat")


def test_conditional_inside_loop_and_iterator_without_trip_limit():
    """for each row r of X: acc = acc + (r if sum(r) > 0 else -r); the trip count comes from the iterator."""
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (6, 3))
    loop = net.add_loop()
    row = loop.add_iterator(x, 0).get_output(0)
    acc = loop.add_recurrence(net.add_constant((3,), np.zeros(3, np.float32)).get_output(0))
    total = net.add_reduce(row, trt.ReduceOperation.SUM, 1, False).get_output(0)
    positive = net.add_elementwise(total, scalar(net, 0.0, np.float32), trt.ElementWiseOperation.GREATER)
    cond = net.add_if_conditional()
    cond.set_condition(positive.get_output(0))
    r_in = cond.add_input(row).get_output(0)
    neg = net.add_unary(r_in, trt.UnaryOperation.NEG).get_output(0)
    picked = cond.add_output(r_in, neg).get_output(0)
    acc.set_input(1, net.add_elementwise(acc.get_output(0), picked, SUM).get_output(0))
    out = loop.add_loop_output(acc.get_output(0), trt.LoopOutput.LAST_VALUE).get_output(0)
    out.name = "y"
    net.mark_output(out)
    xv = RNG.standard_normal((6, 3)).astype(np.float32)
    got = build_and_run(builder, net, {"x": xv})
    x64 = xv.astype(np.float64)
    want = np.where(x64.sum(1, keepdims=True) > 0, x64, -x64).sum(0)
    assert_close(got["y"], want, what="y")


def test_loop_inside_conditional_branch():
    """y = (x doubled n times) if c else x"""
    builder, net = new_network()
    c = net.add_input("c", trt.bool, ())
    x = net.add_input("x", trt.float32, (4,))
    cond = net.add_if_conditional()
    cond.set_condition(c)
    xi = cond.add_input(x).get_output(0)
    loop = net.add_loop()
    loop.add_trip_limit(scalar(net, 3), trt.TripLimit.COUNT)
    rec = loop.add_recurrence(xi)
    rec.set_input(1, net.add_elementwise(rec.get_output(0), rec.get_output(0), SUM).get_output(0))
    doubled = loop.add_loop_output(rec.get_output(0), trt.LoopOutput.LAST_VALUE).get_output(0)
    out = cond.add_output(doubled, xi).get_output(0)
    out.name = "y"
    net.mark_output(out)
    xv = RNG.standard_normal(4).astype(np.float32)
    for flag in (True, False):
        got = build_and_run(builder, net, {"c": np.array(flag), "x": xv})
        assert_close(got["y"], xv.astype(np.float64) * (8 if flag else 1), what=f"y ({flag})")
