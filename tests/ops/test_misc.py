"""TopK, Select, Fill, Cumulative and Assertion against numpy references."""
import numpy as np
import pytest

import inferrt as trt
from tests.helpers import assert_build_fails, assert_close, build_and_run, const, new_network, run_layer

RNG = np.random.default_rng(3)




def _output(layer, net, name="y", index=0):
    t = layer.get_output(index)
    t.name = name
    net.mark_output(t)
    return t


# ----------------------------------------------------------------------------------------------- topk
def ref_topk(x, k, axis, largest):
    """Sorted top-k; ties resolve to the lower index (a stable sort of the keys)."""
    keys = -x.astype(np.float64) if largest else x.astype(np.float64)
    order = np.argsort(keys, axis=axis, kind="stable")
    idx = np.take(order, np.arange(k), axis=axis)
    return np.take_along_axis(x, idx, axis), idx


@pytest.mark.parametrize("op", [trt.TopKOperation.MAX, trt.TopKOperation.MIN])
@pytest.mark.parametrize("shape,k,axis", [((10,), 3, 0), ((4, 9), 5, 1), ((3, 6, 2), 6, 1), ((5, 3), 1, 0)])
def test_topk(op, shape, k, axis, device):
    x = RNG.standard_normal(shape)
    vals, idx = run_layer(lambda net, t: net.add_topk(t[0], op, k, 1 << axis), {"x": x}, device)
    rv, ri = ref_topk(x.astype(np.float32), k, axis, op == trt.TopKOperation.MAX)
    assert idx.dtype == np.int32
    assert_close(vals, rv)
    assert_close(idx, ri)


@pytest.mark.parametrize("op", [trt.TopKOperation.MAX, trt.TopKOperation.MIN])
def test_topk_ties_lower_index_first_int64(op, device):
    x = np.array([[3, 1, 3, 2, 1, 3], [0, 0, 0, 0, 0, 0]], np.int32)
    vals, idx = run_layer(lambda net, t: net.add_topk(t[0], op, 4, 2, trt.int64), {"x": x}, device)
    rv, ri = ref_topk(x, 4, 1, op == trt.TopKOperation.MAX)
    assert idx.dtype == np.int64
    assert_close(vals, rv)
    assert_close(idx, ri)


def test_topk_dynamic_k(device):
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (3, 8))
    layer = net.add_topk(x, trt.TopKOperation.MAX, 1, 2)
    kk = net.add_input("k", trt.int32, ())
    layer.set_input(1, kk)
    assert tuple(layer.get_output(0).shape) == (3, -1)
    _output(layer, net, "v", 0)
    _output(layer, net, "i", 1)
    xv = RNG.standard_normal((3, 8)).astype(np.float32)
    for k in (5, 8, 0):
        got = build_and_run(builder, net, {"x": xv, "k": np.array(k, np.int32)}, device)
        rv, ri = ref_topk(xv, k, 1, True)
        assert_close(got["v"], rv)
        assert_close(got["i"], ri)


def test_topk_k_from_constant_input(device):
    x = RNG.standard_normal((2, 7))

    def add(net, t):
        layer = net.add_topk(t[0], trt.TopKOperation.MIN, 1, 2)
        layer.set_input(1, const(net, np.array(3, np.int64)))
        return layer

    vals, idx = run_layer(add, {"x": x}, device)
    rv, ri = ref_topk(x.astype(np.float32), 3, 1, False)
    assert_close(vals, rv)
    assert_close(idx, ri)


def test_topk_bad_inputs():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (3, 4))
    layer = net.add_topk(x, trt.TopKOperation.MAX, 5, 2)
    layer.name = "too_big"
    _output(layer, net)
    assert_build_fails(builder, net, "too_big", "k = 5")

    builder, net = new_network()
    x = net.add_input("x", trt.float32, (3, 4))
    layer = net.add_topk(x, trt.TopKOperation.MAX, 2, 3)
    layer.name = "two_axes"
    _output(layer, net)
    assert_build_fails(builder, net, "two_axes", "exactly one bit")


# ----------------------------------------------------------------------------------------------- select
@pytest.mark.parametrize("cs,ts,es", [((3, 4), (3, 4), (3, 4)), ((3, 1), (1, 4), (3, 4)), ((1, 1, 5), (2, 3, 5),
                                                                                           (2, 1, 1))])
def test_select(cs, ts, es, device):
    c = RNG.random(cs) > 0.5
    a = RNG.standard_normal(ts)
    b = RNG.standard_normal(es)
    (got,) = run_layer(lambda net, t: net.add_select(t[0], t[1], t[2]), {"c": c, "a": a, "b": b}, device)
    assert_close(got, np.where(c, a.astype(np.float32), b.astype(np.float32)))


def test_select_int(device):
    c = RNG.random((4,)) > 0.5
    a = np.arange(4, dtype=np.int32)
    b = -np.arange(4, dtype=np.int32)
    (got,) = run_layer(lambda net, t: net.add_select(t[0], t[1], t[2]), {"c": c, "a": a, "b": b}, device)
    assert_close(got, np.where(c, a, b))


def test_select_bad_inputs():
    builder, net = new_network()
    c = net.add_input("c", trt.float32, (3,))
    a = net.add_input("a", trt.float32, (3,))
    layer = net.add_select(c, a, a)
    layer.name = "sel"
    _output(layer, net)
    assert_build_fails(builder, net, "sel", "BOOL")

    builder, net = new_network()
    c = net.add_input("c", trt.bool, (3,))
    a = net.add_input("a", trt.float32, (3,))
    b = net.add_input("b", trt.float32, (2, 3))
    layer = net.add_select(c, a, b)
    layer.name = "sel_rank"
    _output(layer, net)
    assert_build_fails(builder, net, "sel_rank", "same rank")


# ----------------------------------------------------------------------------------------------- fill
@pytest.mark.parametrize("dtype,alpha,beta", [(trt.float32, 0.5, 0.25), (trt.int32, 3, -2), (trt.int64, -7, 5)])
def test_fill_linspace_1d(dtype, alpha, beta, device):
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (1,))
    layer = net.add_fill((6,), trt.FillOperation.LINSPACE, dtype)
    layer.alpha, layer.beta = alpha, beta
    assert layer.to_type == dtype and layer.operation == trt.FillOperation.LINSPACE
    _output(layer, net)
    net.mark_output(net.add_identity(x).get_output(0))
    got = build_and_run(builder, net, {"x": np.zeros(1, np.float32)}, device)["y"]
    ref = alpha + beta * np.arange(6, dtype=np.float64)
    assert got.dtype == trt.nptype(dtype)
    assert_close(got, ref)


def test_fill_linspace_nd_with_tensors(device):
    alpha = np.array(1.5, np.float32)
    beta = np.array([100.0, 10.0, 1.0], np.float32)

    def add(net, t):
        layer = net.add_fill((2, 3, 4), trt.FillOperation.LINSPACE, trt.float32)
        layer.set_input(1, const(net, alpha))
        layer.set_input(2, const(net, beta))
        return [layer.get_output(0), net.add_identity(t[0]).get_output(0)]

    got, _ = run_layer(add, {"x": np.zeros(1, np.float32)}, device)
    i, j, k = np.meshgrid(np.arange(2), np.arange(3), np.arange(4), indexing="ij")
    assert_close(got, 1.5 + 100.0 * i + 10.0 * j + 1.0 * k)


def test_fill_shape_from_shape_tensor(device):
    """Shape input from a shape computation: Fill(shape(x)) like ONNX ConstantOfShape/Range chains."""
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 3))
    layer = net.add_fill((), trt.FillOperation.LINSPACE, trt.float32)
    layer.set_input(0, net.add_shape(x).get_output(0))
    layer.set_input(1, const(net, np.array(2.0, np.float32)))
    layer.set_input(2, const(net, np.array([3.0, 1.0], np.float32)))
    assert tuple(layer.get_output(0).shape) == (-1, -1)
    _output(layer, net)
    prof = [{"x": ((1, 3), (2, 3), (5, 3))}]
    for rows in (1, 4):
        got = build_and_run(builder, net, {"x": np.zeros((rows, 3), np.float32)}, device, prof)["y"]
        i, j = np.meshgrid(np.arange(rows), np.arange(3), indexing="ij")
        assert_close(got, 2.0 + 3.0 * i + j)


@pytest.mark.parametrize("op", [trt.FillOperation.RANDOM_UNIFORM, trt.FillOperation.RANDOM_NORMAL])
def test_fill_random_is_reproducible_and_distributed(op, device):
    def make(seed):
        def add(net, t):
            layer = net.add_fill((200, 50), op, trt.float32)
            layer.alpha, layer.beta = (-1.0, 3.0)
            layer.seed = seed
            return [layer.get_output(0), net.add_identity(t[0]).get_output(0)]

        return run_layer(add, {"x": np.zeros(1, np.float32)}, device)[0]

    a, b, c = make(7), make(7), make(8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    if op == trt.FillOperation.RANDOM_UNIFORM:
        assert a.min() >= -1.0 and a.max() <= 3.0
        assert abs(a.mean() - 1.0) < 0.1 and abs(a.std() - 4 / np.sqrt(12)) < 0.1
    else:
        assert abs(a.mean() + 1.0) < 0.1 and abs(a.std() - 3.0) < 0.1


def test_fill_bad_inputs():
    builder, net = new_network()
    layer = net.add_fill((2, 3), trt.FillOperation.LINSPACE, trt.float32)
    layer.name = "fill_nd_static"
    _output(layer, net)
    assert_build_fails(builder, net, "fill_nd_static", "set_input(2)")

    builder, net = new_network()
    layer = net.add_fill((4,), trt.FillOperation.RANDOM_UNIFORM, trt.int32)
    layer.name = "rand_int"
    _output(layer, net)
    assert_build_fails(builder, net, "rand_int", "cannot produce INT32")

    builder, net = new_network()
    layer = net.add_fill((4,), trt.FillOperation.LINSPACE, trt.float32)
    layer.set_input(1, const(net, np.array(1.0, np.float32)))
    layer.name = "alpha_only"
    _output(layer, net)
    assert_build_fails(builder, net, "alpha_only", "both be static or both be inputs")


# ----------------------------------------------------------------------------------------------- cumulative
def ref_cumsum(x, axis, exclusive, reverse):
    x = np.flip(x, axis) if reverse else x
    c = np.cumsum(x.astype(np.float64) if x.dtype.kind == "f" else x, axis=axis)
    if exclusive:
        c = c - (x.astype(np.float64) if x.dtype.kind == "f" else x)
    return np.flip(c, axis) if reverse else c


@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("shape,axis", [((7,), 0), ((3, 5), 1), ((4, 2, 3), -3)])
def test_cumulative(exclusive, reverse, shape, axis, device):
    x = RNG.standard_normal(shape)

    def add(net, t):
        ax = const(net, np.array(axis, np.int32))
        return net.add_cumulative(t[0], ax, trt.CumulativeOperation.SUM, exclusive, reverse)

    (got,) = run_layer(add, {"x": x}, device)
    assert_close(got, ref_cumsum(x.astype(np.float32), axis, exclusive, reverse), atol=1e-5)


def test_cumulative_int_axis_and_int_data(device):
    x = RNG.integers(-50, 50, (3, 6)).astype(np.int32)
    (got,) = run_layer(lambda net, t: net.add_cumulative(t[0], 1, trt.CumulativeOperation.SUM, True, False),
                       {"x": x}, device)
    assert got.dtype == np.int32
    assert_close(got, ref_cumsum(x, 1, True, False))


def test_cumulative_axis_known_only_at_run_time():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (3, 4))
    ax = net.add_input("ax", trt.int32, ())
    layer = net.add_cumulative(x, ax, trt.CumulativeOperation.SUM, False, True)
    layer.name = "cum_dyn_axis"
    _output(layer, net)
    engine = trt.load_engine(builder.build(net, builder.create_builder_config()))
    ctx = engine.create_execution_context()
    xv = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    for axis in (0, 1, -1):
        got = list(ctx.infer({"x": xv, "ax": np.array(axis, np.int32)}).values())[0]
        ref = np.flip(np.cumsum(np.flip(xv.astype(np.float64), axis), axis), axis)
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(trt.InferrtError, match="cum_dyn_axis"):
        ctx.infer({"x": xv, "ax": np.array(2, np.int32)})


def test_cumulative_bad_inputs():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (3, 4))
    layer = net.add_cumulative(x, 2, trt.CumulativeOperation.SUM, False, False)
    layer.name = "cum_axis"
    _output(layer, net)
    assert_build_fails(builder, net, "cum_axis", "out of range")


# ----------------------------------------------------------------------------------------------- assertion
def _assert_network(msg="x must be positive", device="cpu"):
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1,))
    zero = const(net, np.zeros((1,), np.float32))
    cond = net.add_elementwise(x, zero, trt.ElementWiseOperation.GREATER).get_output(0)
    layer = net.add_assertion(cond, msg)
    layer.name = "positive_check"
    assert isinstance(layer, trt.IAssertionLayer) and layer.num_outputs == 0 and layer.message == msg
    _output(net.add_identity(x), net)
    config = builder.create_builder_config()
    config.device = device
    p = builder.create_optimization_profile()
    p.set_shape("x", (1,), (4,), (8,))
    config.add_optimization_profile(p)
    return trt.Runtime(builder.logger).deserialize_cuda_engine(builder.build(net, config))


def test_assertion_passes_and_fails_with_message(device):
    engine = _assert_network(device=device)
    ctx = engine.create_execution_context()
    ok = np.array([1.0, 2.0, 0.5], np.float32)
    assert_close(ctx.infer({"x": ok})["y"], ok)
    with pytest.raises(RuntimeError, match="positive_check.*x must be positive"):
        ctx.infer({"x": np.array([1.0, -2.0], np.float32)})


def test_assertion_execute_async_v3_returns_false():
    engine = _assert_network("no negatives")
    ctx = engine.create_execution_context()
    x = np.array([3.0, -1.0, 2.0], np.float32)
    y = np.empty(3, np.float32)
    ctx.set_input_shape("x", (3,))
    ctx.set_tensor_address("x", x.ctypes.data)
    ctx.set_tensor_address("y", y.ctypes.data)
    assert not ctx.execute_async_v3(0)
    x[1] = 1.0
    assert ctx.execute_async_v3(0)
    assert_close(y, x)


def test_assertion_known_false_fails_build():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2, 3))
    shp = net.add_shape(x).get_output(0)
    cond = net.add_elementwise(shp, const(net, np.array([2, 4], np.int64)),
                               trt.ElementWiseOperation.EQUAL).get_output(0)
    layer = net.add_assertion(cond, "second dim must be 4")
    layer.name = "dim_check"
    _output(net.add_identity(x), net)
    assert_build_fails(builder, net, "dim_check", "second dim must be 4")


def test_assertion_bad_condition_type():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2,))
    layer = net.add_assertion(x, "m")
    layer.name = "typed"
    _output(net.add_identity(x), net)
    assert_build_fails(builder, net, "typed", "BOOL")


def test_symbolic_shapes_with_unknown_dims():
    _, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 6))
    tk = net.add_topk(x, trt.TopKOperation.MAX, 4, 2)
    assert tuple(tk.get_output(0).shape) == (-1, 4) and tuple(tk.get_output(1).shape) == (-1, 4)
    tk0 = net.add_topk(x, trt.TopKOperation.MAX, 3, 1)         # k against an unknown dim: checked at run time
    assert tuple(tk0.get_output(0).shape) == (3, 6)
    c = net.add_input("c", trt.bool, (-1, 1))
    e = net.add_input("e", trt.float32, (1, -1))
    assert tuple(net.add_select(c, x, e).get_output(0).shape) == (-1, 6)
    cu = net.add_cumulative(x, 0, trt.CumulativeOperation.SUM, False, True)
    assert tuple(cu.get_output(0).shape) == (-1, 6)
    fill = net.add_fill((), trt.FillOperation.RANDOM_NORMAL, trt.float16)
    fill.set_input(0, net.add_shape(x).get_output(0))
    assert tuple(fill.get_output(0).shape) == (-1, -1)          # the shape tensor's value is unknown
    assert fill.get_output(0).dtype == trt.float16
    assert not net._layer_errors()


def test_topk_k_exceeding_runtime_dim_fails_build_at_profile():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 6))
    layer = net.add_topk(x, trt.TopKOperation.MAX, 3, 1)
    layer.name = "tk_rows"
    _output(layer, net)
    config = builder.create_builder_config()
    p = builder.create_optimization_profile()
    p.set_shape("x", (1, 6), (4, 6), (8, 6))
    config.add_optimization_profile(p)
    with pytest.raises(trt.BuildError, match="k = 3 exceeds"):
        builder.build(net, config)


def test_fill_shape_from_network_input(device):
    builder, net = new_network()
    s = net.add_input("s", trt.int64, (1,))
    layer = net.add_fill((), trt.FillOperation.LINSPACE, trt.int32)
    layer.set_input(0, s)
    layer.set_input(1, const(net, np.array(10, np.int32)))
    layer.set_input(2, const(net, np.array([-3], np.int32)))
    assert tuple(layer.get_output(0).shape) == (-1,)
    _output(layer, net)
    for n in (0, 1, 9):
        got = build_and_run(builder, net, {"s": np.array([n], np.int64)}, device)["y"]
        assert got.dtype == np.int32
        assert_close(got, 10 - 3 * np.arange(n))
