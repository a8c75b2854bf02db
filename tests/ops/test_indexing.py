"""Gather, Scatter, OneHot, NonZero and ReverseSequence against independent numpy references."""
import numpy as np
import pytest

import inferrt as trt
from tests.helpers import assert_build_fails, assert_close, build_and_run, const, new_network, run_layer

RNG = np.random.default_rng(1)




# ----------------------------------------------------------------------------------------------- references
def ref_gather_default(x, idx, axis, e):
    if e == 0:
        return np.take(x, idx, axis=axis)
    return np.stack([np.take(x[b], idx[b], axis=axis - 1) for b in range(x.shape[0])])


def ref_gather_elements(x, idx, axis):
    out = np.empty(idx.shape, x.dtype)
    for pos in np.ndindex(*idx.shape):
        src = list(pos)
        i = int(idx[pos])
        src[axis] = i + x.shape[axis] if i < 0 else i
        out[pos] = x[tuple(src)]
    return out


def ref_gather_nd(x, idx, b):
    k = idx.shape[-1]
    out = np.empty(idx.shape[:-1] + x.shape[b + k:], x.dtype)
    for pos in np.ndindex(*idx.shape[:-1]):
        key = list(pos[:b])
        for j, v in enumerate(idx[pos]):
            n = x.shape[b + j]
            key.append(int(v) + n if v < 0 else int(v))
        out[pos] = x[tuple(key)]
    return out


def _combine(old, new, reduction):
    return {"none": lambda: new, "add": lambda: old + new, "mul": lambda: old * new,
            "max": lambda: max(old, new), "min": lambda: min(old, new)}[reduction]()


def ref_scatter_elements(x, idx, upd, axis, reduction):
    out = x.astype(np.float64).copy()
    for pos in np.ndindex(*idx.shape):
        dst = list(pos)
        i = int(idx[pos])
        dst[axis] = i + x.shape[axis] if i < 0 else i
        out[tuple(dst)] = _combine(out[tuple(dst)], upd[pos], reduction)
    return out


def ref_scatter_nd(x, idx, upd, reduction):
    out = x.astype(np.float64).copy()
    for pos in np.ndindex(*idx.shape[:-1]):
        key = tuple(int(v) + x.shape[j] if v < 0 else int(v) for j, v in enumerate(idx[pos]))
        block = upd[pos]
        if reduction == "none":
            out[key] = block
        else:
            it = np.nditer(out[key], flags=["multi_index"], op_flags=["readwrite"]) if out[key].ndim else None
            if it is None:
                out[key] = _combine(out[key], block, reduction)
            else:
                for cell in it:
                    cell[...] = _combine(float(cell), np.asarray(block)[it.multi_index], reduction)
    return out


# ----------------------------------------------------------------------------------------------- gather
@pytest.mark.parametrize("shape,axis,ishape", [((5, 4), 0, (3,)), ((3, 6, 2), 1, (2, 2)), ((4, 3), -1, ()),
                                               ((2, 3, 4, 5), 3, (6,))])
@pytest.mark.parametrize("itype", [np.int32, np.int64])
def test_gather_default(shape, axis, ishape, itype, device):
    x = RNG.standard_normal(shape)
    n = shape[axis]
    idx = RNG.integers(-n, n, ishape).astype(itype)
    (got,) = run_layer(lambda net, t: net.add_gather(t[0], const(net, idx), axis), {"x": x}, device)
    assert_close(got, ref_gather_default(x, idx, axis % len(shape), 0))


def test_gather_default_runtime_indices_and_elementwise_dims(device):
    x = RNG.standard_normal((3, 5, 4))
    idx = RNG.integers(-5, 5, (3, 2, 2)).astype(np.int32)

    def add(net, t):
        layer = net.add_gather(t[0], t[1], 1)
        layer.num_elementwise_dims = 1
        return layer

    (got,) = run_layer(add, {"x": x, "i": idx}, device)
    assert got.shape == (3, 2, 2, 4)
    assert_close(got, ref_gather_default(x, idx, 1, 1))


def test_gather_int_data(device):
    x = RNG.integers(-100, 100, (4, 6)).astype(np.int64)
    idx = np.array([[5, 0], [-1, 2]], np.int64)
    (got,) = run_layer(lambda net, t: net.add_gather(t[0], t[1], 1), {"x": x, "i": idx}, device)
    assert_close(got, ref_gather_default(x, idx, 1, 0))


@pytest.mark.parametrize("shape,ishape,axis", [((4, 5), (3, 5), 0), ((3, 4, 2), (3, 6, 2), 1), ((6,), (9,), 0),
                                               ((2, 3, 4), (1, 2, 4), -1)])
def test_gather_elements(shape, ishape, axis, device):
    x = RNG.standard_normal(shape)
    n = shape[axis]
    idx = RNG.integers(-n, n, ishape).astype(np.int32)

    def add(net, t):
        layer = net.add_gather_v2(t[0], t[1], trt.GatherMode.ELEMENT)
        layer.axis = axis
        return layer

    (got,) = run_layer(add, {"x": x, "i": idx}, device)
    assert_close(got, ref_gather_elements(x, idx, axis % len(shape)))


@pytest.mark.parametrize("shape,ishape,b", [((4, 5, 3), (2, 2), 0), ((4, 5, 3), (3, 3), 0), ((2, 3, 4), (2, 5, 1), 1),
                                            ((2, 3, 4, 2), (2, 3, 2), 1), ((5,), (1,), 0)])
def test_gather_nd(shape, ishape, b, device):
    x = RNG.standard_normal(shape)
    k = ishape[-1]
    idx = np.stack([RNG.integers(-shape[b + j], shape[b + j], ishape[:-1]) for j in range(k)], -1).astype(np.int64)

    def add(net, t):
        layer = net.add_gather_v2(t[0], t[1], trt.GatherMode.ND)
        layer.num_elementwise_dims = b
        return layer

    (got,) = run_layer(add, {"x": x, "i": idx}, device)
    assert_close(got, ref_gather_nd(x, idx, b))


def test_gather_dynamic_shapes(device):
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 6))
    i = net.add_input("i", trt.int32, (-1,))
    layer = net.add_gather(x, i, 1)
    assert tuple(layer.get_output(0).shape) == (-1, -1)
    layer.get_output(0).name = "y"
    net.mark_output(layer.get_output(0))
    profiles = [{"x": ((1, 6), (3, 6), (8, 6)), "i": ((1,), (4,), (10,))}]
    for rows, m in [(2, 3), (7, 9)]:
        xv = RNG.standard_normal((rows, 6)).astype(np.float32)
        iv = RNG.integers(-6, 6, (m,)).astype(np.int32)
        got = build_and_run(builder, net, {"x": xv, "i": iv}, device, profiles)["y"]
        assert_close(got, ref_gather_default(xv, iv, 1, 0))


@pytest.mark.parametrize("indices,axis,name,words", [
    (np.array([0.5], np.float32), 0, "bad_gather", "INT32 or INT64"),
    (np.array([1, 4], np.int32), 1, "oob", "size 4"),
    (np.array([1], np.int32), 2, "axis_bad", "out of range"),
], ids=["float_indices", "index_out_of_bounds", "axis_out_of_range"])
def test_gather_bad_inputs(indices, axis, name, words):
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (3, 4))
    layer = net.add_gather(x, const(net, indices), axis)
    layer.name = name
    net.mark_output(layer.get_output(0))
    assert_build_fails(builder, net, name, words)


def test_gather_runtime_out_of_range_cpu():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (3, 4))
    i = net.add_input("i", trt.int32, (2,))
    net.mark_output(net.add_gather(x, i, 0).get_output(0))
    with pytest.raises(RuntimeError, match="out of range"):
        build_and_run(builder, net, {"x": np.zeros((3, 4), np.float32), "i": np.array([0, 3], np.int32)})


# ----------------------------------------------------------------------------------------------- scatter
@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
@pytest.mark.parametrize("shape,ishape,axis", [((4, 5), (2, 5), 0), ((3, 4, 2), (3, 2, 2), 1)])
def test_scatter_elements(reduction, shape, ishape, axis, device):
    x = RNG.standard_normal(shape)
    n = shape[axis]
    if reduction == "none":   # unique target positions along the axis: the result is order-independent
        idx = np.moveaxis(np.stack([RNG.permutation(np.arange(-n, 0))[:ishape[axis]]
                                    for _ in range(int(np.prod(ishape)) // ishape[axis])], -1).reshape(
            (ishape[axis],) + tuple(d for j, d in enumerate(ishape) if j != axis)), 0, axis).astype(np.int32)
    else:
        idx = RNG.integers(-n, n, ishape).astype(np.int32)
    upd = RNG.standard_normal(ishape)

    def add(net, t):
        layer = net.add_scatter(t[0], t[1], t[2], trt.ScatterMode.ELEMENT)
        layer.axis = axis
        layer.reduction = reduction
        return layer

    (got,) = run_layer(add, {"x": x, "i": idx, "u": upd}, device)
    assert_close(got, ref_scatter_elements(x.astype(np.float32), idx, upd.astype(np.float32), axis, reduction))


@pytest.mark.parametrize("reduction", ["none", "add", "max"])
@pytest.mark.parametrize("shape,idx", [((4, 3), [[0], [-1]]), ((2, 3, 4), [[0, 1], [1, -3]]),
                                       ((2, 3), [[[0, 1], [1, 2]]])])
def test_scatter_nd(reduction, shape, idx, device):
    x = RNG.standard_normal(shape)
    idx = np.array(idx, np.int64)
    upd = RNG.standard_normal(idx.shape[:-1] + shape[idx.shape[-1]:])

    def add(net, t):
        layer = net.add_scatter(t[0], const(net, idx), t[1], trt.ScatterMode.ND)
        layer.reduction = reduction
        return layer

    (got,) = run_layer(add, {"x": x, "u": upd}, device)
    assert_close(got, ref_scatter_nd(x.astype(np.float32), idx, upd.astype(np.float32), reduction))


def test_scatter_nd_int_mul_min(device):
    x = RNG.integers(-5, 6, (5,)).astype(np.int32)
    idx = np.array([[1], [3], [1]], np.int32)
    upd = np.array([2, -3, 4], np.int32)
    for red in ("mul", "min"):
        def add(net, t):
            layer = net.add_scatter(t[0], const(net, idx), t[1], trt.ScatterMode.ND)
            layer.reduction = red
            return layer

        (got,) = run_layer(add, {"x": x, "u": upd}, device)
        assert_close(got, ref_scatter_nd(x, idx, upd, red).astype(np.int32), what=red)


@pytest.mark.parametrize("idx_shape,upd_shape,mode,words", [
    ((2, 1), (2, 2), trt.ScatterMode.ND, ("updates must have shape", "(2, 3)")),
    ((2, 5), (2, 5), trt.ScatterMode.ELEMENT, ("indices dimension 1 (5) exceeds",)),
], ids=["nd_updates_shape", "element_indices_too_wide"])
def test_scatter_bad_inputs(idx_shape, upd_shape, mode, words):
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (4, 3))
    u = net.add_input("u", trt.float32, upd_shape)
    layer = net.add_scatter(x, const(net, np.zeros(idx_shape, np.int32)), u, mode)
    layer.name = "sc"
    net.mark_output(layer.get_output(0))
    assert_build_fails(builder, net, "sc", *words)


def test_scatter_reduction_refused_when_set():
    _, net = new_network()
    x = net.add_input("x", trt.float32, (4, 3))
    layer = net.add_scatter(x, const(net, np.zeros((4, 3), np.int32)), x, trt.ScatterMode.ELEMENT)
    layer.name = "sc2"
    with pytest.raises(TypeError, match="'sc2': scatter: attribute 'reduction': 'mean' is not one of"):
        layer.reduction = "mean"  # an enum-like attribute is refused when set, not at build time


# ----------------------------------------------------------------------------------------------- one hot
@pytest.mark.parametrize("ishape,depth,axis", [((4,), 5, -1), ((2, 3), 4, 0), ((2, 3), 3, 1), ((), 6, 0)])
def test_one_hot(ishape, depth, axis, device):
    idx = RNG.integers(-depth - 1, depth + 1, ishape).astype(np.int32)   # includes out-of-range values
    vals = np.array([-2.0, 7.5], np.float32)

    def add(net, t):
        return net.add_one_hot(t[0], const(net, vals), const(net, np.array(depth, np.int32)), axis)

    (got,) = run_layer(add, {"i": idx}, device)
    r = idx.ndim
    ax = axis % (r + 1)
    ref = np.full(ishape[:ax] + (depth,) + ishape[ax:], -2.0)
    for pos in np.ndindex(*ishape):
        v = int(idx[pos])
        v = v + depth if v < 0 else v
        if 0 <= v < depth:
            ref[pos[:ax] + (v,) + pos[ax:]] = 7.5
    assert_close(got, ref)


def test_one_hot_bad_values():
    builder, net = new_network()
    i = net.add_input("i", trt.int32, (3,))
    layer = net.add_one_hot(i, const(net, np.zeros(3, np.float32)), const(net, np.array(4, np.int32)), -1)
    layer.name = "oh"
    net.mark_output(layer.get_output(0))
    assert_build_fails(builder, net, "oh", "2 elements")


# ----------------------------------------------------------------------------------------------- non zero
def _nonzero_network(shape, dtype, device="cpu"):
    builder, net = new_network()
    x = net.add_input("x", dtype, shape)
    layer = net.add_non_zero(x)
    out = layer.get_output(0)
    assert out.dtype == trt.int64 and tuple(out.shape) == (len(shape), -1)
    out.name = "nz"
    net.mark_output(out)
    config = builder.create_builder_config()
    config.device = device   # the raw-address tests below pass host pointers
    engine = trt.Runtime(builder.logger).deserialize_cuda_engine(builder.build(net, config))
    return engine


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 2)])
def test_non_zero_infer(shape, device):
    x = (RNG.standard_normal(shape) * (RNG.random(shape) > 0.5)).astype(np.float32)
    (got,) = run_layer(lambda net, t: net.add_non_zero(t[0]), {"x": x}, device)
    assert_close(got, np.array(np.nonzero(x), np.int64).reshape(len(shape), -1))


def test_non_zero_all_zero_and_bool(device):
    (got,) = run_layer(lambda net, t: net.add_non_zero(t[0]), {"x": np.zeros((2, 3), np.float32)}, device)
    assert got.shape == (2, 0)
    b = RNG.random((3, 3)) > 0.4
    (got,) = run_layer(lambda net, t: net.add_non_zero(t[0]), {"x": b}, device)
    assert_close(got, np.array(np.nonzero(b), np.int64))


def test_non_zero_output_allocator():
    import torch

    class Allocator(trt.IOutputAllocator):
        def __init__(self):
            super().__init__()
            self.buffers, self.shapes = {}, {}

        def reallocate_output_async(self, name, memory, size, alignment, stream):
            self.buffers[name] = torch.empty(max(size, 1), dtype=torch.uint8)
            return self.buffers[name].data_ptr()

        def notify_shape(self, name, shape):
            self.shapes[name] = tuple(shape)

    engine = _nonzero_network((3, 4), trt.float32)
    ctx = engine.create_execution_context()
    x = np.zeros((3, 4), np.float32)
    x[0, 1], x[2, 0], x[2, 3] = 1.0, -2.0, 0.5
    ctx.set_input_shape("x", (3, 4))
    ctx.set_tensor_address("x", x.ctypes.data)
    alloc = Allocator()
    assert ctx.set_output_allocator("nz", alloc)
    assert ctx.execute_async_v3(0)
    assert alloc.shapes["nz"] == (2, 3)
    got = alloc.buffers["nz"][:6 * 8].view(torch.int64).reshape(2, 3).numpy()
    assert_close(got, np.array(np.nonzero(x), np.int64))


def test_non_zero_execute_without_allocator_fails():
    engine = _nonzero_network((4,), trt.float32)
    ctx = engine.create_execution_context()
    x = np.array([0, 1, 0, 2], np.float32)
    ctx.set_input_shape("x", (4,))
    ctx.set_tensor_address("x", x.ctypes.data)
    assert not ctx.execute_async_v3(0)


# ----------------------------------------------------------------------------------------------- reverse sequence
def ref_reverse_sequence(x, lens, b, s):
    out = x.astype(np.float64).copy()
    xt = np.moveaxis(x, (b, s), (0, 1))
    ot = np.moveaxis(out, (b, s), (0, 1))
    for i, n in enumerate(lens):
        ot[i, :n] = xt[i, :n][::-1]
    return out


@pytest.mark.parametrize("shape,b,s", [((4, 3), 1, 0), ((3, 5), 0, 1), ((5, 2, 3), 1, 0), ((2, 3, 6), 0, 2)])
def test_reverse_sequence(shape, b, s, device):
    x = RNG.standard_normal(shape)
    lens = RNG.integers(0, shape[s] + 1, shape[b]).astype(np.int32)

    def add(net, t):
        layer = net.add_reverse_sequence(t[0], t[1])
        layer.batch_axis, layer.sequence_axis = b, s
        return layer

    (got,) = run_layer(add, {"x": x, "lens": lens}, device)
    assert_close(got, ref_reverse_sequence(x.astype(np.float32), lens, b, s))


def test_reverse_sequence_bad_axes():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (3, 4))
    layer = net.add_reverse_sequence(x, const(net, np.array([1, 2, 3], np.int32)))
    layer.batch_axis = 0
    layer.sequence_axis = 0
    layer.name = "rs"
    net.mark_output(layer.get_output(0))
    assert_build_fails(builder, net, "rs", "must differ")


# ----------------------------------------------------------------------------------------------- chains
def test_shape_gather_reshape_chain_dynamic(device):
    """Shape -> Gather -> Concat -> reshape dims (the ONNX export idiom): gather's value propagation at run time."""
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 4, 6))
    shp = net.add_shape(x).get_output(0)
    dims = net.add_gather(shp, const(net, np.array([0, -1], np.int64)), 0).get_output(0)      # [N, 6]
    four = const(net, np.array([4], np.int64))
    target = net.add_concatenation([dims, four]).get_output(0)                               # [N, 6, 4]
    sh = net.add_shuffle(x)
    sh.first_transpose = (0, 2, 1)
    sh.set_input(1, target)
    sh.get_output(0).name = "y"
    net.mark_output(sh.get_output(0))
    prof = [{"x": ((1, 4, 6), (2, 4, 6), (5, 4, 6))}]
    for n in (1, 5):
        xv = RNG.standard_normal((n, 4, 6)).astype(np.float32)
        got = build_and_run(builder, net, {"x": xv}, device, prof)["y"]
        assert_close(got, xv.transpose(0, 2, 1))


def test_non_zero_feeds_gather_eagerly(device):
    """Data-dependent NonZero -> Squeeze -> Gather: the downstream layers run on the eager path."""
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (7,))
    nz = net.add_non_zero(x).get_output(0)                                   # [1, N]
    idx = net.add_squeeze(nz, [0]).get_output(0)                              # [N]
    layer = net.add_gather(x, idx, 0)
    assert tuple(layer.get_output(0).shape) == (-1,)
    layer.get_output(0).name = "vals"
    net.mark_output(layer.get_output(0))
    xv = np.array([0, 1.5, 0, -2, 3, 0, 0.25], np.float32)
    got = build_and_run(builder, net, {"x": xv}, device)["vals"]
    assert_close(got, xv[xv != 0])


# ----------------------------------------------------------------------------------------------- symbolic shapes
def test_symbolic_shapes_with_unknown_dims():
    _, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 5, -1))
    i = net.add_input("i", trt.int32, (-1, 2))
    g = net.add_gather(x, i, 1)
    assert tuple(g.get_output(0).shape) == (-1, -1, 2, -1)
    ge = net.add_gather_v2(x, net.add_input("ie", trt.int64, (-1, 3, 4)), trt.GatherMode.ELEMENT)
    assert tuple(ge.get_output(0).shape) == (-1, 3, 4)
    gn = net.add_gather_v2(x, net.add_input("in", trt.int64, (7, 2)), trt.GatherMode.ND)
    assert tuple(gn.get_output(0).shape) == (7, -1)
    u = net.add_input("u", trt.float32, (-1, 3, -1))
    sc = net.add_scatter(x, net.add_input("is", trt.int32, (-1, 3, -1)), u, trt.ScatterMode.ELEMENT)
    assert tuple(sc.get_output(0).shape) == (-1, 5, -1)
    depth = net.add_input("depth", trt.int32, ())
    oh = net.add_one_hot(i, const(net, np.array([0, 1], np.float32)), depth, 1)
    assert tuple(oh.get_output(0).shape) == (-1, -1, 2)      # depth unknown at build time
    rs = net.add_reverse_sequence(x, net.add_input("lens", trt.int32, (5,)))
    assert tuple(rs.get_output(0).shape) == (-1, 5, -1)
    nz = net.add_non_zero(x)
    assert tuple(nz.get_output(0).shape) == (3, -1)
    assert not net._layer_errors()


def test_one_hot_depth_from_network_input(device):
    """Depth known only at run time: the engine takes the eager path and sizes the output from the value."""
    builder, net = new_network()
    i = net.add_input("i", trt.int32, (4,))
    d = net.add_input("depth", trt.int32, ())
    layer = net.add_one_hot(i, const(net, np.array([0.0, 1.0], np.float32)), d, -1)
    layer.get_output(0).name = "y"
    net.mark_output(layer.get_output(0))
    iv = np.array([0, 2, -1, 5], np.int32)
    for depth in (3, 6):
        got = build_and_run(builder, net, {"i": iv, "depth": np.array(depth, np.int32)}, device)["y"]
        ref = np.zeros((4, depth))
        for r, v in enumerate(iv):
            v = v + depth if v < 0 else v
            if 0 <= v < depth:
                ref[r, v] = 1.0
        assert_close(got, ref)
