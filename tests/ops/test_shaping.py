"""Padding, Squeeze and Unsqueeze against numpy references, static and dynamic shapes."""
import numpy as np
import pytest

import inferrt as trt
from tests.helpers import assert_build_fails, assert_close, build_and_run, const, new_network, run_layer

RNG = np.random.default_rng(2)
NP_MODE = {"constant": "constant", "reflect": "reflect", "edge": "edge", "wrap": "wrap"}




def ref_pad(x, pre, post, mode="constant", value=0.0):
    """Crop (negative pads) by slicing, then np.pad the innermost len(pre) dims."""
    x = x.astype(np.float64)
    n = len(pre)
    lead = x.ndim - n
    sl = [slice(None)] * lead + [slice(max(-p, 0), x.shape[lead + j] - max(-q, 0))
                                 for j, (p, q) in enumerate(zip(pre, post))]
    x = x[tuple(sl)]
    widths = [(0, 0)] * lead + [(max(p, 0), max(q, 0)) for p, q in zip(pre, post)]
    kw = {"constant_values": value} if mode == "constant" else {}
    return np.pad(x, widths, mode=NP_MODE[mode], **kw)


# ----------------------------------------------------------------------------------------------- padding
@pytest.mark.parametrize("shape,pre,post", [((1, 2, 4, 5), (1, 2), (2, 1)), ((2, 3, 4), (0, 1, 2), (1, 0, 3)),
                                            ((2, 6), (2,), (0,)), ((1, 1, 5, 6), (-1, 2), (1, -2))])
def test_padding_constant(shape, pre, post, device):
    x = RNG.standard_normal(shape)
    (got,) = run_layer(lambda net, t: net.add_padding_nd(t[0], pre, post), {"x": x}, device)
    assert_close(got, ref_pad(x, pre, post))


@pytest.mark.parametrize("mode", ["reflect", "edge", "wrap"])
@pytest.mark.parametrize("shape,pre,post", [((2, 4, 5), (1, 3), (2, 2)), ((3, 6), (2,), (4,)),
                                            ((1, 5, 4), (-1, 1), (2, -1))])
def test_padding_modes(mode, shape, pre, post, device):
    x = RNG.standard_normal(shape)

    def add(net, t):
        layer = net.add_padding_nd(t[0], pre, post)
        layer.mode = mode
        return layer

    (got,) = run_layer(add, {"x": x}, device)
    assert_close(got, ref_pad(x, pre, post, mode))


def test_padding_fill_value_and_int(device):
    x = RNG.integers(-9, 9, (2, 3, 3)).astype(np.int32)

    def add(net, t):
        layer = net.add_padding_nd(t[0], (1, 0), (0, 2))
        layer.set_input(1, const(net, np.array(-7, np.int32)))
        return layer

    (got,) = run_layer(add, {"x": x}, device)
    assert_close(got, ref_pad(x, (1, 0), (0, 2), value=-7).astype(np.int32))


def test_padding_pads_tensor(device):
    x = RNG.standard_normal((2, 3, 4))

    def add(net, t):
        layer = net.add_padding_nd(t[0], (0, 0), (0, 0))
        layer.set_input(2, const(net, np.array([1, -1, 0, 2], np.int64)))
        layer.mode = "edge"
        return layer

    (got,) = run_layer(add, {"x": x}, device)
    assert_close(got, ref_pad(x, (1, -1), (0, 2), "edge"))


def test_padding_properties():
    _, net = new_network()
    x = net.add_input("x", trt.float32, (1, 2, 3, 3))
    layer = net.add_padding_nd(x, (1, 1), (2, 0))
    assert isinstance(layer, trt.IPaddingLayer) and layer.type == trt.LayerType.PADDING
    assert tuple(layer.pre_padding_nd) == (1, 1) and tuple(layer.post_padding_nd) == (2, 0)
    layer.post_padding_nd = (0, 3)
    assert tuple(layer.get_output(0).shape) == (1, 2, 4, 7)


def test_padding_dynamic_shapes(device):
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 3, -1))
    layer = net.add_padding_nd(x, (1, 2), (0, 1))
    layer.mode = "reflect"
    assert tuple(layer.get_output(0).shape) == (-1, 4, -1)
    layer.get_output(0).name = "y"
    net.mark_output(layer.get_output(0))
    prof = [{"x": ((1, 3, 3), (2, 3, 5), (4, 3, 9))}]
    for shape in [(1, 3, 3), (4, 3, 8)]:
        xv = RNG.standard_normal(shape).astype(np.float32)
        got = build_and_run(builder, net, {"x": xv}, device, prof)["y"]
        assert_close(got, ref_pad(xv, (1, 2), (0, 1), "reflect"))


def test_padding_bad_inputs():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2, 3))
    layer = net.add_padding_nd(x, (-4,), (0,))
    layer.name = "crop_too_much"
    net.mark_output(layer.get_output(0))
    assert_build_fails(builder, net, "crop_too_much", "crops more than")

    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2, 3))
    layer = net.add_padding_nd(x, (1, 1, 1), (0, 0, 0))
    layer.name = "too_many"
    net.mark_output(layer.get_output(0))
    assert_build_fails(builder, net, "too_many", "rank 2")

    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2, 3))
    layer = net.add_padding_nd(x, (1,), (1,))
    layer.name = "bad_mode"
    with pytest.raises(TypeError, match="'bad_mode': padding: attribute 'mode': 'mirror' is not one of"):
        layer.mode = "mirror"  # refused when set (an enum-like attribute), not at build time


# ----------------------------------------------------------------------------------------------- squeeze / unsqueeze
@pytest.mark.parametrize("shape,axes", [((1, 3, 1, 4), [0, 2]), ((2, 1), [-1]), ((1,), [0]), ((3, 1, 2), [])])
@pytest.mark.parametrize("as_tensor", [False, True])
def test_squeeze(shape, axes, as_tensor, device):
    x = RNG.standard_normal(shape)

    def add(net, t):
        ax = const(net, np.array(axes, np.int32)) if as_tensor else axes
        return net.add_squeeze(t[0], ax)

    (got,) = run_layer(add, {"x": x}, device)
    assert_close(got, np.squeeze(x, tuple(axes)) if axes else x)


@pytest.mark.parametrize("shape,axes", [((3, 4), [0]), ((3, 4), [1, -1]), ((2,), [0, 2, 3]), ((), [0])])
@pytest.mark.parametrize("as_tensor", [False, True])
def test_unsqueeze(shape, axes, as_tensor, device):
    x = RNG.standard_normal(shape)

    def add(net, t):
        src = t[0] if t else const(net, x.astype(np.float32))
        ax = const(net, np.array(axes, np.int64)) if as_tensor else axes
        return net.add_unsqueeze(src, ax)

    (got,) = run_layer(add, {"x": x} if x.ndim else {}, device)
    assert_close(got, np.expand_dims(x, tuple(axes)))


def test_squeeze_unsqueeze_dynamic_shapes(device):
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 1, -1))
    sq = net.add_squeeze(x, [1])
    assert tuple(sq.get_output(0).shape) == (-1, -1)
    un = net.add_unsqueeze(sq.get_output(0), net.add_constant((2,), np.array([0, -1], np.int32)).get_output(0))
    assert tuple(un.get_output(0).shape) == (1, -1, -1, 1)
    sq.get_output(0).name = "s"
    un.get_output(0).name = "u"
    net.mark_output(sq.get_output(0))
    net.mark_output(un.get_output(0))
    prof = [{"x": ((1, 1, 1), (2, 1, 3), (5, 1, 6))}]
    for shape in [(1, 1, 1), (5, 1, 4)]:
        xv = RNG.standard_normal(shape).astype(np.float32)
        got = build_and_run(builder, net, {"x": xv}, device, prof)
        assert_close(got["s"], xv.reshape(shape[0], shape[2]))
        assert_close(got["u"], xv.reshape(1, shape[0], shape[2], 1))


def test_squeeze_axes_from_shape_computation(device):
    """Axes computed by layers (a shape tensor) are resolved through value propagation."""
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (4, 1, 2))
    shp = net.add_shape(x).get_output(0)                                     # [4, 1, 2] as a shape tensor
    one = net.add_slice(shp, (1,), (1,), (1,)).get_output(0)               # [1]
    layer = net.add_squeeze(x, one)
    assert tuple(layer.get_output(0).shape) == (4, 2)
    layer.get_output(0).name = "y"
    net.mark_output(layer.get_output(0))
    xv = RNG.standard_normal((4, 1, 2)).astype(np.float32)
    assert_close(build_and_run(builder, net, {"x": xv}, device)["y"], xv[:, 0, :])


def test_squeeze_unknown_axes_value_gives_dynamic_dims():
    _, net = new_network()
    x = net.add_input("x", trt.float32, (3, 1, 1))
    axes = net.add_input("axes", trt.int32, (2,))
    assert tuple(net.add_squeeze(x, axes).get_output(0).shape) == (-1,)
    assert tuple(net.add_unsqueeze(x, axes).get_output(0).shape) == (-1,) * 5


def test_squeeze_bad_inputs():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2, 3))
    layer = net.add_squeeze(x, [1])
    layer.name = "sq_not_one"
    net.mark_output(layer.get_output(0))
    assert_build_fails(builder, net, "sq_not_one", "not 1")

    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2, 1))
    layer = net.add_unsqueeze(x, [0, 0])
    layer.name = "dup"
    net.mark_output(layer.get_output(0))
    assert_build_fails(builder, net, "dup", "twice")

    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2, 1))
    layer = net.add_unsqueeze(x, [5])
    layer.name = "range"
    net.mark_output(layer.get_output(0))
    assert_build_fails(builder, net, "range", "out of range")


def test_squeeze_runtime_dim_not_one():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 3))
    layer = net.add_squeeze(x, [0])
    net.mark_output(layer.get_output(0))
    config = builder.create_builder_config()
    p = builder.create_optimization_profile()
    p.set_shape("x", (1, 3), (1, 3), (2, 3))
    config.add_optimization_profile(p)
    with pytest.raises(trt.BuildError, match="not 1"):
        builder.build(net, config)
