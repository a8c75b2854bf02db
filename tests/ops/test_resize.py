"""IResizeLayer against onnx's reference Resize (numpy float64) for every ONNX mode, plus TensorRT-only options."""
import numpy as np
import pytest

import inferrt as trt
from tests.helpers import assert_close, new_network, run_layer

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402
from tests.helpers import lowest_ir  # noqa: E402

RNG = np.random.default_rng(5)
ROUNDING = {"round_prefer_floor": trt.ResizeRoundMode.HALF_DOWN, "round_prefer_ceil": trt.ResizeRoundMode.HALF_UP,
            "floor": trt.ResizeRoundMode.FLOOR, "ceil": trt.ResizeRoundMode.CEIL}
MODES = {"nearest": trt.InterpolationMode.NEAREST, "linear": trt.InterpolationMode.LINEAR,
         "cubic": trt.InterpolationMode.CUBIC}


def onnx_resize(x, scales=None, sizes=None, roi=None, **attrs):
    """onnx's reference Resize (opset 19) on float64 data."""
    names = ["x", "roi", "scales", "sizes"]
    feeds = {"x": x.astype(np.float32), "roi": np.array(roi if roi is not None else [], np.float32),
             "scales": np.array(scales if scales is not None else [], np.float32),
             "sizes": np.array(sizes if sizes is not None else [], np.int64)}
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape),
              helper.make_tensor_value_info("roi", TensorProto.FLOAT, None),
              helper.make_tensor_value_info("scales", TensorProto.FLOAT, None),
              helper.make_tensor_value_info("sizes", TensorProto.INT64, None)]
    node = helper.make_node("Resize", names if sizes is not None else names[:3], ["y"], **attrs)
    graph = helper.make_graph([node], "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = lowest_ir(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)]))
    if sizes is None:
        feeds.pop("sizes")
    return ReferenceEvaluator(model).run(None, feeds)[0]


def inferrt_resize(x, scales=None, sizes=None, roi=None, device="cpu", mode="nearest",
                   coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_floor", **ext):
    def add(net, t):
        layer = net.add_resize(t[0])
        assert isinstance(layer, trt.IResizeLayer)
        layer.resize_mode = MODES[mode]
        layer.coordinate_mode = coordinate_transformation_mode
        layer.nearest_rounding = ROUNDING[nearest_mode]
        if "cubic_coeff_a" in ext:
            layer.cubic_coeff = ext.pop("cubic_coeff_a")
        for k, v in ext.items():
            setattr(layer, k, v)
        if roi is not None:
            layer.roi = roi
        if scales is not None:
            layer.scales = scales
        else:
            layer.shape = sizes
        return layer

    return run_layer(add, {"x": x}, device)[0]


CASES = [
    # (mode, coordinate mode, scales, sizes, extra attributes)
    ("nearest", "asymmetric", [1, 1, 2, 3], None, {"nearest_mode": "floor"}),
    ("nearest", "half_pixel", [1, 1, 0.6, 1.7], None, {"nearest_mode": "round_prefer_ceil"}),
    ("nearest", "align_corners", None, [1, 2, 7, 3], {"nearest_mode": "round_prefer_floor"}),
    ("nearest", "pytorch_half_pixel", None, [1, 2, 1, 9], {"nearest_mode": "ceil"}),
    ("nearest", "half_pixel_symmetric", [1, 1, 2.6, 0.7], None, {"nearest_mode": "round_prefer_floor"}),
    ("linear", "half_pixel", [1, 1, 2, 0.5], None, {}),
    ("linear", "align_corners", None, [1, 2, 8, 3], {}),
    ("linear", "asymmetric", [1, 1, 1.5, 2.5], None, {}),
    ("linear", "pytorch_half_pixel", None, [1, 2, 1, 11], {}),
    ("linear", "half_pixel_symmetric", [1, 1, 1.3, 0.6], None, {}),
    ("linear", "half_pixel", [1, 1, 0.4, 0.55], None, {"antialias": 1}),
    ("cubic", "half_pixel", [1, 1, 2, 1.5], None, {}),
    ("cubic", "align_corners", None, [1, 2, 9, 4], {"cubic_coeff_a": -0.5}),
    ("cubic", "asymmetric", [1, 1, 0.7, 3], None, {"exclude_outside": 1}),
    ("cubic", "half_pixel", [1, 1, 0.35, 0.6], None, {"antialias": 1}),
    ("cubic", "pytorch_half_pixel", None, [1, 2, 3, 1], {"exclude_outside": 1, "cubic_coeff_a": -0.6}),
]


@pytest.mark.parametrize("mode,coord,scales,sizes,extra", CASES)
@pytest.mark.parametrize("torch_kernels", [True, False])
def test_resize_matches_onnx_reference(mode, coord, scales, sizes, extra, torch_kernels, device, monkeypatch):
    # torch_kernels=False checks the generic gather path on the cases PyTorch's interpolate would take
    monkeypatch.setattr("inferrt.ops.resize.USE_TORCH_INTERPOLATE", torch_kernels)
    x = RNG.normal(size=(1, 2, 6, 5))
    attrs = dict(mode=mode, coordinate_transformation_mode=coord, **extra)
    want = onnx_resize(x, scales, sizes, **attrs)
    got = inferrt_resize(x, scales, sizes, device=device, **attrs)
    assert_close(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("nearest_mode", ["floor", "round_prefer_ceil"])
def test_tf_half_pixel_for_nn_matches_onnxruntime(nearest_mode, device):
    # the mode left the ONNX spec after opset 11, so onnxruntime (opset 11) is the reference here
    ort = pytest.importorskip("onnxruntime")
    x = RNG.normal(size=(1, 2, 5, 6)).astype(np.float32)
    scales = np.array([1, 1, 1.5, 0.5], np.float32)
    node = helper.make_node("Resize", ["x", "roi", "scales"], ["y"], mode="nearest", nearest_mode=nearest_mode,
                            coordinate_transformation_mode="tf_half_pixel_for_nn")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [helper.make_tensor("roi", TensorProto.FLOAT, [0], []),
                               helper.make_tensor("scales", TensorProto.FLOAT, [4], scales)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)], ir_version=7)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (want,) = sess.run(None, {"x": x})
    got = inferrt_resize(x, list(scales), mode="nearest", coordinate_transformation_mode="tf_half_pixel_for_nn",
                         nearest_mode=nearest_mode, device=device)
    assert_close(got, want)


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_tf_crop_and_resize(mode, device):
    x = RNG.normal(size=(1, 1, 6, 7))
    roi = [0, 0, 0.2, -0.1, 1, 1, 0.9, 1.3]
    attrs = dict(mode=mode, coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=2.5)
    want = onnx_resize(x, None, [1, 1, 5, 6], roi=roi, **attrs)
    got = inferrt_resize(x, None, [1, 1, 5, 6], roi=roi, device=device, **attrs)
    assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert (got == 2.5).any()


@pytest.mark.parametrize("policy", ["not_larger", "not_smaller"])
def test_axes_and_keep_aspect_ratio(policy, device):
    x = RNG.normal(size=(2, 3, 8, 6))
    attrs = dict(mode="linear", coordinate_transformation_mode="half_pixel", axes=[2, 3],
                 keep_aspect_ratio_policy=policy)
    want = onnx_resize(x, None, [5, 5], **attrs)
    got = inferrt_resize(x, None, [5, 5], device=device, **attrs)
    assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_5d_resize_of_inner_axes_only(device):
    x = RNG.normal(size=(1, 2, 3, 4, 5))
    attrs = dict(mode="linear", coordinate_transformation_mode="align_corners", axes=[1, 3])
    want = onnx_resize(x, [2.0, 1.5], **attrs)
    got = inferrt_resize(x, [2.0, 1.5], device=device, **attrs)
    assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_nearest_integer_data_is_exact(device):
    x = RNG.integers(-100, 100, (1, 1, 3, 4)).astype(np.int32)

    def add(net, t):
        layer = net.add_resize(t[0])
        layer.scales = [1, 1, 2, 2]
        return layer

    (got,) = run_layer(add, {"x": x}, device)
    np.testing.assert_array_equal(got, x.repeat(2, axis=2).repeat(2, axis=3))


def test_tensorrt_defaults_and_exclusive_shape_scales():
    _, net = new_network()
    x = net.add_input("x", trt.float32, (1, 1, 4, 4))
    layer = net.add_resize(x)
    assert not net._errors  # no size yet, but nothing is logged until the output is used
    assert layer.resize_mode == trt.InterpolationMode.NEAREST
    assert layer.coordinate_transformation == trt.ResizeCoordinateTransformation.ASYMMETRIC
    assert layer.nearest_rounding == trt.ResizeRoundMode.FLOOR
    assert layer.selector_for_single_pixel == trt.ResizeSelector.FORMULA
    assert layer.cubic_coeff == pytest.approx(-0.75) and not layer.exclude_outside
    layer.scales = [1, 1, 2, 0.5]
    assert tuple(layer.get_output(0).shape) == (1, 1, 8, 2)
    layer.shape = (1, 1, 3, 5)
    assert tuple(layer.scales) == () and tuple(layer.get_output(0).shape) == (1, 1, 3, 5)


@pytest.mark.parametrize("coord", list(trt.ResizeCoordinateTransformation))
def test_tensorrt_coordinate_enum_linear(coord, device):
    x = RNG.normal(size=(1, 1, 4, 5))

    def add(net, t):
        layer = net.add_resize(t[0])
        layer.resize_mode = trt.InterpolationMode.LINEAR
        layer.coordinate_transformation = coord
        layer.shape = (1, 1, 7, 3)
        return layer

    (got,) = run_layer(add, {"x": x}, device)
    want = onnx_resize(x, None, [1, 1, 7, 3], mode="linear", coordinate_transformation_mode=coord.name.lower())
    assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_selector_upper_picks_first_pixel():
    x = RNG.normal(size=(1, 1, 4, 6))

    def add(net, t):
        layer = net.add_resize(t[0])
        layer.resize_mode = trt.InterpolationMode.LINEAR
        layer.coordinate_transformation = trt.ResizeCoordinateTransformation.HALF_PIXEL
        layer.selector_for_single_pixel = trt.ResizeSelector.UPPER
        layer.shape = (1, 1, 1, 6)
        return layer

    (got,) = run_layer(add, {"x": x})
    assert_close(got, x[:, :, :1, :])


def test_dynamic_output_shape_from_shape_tensor(device):
    # output shape computed in the network: shape(y) of a second input, then set_input(1)
    x = RNG.normal(size=(1, 1, 3, 4))
    like = np.zeros((1, 1, 6, 2), np.float32)

    def add(net, t):
        layer = net.add_resize(t[0])
        layer.set_input(1, net.add_shape(t[1]).get_output(0))
        return layer

    (got,) = run_layer(add, {"x": x, "like": like}, device)
    want = onnx_resize(x, None, [1, 1, 6, 2], mode="nearest", coordinate_transformation_mode="asymmetric",
                       nearest_mode="floor")
    assert_close(got, want)


def test_scales_as_input_tensor():
    x = RNG.normal(size=(1, 1, 3, 4))

    def add(net, t):
        layer = net.add_resize(t[0])
        s = np.array([1, 1, 2, 0.5], np.float32)
        layer.set_input(1, net.add_constant((4,), s).get_output(0))
        layer.resize_mode = trt.InterpolationMode.LINEAR
        return layer

    (got,) = run_layer(add, {"x": x})
    want = onnx_resize(x, [1, 1, 2, 0.5], mode="linear", coordinate_transformation_mode="asymmetric")
    assert_close(got, want, rtol=1e-5)


@pytest.mark.parametrize("setup,msg", [
    (lambda layer: None, "neither the output shape nor the scales"),
    (lambda layer: setattr(layer, "scales", [2.0, 2.0]), "has 2 values but 4 axes"),
    (lambda layer: (setattr(layer, "shape", (1, 1, 2, 2)), setattr(layer, "coordinate_mode", "tf_crop_and_resize")),
     "needs a roi"),
])
def test_bad_settings_name_layer(setup, msg):
    _, net = new_network()
    layer = net.add_resize(net.add_input("x", trt.float32, (1, 1, 4, 4)))
    layer.name = "my_resize"
    setup(layer)
    errs = " ".join(net._layer_errors())
    assert "my_resize" in errs and msg in errs


def test_bad_coordinate_mode_refused_when_set():
    _, net = new_network()
    layer = net.add_resize(net.add_input("x", trt.float32, (1, 1, 4, 4)))
    layer.name = "my_resize"
    with pytest.raises(TypeError, match="'my_resize': resize: attribute 'coordinate_mode': 'bogus' is not one of"):
        layer.coordinate_mode = "bogus"


def test_linear_on_integers_is_rejected():
    _, net = new_network()
    layer = net.add_resize(net.add_input("x", trt.int32, (1, 1, 4, 4)))
    layer.resize_mode = trt.InterpolationMode.LINEAR
    layer.scales = [1, 1, 2, 2]
    assert "floating-point input" in " ".join(net._layer_errors())


def test_dynamic_input_dims_with_scales(device):
    from tests.helpers import build_and_run

    builder, net = new_network()
    x = net.add_input("x", trt.float32, (1, 2, -1, -1))
    layer = net.add_resize(x)
    layer.resize_mode = trt.InterpolationMode.LINEAR
    layer.coordinate_transformation = trt.ResizeCoordinateTransformation.HALF_PIXEL
    layer.scales = [1, 1, 2, 0.5]
    assert tuple(layer.get_output(0).shape) == (1, 2, -1, -1)
    layer.get_output(0).name = "y"
    net.mark_output(layer.get_output(0))
    for shape in [(1, 2, 3, 8), (1, 2, 5, 6)]:
        xv = RNG.normal(size=shape).astype(np.float32)
        profile = {"x": ((1, 2, 1, 2), (1, 2, 4, 6), (1, 2, 8, 8))}
        got = build_and_run(builder, net, {"x": xv}, device, profiles=[profile])
        want = onnx_resize(xv, [1, 1, 2, 0.5], mode="linear", coordinate_transformation_mode="half_pixel")
        assert_close(got["y"], want, rtol=1e-5)


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_half_input(mode, device):
    x = RNG.normal(size=(1, 2, 5, 4)).astype(np.float16)
    got = inferrt_resize(x, [1, 1, 1.6, 2.0], mode=mode, device=device)
    assert got.dtype == np.float16
    want = onnx_resize(x.astype(np.float64), [1, 1, 1.6, 2.0], mode=mode, coordinate_transformation_mode="half_pixel",
                       nearest_mode="round_prefer_floor")
    assert_close(got, want)
