"""IQuantizeLayer / IDequantizeLayer against numpy float64 references (round half to even, saturation)."""
import numpy as np
import pytest

import inferrt as trt
from tests.helpers import assert_close, new_network, run_layer

RNG = np.random.default_rng(3)
RANGES = {np.int8: (-128, 127), np.uint8: (0, 255)}


def ref_quantize(x, scale, zp, axis, dtype):
    x = x.astype(np.float64)
    shape = [1] * x.ndim
    if np.size(scale) > 1:
        shape[axis] = -1
    s = np.asarray(scale, np.float64).reshape(shape)
    z = 0 if zp is None else np.asarray(zp, np.float64).reshape(shape)
    lo, hi = RANGES[dtype]
    return np.clip(np.rint(x / s) + z, lo, hi).astype(dtype)  # np.rint rounds half to even


def _consts(net, scale, zp):
    s = net.add_constant(np.shape(scale), np.asarray(scale, np.float32)).get_output(0)
    z = None if zp is None else net.add_constant(np.shape(zp), np.asarray(zp)).get_output(0)
    return s, z


@pytest.mark.parametrize("per_axis", [False, True])
@pytest.mark.parametrize("out_type,zp_kind", [(trt.int8, None), (trt.int8, "zero"), (trt.uint8, "random"),
                                              (trt.int8, "random")])
def test_quantize(per_axis, out_type, zp_kind, device):
    dtype = np.int8 if out_type == trt.int8 else np.uint8
    x = RNG.normal(0, 40, (2, 3, 4, 5))
    x[0, 0, 0, :4] = [2.5, 3.5, -2.5, -0.5]  # ties: half to even with scale 1 on channel 0
    scale = np.array([1.0, 0.25, 0.7], np.float32) if per_axis else np.array(1.0, np.float32)
    n = 3 if per_axis else ()
    zp = None if zp_kind is None else (np.zeros(n, dtype) if zp_kind == "zero" else
                                        RNG.integers(0, 40, n).astype(dtype))

    def add(net, t):
        s, z = _consts(net, scale, zp)
        layer = net.add_quantize(t[0], s, out_type)
        assert isinstance(layer, trt.IQuantizeLayer) and layer.to_type == out_type
        layer.axis = 1
        if z is not None:
            layer.set_input(2, z)
        return layer

    (got,) = run_layer(add, {"x": x}, device)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, ref_quantize(x, scale, zp, 1, dtype))


def test_quantize_ties_and_saturation():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 1000.0, -1000.0, 126.5, 127.5], np.float32)
    scale = np.array(1.0, np.float32)
    (got,) = run_layer(lambda n, t: n.add_quantize(t[0], _consts(n, scale, None)[0]), {"x": x})
    np.testing.assert_array_equal(got, [0, 2, 2, 0, -2, 127, -128, 126, 127])


@pytest.mark.parametrize("in_type,zp", [(np.int8, None), (np.int8, "random"), (np.uint8, "random")])
@pytest.mark.parametrize("per_axis", [False, True])
def test_dequantize(in_type, zp, per_axis, device):
    lo, hi = RANGES[in_type]
    q = RNG.integers(lo, hi + 1, (3, 4, 2)).astype(in_type)
    scale = np.array([0.5, 0.1, 2.0, 0.03], np.float32) if per_axis else np.array([0.07], np.float32)
    n = 4 if per_axis else (1,)
    z = None if zp is None else RNG.integers(lo, hi + 1, n).astype(in_type)

    def add(net, t):
        s, zt = _consts(net, scale, z)
        layer = net.add_dequantize(t[0], s, trt.float32)
        assert isinstance(layer, trt.IDequantizeLayer) and layer.to_type == trt.float32
        layer.axis = 1
        if zt is not None:
            layer.set_input(2, zt)
        return layer

    (got,) = run_layer(add, {"q": q}, device)
    shape = (1, -1, 1) if per_axis else (1, 1, 1)
    zz = 0 if z is None else z.astype(np.float64).reshape(shape)
    assert_close(got, (q.astype(np.float64) - zz) * scale.astype(np.float64).reshape(shape))


def test_block_quantize_dequantize_roundtrip(device):
    x = RNG.normal(0, 5, (4, 8))
    scale = RNG.uniform(0.05, 0.2, (4, 2)).astype(np.float32)  # blocks of 4 along axis 1

    def add(net, t):
        s = net.add_constant(scale.shape, scale).get_output(0)
        q = net.add_quantize(t[0], s)
        q.block_shape = (1, 4)
        dq = net.add_dequantize(q.get_output(0), s)
        assert dq.set_block_shape((1, 4)) and tuple(dq.get_block_shape()) == (1, 4)
        return [q.get_output(0), dq.get_output(0)]

    q, dq = run_layer(add, {"x": x}, device)
    full = np.repeat(scale.astype(np.float64), 4, axis=1)
    expect = np.clip(np.rint(x / full), -128, 127)
    np.testing.assert_array_equal(q, expect.astype(np.int8))
    assert_close(dq, expect * full)


def test_fp8_quantize_dequantize():
    x = np.array([0.0, 1.0, -3.0, 0.3, 1000.0, -1e5], np.float32)

    def add(net, t):
        s = net.add_constant((), np.array(0.5, np.float32)).get_output(0)
        q = net.add_quantize(t[0], s, trt.fp8)
        return net.add_dequantize(q.get_output(0), s, trt.float32)

    (got,) = run_layer(add, {"x": x})
    # e4m3: 0.6 rounds to 0.625; values past 448 saturate
    np.testing.assert_array_equal(got, np.array([0.0, 1.0, -3.0, 0.3125, 224.0, -224.0], np.float32))


@pytest.mark.parametrize("scale_shape,msg", [((5,), "scale holds 5 values but input axis 1 has size 3"),
                                             ((3, 1), "scale has shape (3, 1)")])
def test_bad_scale_names_layer(scale_shape, msg):
    _, net = new_network()
    x = net.add_input("x", trt.float32, (2, 3, 4))
    s = net.add_constant(scale_shape, np.ones(scale_shape, np.float32)).get_output(0)
    layer = net.add_quantize(x, s)
    layer.name = "my_q"
    errs = " ".join(net._layer_errors())
    assert "my_q" in errs and msg in errs


def test_bad_types_name_layer():
    _, net = new_network()
    x = net.add_input("x", trt.int32, (2, 3))
    s = net.add_constant((), np.ones((), np.float32)).get_output(0)
    net.add_quantize(x, s).name = "q_int"
    xf = net.add_input("xf", trt.float32, (2, 3))
    net.add_quantize(xf, s, trt.float32).name = "q_float_out"
    errs = " ".join(net._layer_errors())
    assert "q_int" in errs and "FLOAT, HALF or BF16" in errs
    assert "q_float_out" in errs and "INT8, UINT8, INT4, UINT4, FP8, FP8_E5M2 or FP4" in errs
