"""INormalizationLayer (layer, instance and group norm) against numpy float64 references."""
import numpy as np
import pytest

import inferrt as trt
from tests.helpers import assert_close, new_network, run_layer

RNG = np.random.default_rng(1)


def ref_norm(x, scale, bias, axes, eps, groups=1):
    x = x.astype(np.float64)
    if groups > 1:
        n, c = x.shape[:2]
        xg = x.reshape(n, groups, c // groups, *x.shape[2:])
        red = tuple(range(2, xg.ndim))
        mu = xg.mean(axis=red, keepdims=True)
        var = ((xg - mu) ** 2).mean(axis=red, keepdims=True)
        y = ((xg - mu) / np.sqrt(var + eps)).reshape(x.shape)
    else:
        mu = x.mean(axis=axes, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
        y = (x - mu) / np.sqrt(var + eps)
    return y * scale.astype(np.float64) + bias.astype(np.float64)


def _mask(axes):
    return sum(1 << a for a in axes)


def _add(scale, bias, axes, eps=None, groups=None, check=None):
    def add(net, t):
        s = net.add_constant(scale.shape, scale).get_output(0)
        b = net.add_constant(bias.shape, bias).get_output(0)
        layer = net.add_normalization(t[0], s, b, _mask(axes))
        if eps is not None:
            layer.epsilon = eps
        if groups is not None:
            layer.num_groups = groups
        if check:
            check(layer)
        return layer
    return add


@pytest.mark.parametrize("shape,axes", [((2, 5, 8), (2,)), ((2, 3, 4, 6), (2, 3)), ((4, 16), (1,)),
                                        ((2, 3, 4, 6), (1, 2, 3))])
def test_layer_norm(shape, axes, device):
    x = RNG.normal(1.0, 2.0, shape)
    pshape = tuple(d if i in axes else 1 for i, d in enumerate(shape))
    scale, bias = RNG.normal(size=pshape).astype(np.float32), RNG.normal(size=pshape).astype(np.float32)

    def check(layer):
        assert isinstance(layer, trt.INormalizationLayer)
        assert layer.epsilon == pytest.approx(1e-5) and layer.num_groups == 1
        assert layer.axes == _mask(axes) and layer.compute_precision == trt.float32

    (got,) = run_layer(_add(scale, bias, axes, check=check), {"x": x}, device)
    assert_close(got, ref_norm(x, scale, bias, axes, 1e-5), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (1, 4, 3, 2, 5), (3, 2, 9)])
def test_instance_norm(shape, device):
    x = RNG.normal(0.5, 3.0, shape)
    axes = tuple(range(2, len(shape)))
    pshape = (1, shape[1]) + (1,) * (len(shape) - 2)
    scale, bias = RNG.normal(size=pshape).astype(np.float32), RNG.normal(size=pshape).astype(np.float32)
    (got,) = run_layer(_add(scale, bias, axes, eps=1e-3), {"x": x}, device)
    assert_close(got, ref_norm(x, scale, bias, axes, 1e-3), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape,groups", [((2, 6, 4, 5), 3), ((1, 8, 7), 2), ((2, 4, 3, 3), 4), ((2, 6, 2, 2, 3), 2)])
def test_group_norm_per_channel_affine(shape, groups, device):
    x = RNG.normal(-1.0, 2.0, shape)
    axes = tuple(range(2, len(shape)))
    pshape = (1, shape[1]) + (1,) * (len(shape) - 2)
    scale, bias = RNG.normal(size=pshape).astype(np.float32), RNG.normal(size=pshape).astype(np.float32)
    (got,) = run_layer(_add(scale, bias, axes, groups=groups), {"x": x}, device)
    assert_close(got, ref_norm(x, scale, bias, axes, 1e-5, groups), rtol=1e-4, atol=1e-4)


def test_half_input_uses_float32_statistics():
    # large offset: float16 statistics would lose the small variations entirely
    x = (1000.0 + RNG.normal(size=(2, 4, 64))).astype(np.float16)
    scale, bias = np.ones((1, 1, 64), np.float32), np.zeros((1, 1, 64), np.float32)
    (got,) = run_layer(_add(scale, bias, (2,)), {"x": x})
    assert got.dtype == np.float16
    assert_close(got, ref_norm(x, scale, bias, (2,), 1e-5), atol=2e-2, rtol=2e-2)


def _errors(setup):
    _, net = new_network()
    x = net.add_input("x", trt.float32, (2, 6, 4, 4))
    layer = setup(net, x)
    layer.name = "norm_layer"
    return " ".join(net._layer_errors())


def _const(net, shape):
    return net.add_constant(shape, np.ones(shape, np.float32)).get_output(0)


def _grouped(n, x, affine_shape, groups):
    """A normalization over axes 2 and 3 with ones of ``affine_shape`` as scale and bias, in ``groups`` groups."""
    layer = n.add_normalization(x, _const(n, affine_shape), _const(n, affine_shape), 0b1100)
    layer.num_groups = groups
    return layer


def test_bad_inputs_name_the_layer():
    err = _errors(lambda n, x: n.add_normalization(x, _const(n, (6,)), _const(n, (6,)), 0b1100))
    assert "norm_layer" in err and "rank" in err

    assert "not divisible by num_groups 4" in _errors(lambda n, x: _grouped(n, x, (1, 6, 1, 1), 4))

    err = _errors(lambda n, x: n.add_normalization(x, _const(n, (1, 6, 1, 1)), _const(n, (1, 6, 1, 1)), 0))
    assert "norm_layer" in err and "axes" in err

    assert "per channel" in _errors(lambda n, x: _grouped(n, x, (1, 1, 4, 4), 2))


def test_group_norm_per_group_affine(device):
    # ONNX GroupNormalization-18 gives one scale / bias per group; each applies to all channels of its group
    x = RNG.normal(size=(2, 6, 3, 3))
    scale, bias = RNG.normal(size=(1, 3, 1, 1)).astype(np.float32), RNG.normal(size=(1, 3, 1, 1)).astype(np.float32)
    (got,) = run_layer(_add(scale, bias, (2, 3), groups=3), {"x": x}, device)
    want = ref_norm(x, np.repeat(scale, 2, axis=1), np.repeat(bias, 2, axis=1), (2, 3), 1e-5, 3)
    assert_close(got, want, rtol=1e-4, atol=1e-4)
