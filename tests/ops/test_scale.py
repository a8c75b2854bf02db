"""IScaleLayer against a numpy float64 reference: out = (x * scale + shift) ^ power."""
import numpy as np
import pytest

import inferrt as trt
from tests.helpers import assert_close, new_network, run_layer

RNG = np.random.default_rng(0)


def ref_scale(x, mode, shift, scale, power, axis):
    x = x.astype(np.float64)
    shape = [1] * x.ndim
    if mode == trt.ScaleMode.CHANNEL:
        shape[axis] = x.shape[axis]
    elif mode == trt.ScaleMode.ELEMENTWISE:
        shape[axis:] = x.shape[axis:]
    sh = 0.0 if shift is None else shift.astype(np.float64).reshape(shape)
    sc = 1.0 if scale is None else scale.astype(np.float64).reshape(shape)
    pw = 1.0 if power is None else power.astype(np.float64).reshape(shape)
    return (x * sc + sh) ** pw


def _coef(mode, shape, axis, lo, hi):
    n = {trt.ScaleMode.UNIFORM: 1, trt.ScaleMode.CHANNEL: shape[axis],
         trt.ScaleMode.ELEMENTWISE: int(np.prod(shape[axis:]))}[mode]
    return RNG.uniform(lo, hi, n).astype(np.float32)


@pytest.mark.parametrize("mode", list(trt.ScaleMode))
@pytest.mark.parametrize("parts", ["all", "shift", "scale", "power"])
def test_add_scale_modes(mode, parts, device):
    x = RNG.uniform(0.5, 2.0, (2, 3, 4, 5))
    shift = _coef(mode, x.shape, 1, 0.1, 1.0) if parts in ("all", "shift") else None
    scale = _coef(mode, x.shape, 1, 0.5, 2.0) if parts in ("all", "scale") else None
    power = _coef(mode, x.shape, 1, 0.5, 2.0) if parts in ("all", "power") else None
    (got,) = run_layer(lambda n, t: n.add_scale(t[0], mode, shift, scale, power), {"x": x}, device)
    assert_close(got, ref_scale(x, mode, shift, scale, power, 1), rtol=1e-5)


@pytest.mark.parametrize("mode,axis", [(trt.ScaleMode.CHANNEL, 3), (trt.ScaleMode.CHANNEL, 0),
                                       (trt.ScaleMode.ELEMENTWISE, 2), (trt.ScaleMode.CHANNEL, -1)])
def test_add_scale_nd_channel_axis(mode, axis, device):
    x = RNG.uniform(0.5, 2.0, (2, 3, 4, 5))
    ax = axis % 4
    shift, scale, power = (_coef(mode, x.shape, ax, 0.1, 1.0), _coef(mode, x.shape, ax, 0.5, 2.0),
                           _coef(mode, x.shape, ax, 1.0, 2.0))

    def add(n, t):
        layer = n.add_scale_nd(t[0], mode, shift, scale, power, axis)
        assert isinstance(layer, trt.IScaleLayer) and layer.channel_axis == axis and layer.mode == mode
        return layer

    (got,) = run_layer(add, {"x": x}, device)
    assert_close(got, ref_scale(x, mode, shift, scale, power, ax), rtol=1e-5)


def test_scale_half_input():
    x = RNG.uniform(0.5, 2.0, (1, 4, 3, 3)).astype(np.float16)
    scale = np.array([1.5, 2.0, 0.5, 3.0], np.float32)
    (got,) = run_layer(lambda n, t: n.add_scale(t[0], trt.ScaleMode.CHANNEL, None, scale, None), {"x": x})
    assert got.dtype == np.float16
    assert_close(got, ref_scale(x, trt.ScaleMode.CHANNEL, None, scale, None, 1))


def test_scale_properties_and_weights_roundtrip():
    _, net = new_network()
    x = net.add_input("x", trt.float32, (1, 2, 2, 2))
    layer = net.add_scale(x, trt.ScaleMode.UNIFORM, shift=np.array([1.0], np.float32))
    assert layer.type == trt.LayerType.SCALE
    np.testing.assert_array_equal(layer.shift.numpy(), [1.0])
    assert layer.scale.size == 0 and layer.channel_axis == 1
    layer.scale = np.array([3.0], np.float32)
    np.testing.assert_array_equal(layer.scale.numpy(), [3.0])


@pytest.mark.parametrize("mode,count", [(trt.ScaleMode.UNIFORM, 2), (trt.ScaleMode.CHANNEL, 4),
                                        (trt.ScaleMode.ELEMENTWISE, 3)])
def test_scale_wrong_weight_count_names_layer(mode, count):
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (1, 3, 2, 2))
    layer = net.add_scale(x, mode, shift=np.ones(count, np.float32))
    layer.name = "my_scale"
    net.mark_output(layer.get_output(0))
    errs = net._layer_errors()
    assert errs and "my_scale" in errs[0] and "shift holds" in errs[0] and mode.name in errs[0]


def test_scale_rejects_integer_input():
    _, net = new_network()
    x = net.add_input("x", trt.int32, (1, 3))
    net.add_scale(x, trt.ScaleMode.UNIFORM, shift=np.ones(1, np.float32))
    assert any("cast the input" in e for e in net._layer_errors())


def test_scale_accepts_trt_weights(device):
    x = RNG.uniform(0.5, 2.0, (1, 2, 3))
    shift, scale = trt.Weights(np.array([0.5, -1.0], np.float32)), trt.Weights(np.array([2.0, 3.0], np.float32))
    (got,) = run_layer(lambda n, t: n.add_scale(t[0], trt.ScaleMode.CHANNEL, shift, scale, trt.Weights()), {"x": x},
                       device)
    assert_close(got, x * np.array([2.0, 3.0])[:, None] + np.array([0.5, -1.0])[:, None])
