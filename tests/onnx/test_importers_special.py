"""Importers for data-dependent ops (NonZero, NonMaxSuppression, Unique, Compress) and signal ops (DFT, STFT,
windows, MelWeightMatrix), checked against onnxruntime (onnx's ReferenceEvaluator where onnxruntime lacks a mode)."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto as TP, helper as oh

import inferrt
from special_tools import check, model, run_inferrt

RNG = np.random.default_rng(11)


# ----------------------------------------------------------------------------------------------- data-dependent
def test_non_zero_static_and_dynamic():
    x = (RNG.standard_normal((3, 4, 2)) > 0.3).astype(np.float32) * RNG.standard_normal((3, 4, 2)).astype(np.float32)
    check(oh.make_node("NonZero", ["x"], ["y"]), {"x": x}, ["y"], opset=13)
    check(oh.make_node("NonZero", ["x"], ["y"]), {"x": x}, ["y"], opset=13, dynamic=("x",),
          profiles={"x": ((1, 1, 1), (3, 4, 2), (6, 8, 4))})
    xi = RNG.integers(0, 2, (5, 3)).astype(np.int64)
    check(oh.make_node("NonZero", ["x"], ["y"]), {"x": xi}, ["y"], opset=13)


def _nms_inputs(batches, classes, boxes, center=False):
    xy = RNG.uniform(0, 10, (batches, boxes, 2)).astype(np.float32)
    wh = RNG.uniform(1, 5, (batches, boxes, 2)).astype(np.float32)
    b = np.concatenate([xy, wh], -1) if center else np.concatenate([xy[..., ::-1], xy[..., ::-1] + wh], -1)
    s = RNG.uniform(0, 1, (batches, classes, boxes)).astype(np.float32)
    return b.astype(np.float32), s


@pytest.mark.parametrize("batches,classes,center", [(1, 1, 0), (2, 3, 0), (3, 2, 1)])
def test_nms_batches_classes(batches, classes, center):
    boxes, scores = _nms_inputs(batches, classes, 12, center)
    inits = {"m": np.array([3], np.int64), "iou": np.array([0.3], np.float32), "st": np.array([0.2], np.float32)}
    node = oh.make_node("NonMaxSuppression", ["b", "s", "m", "iou", "st"], ["y"], center_point_box=center)
    check(node, {"b": boxes, "s": scores}, ["y"], inits, opset=11)


def test_nms_optional_inputs():
    boxes, scores = _nms_inputs(2, 2, 9)
    feeds = {"b": boxes, "s": scores}
    check(oh.make_node("NonMaxSuppression", ["b", "s"], ["y"]), feeds, ["y"], opset=11)       # max 0: no boxes
    check(oh.make_node("NonMaxSuppression", ["b", "s", "m"], ["y"]), feeds, ["y"], {"m": np.array(4, np.int64)},
          opset=11)
    check(oh.make_node("NonMaxSuppression", ["b", "s", "m", "", "st"], ["y"]), feeds, ["y"],
          {"m": np.array(100, np.int64), "st": np.array(0.5, np.float32)}, opset=11)
    check(oh.make_node("NonMaxSuppression", ["b", "s", "m", "iou"], ["y"]), feeds, ["y"],
          {"m": np.array(100, np.int64), "iou": np.array(0.1, np.float32)}, opset=11, dynamic=("b", "s"),
          profiles={"b": ((1, 1, 4), (2, 9, 4), (4, 20, 4)), "s": ((1, 1, 1), (2, 2, 9), (4, 4, 20))})


@pytest.mark.parametrize("sorted_", [1, 0])
def test_unique_flat(sorted_):
    x = RNG.integers(0, 6, (4, 5)).astype(np.float32)
    node = oh.make_node("Unique", ["x"], ["y", "idx", "inv", "cnt"], sorted=sorted_)
    check(node, {"x": x}, ["y", "idx", "inv", "cnt"], opset=11)
    xi = np.array([2, 1, 1, 3, 4, 3], np.int64)
    check(node, {"x": xi}, ["y", "idx", "inv", "cnt"], opset=11)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_unique_axis(axis):
    x = np.array([[1, 0, 0], [1, 0, 0], [2, 3, 4], [1, 0, 0]], np.float32)
    x = np.concatenate([x, x[::-1]], 1)
    node = oh.make_node("Unique", ["x"], ["y", "idx", "inv", "cnt"], sorted=1, axis=axis)
    check(node, {"x": x}, ["y", "idx", "inv", "cnt"], opset=11)


def test_unique_only_first_output():
    x = RNG.integers(-3, 3, (10,)).astype(np.int64)
    check(oh.make_node("Unique", ["x"], ["y"], sorted=0), {"x": x}, ["y"], opset=11)


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_compress(axis):
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    cond = np.array([True, False, True], bool) if axis in (0, None) else np.array([False, True, True, False])
    kw = {} if axis is None else {"axis": axis}
    check(oh.make_node("Compress", ["x", "c"], ["y"], **kw), {"x": x, "c": cond}, ["y"], opset=11)


def test_compress_short_condition_constant():
    x = RNG.standard_normal((2, 5)).astype(np.float32)
    check(oh.make_node("Compress", ["x", "c"], ["y"], axis=1), {"x": x}, ["y"], {"c": np.array([1, 0, 1], bool)},
          opset=11)


# ----------------------------------------------------------------------------------------------- signal
@pytest.mark.parametrize("onesided", [0, 1])
@pytest.mark.parametrize("length", [None, 6, 12])
def test_dft_forward_opset17(onesided, length):
    x = RNG.standard_normal((2, 8, 1)).astype(np.float32)
    ins = ["x", "L"] if length else ["x"]
    inits = {"L": np.array(length, np.int64)} if length else {}
    check(oh.make_node("DFT", ins, ["y"], onesided=onesided, axis=1), {"x": x}, ["y"], inits, opset=17, atol=1e-4)


def test_dft_complex_and_inverse_opset17():
    x = RNG.standard_normal((3, 5, 2)).astype(np.float32)
    check(oh.make_node("DFT", ["x"], ["y"], axis=1), {"x": x}, ["y"], opset=17, atol=1e-4)
    check(oh.make_node("DFT", ["x"], ["y"], axis=1, inverse=1), {"x": x}, ["y"], opset=17, atol=1e-5)
    check(oh.make_node("DFT", ["x"], ["y"], axis=0, inverse=1), {"x": x}, ["y"], opset=17, atol=1e-5)


@pytest.mark.parametrize("axis", [-2, 1, 2, -3])
@pytest.mark.parametrize("inverse", [0, 1])
def test_dft_axis_input_opset20(axis, inverse):
    x = RNG.standard_normal((2, 4, 6, 2)).astype(np.float32)
    check(oh.make_node("DFT", ["x", "", "ax"], ["y"], inverse=inverse), {"x": x}, ["y"],
          {"ax": np.array(axis, np.int64)}, opset=20, atol=1e-4)


def test_dft_roundtrip_and_inverse_onesided():
    x = RNG.standard_normal((2, 10, 1)).astype(np.float32)
    nodes = [oh.make_node("DFT", ["x", "", "ax"], ["f"], onesided=1),
             oh.make_node("DFT", ["f", "n", "ax"], ["y"], onesided=1, inverse=1)]
    inits = {"ax": np.array(1, np.int64), "n": np.array(10, np.int64)}
    got = check(nodes, {"x": x}, ["f", "y"], inits, opset=20, use_ort=False, atol=1e-4)
    np.testing.assert_allclose(got["y"], x, atol=1e-5)           # inverse of the one-sided DFT restores x


def test_dft_axis_given_at_run_time():
    x = RNG.standard_normal((3, 4, 5, 2)).astype(np.float32)
    for axis, inverse in ((1, 0), (-3, 1), (2, 0)):
        check(oh.make_node("DFT", ["x", "", "ax"], ["y"], inverse=inverse), {"x": x, "ax": np.array(axis, np.int64)},
              [("y", TP.FLOAT, 4)], opset=20, atol=1e-4)


def test_dft_dynamic_length_input():
    x = RNG.standard_normal((1, 8, 1)).astype(np.float32)
    check(oh.make_node("DFT", ["x", "L"], ["y"], axis=1), {"x": x, "L": np.array(5, np.int64)},
          [("y", TP.FLOAT, 3)], opset=17, atol=1e-4)


@pytest.mark.parametrize("onesided,window", [(1, True), (0, True), (1, False)])
def test_stft(onesided, window):
    sig = RNG.standard_normal((2, 64, 1)).astype(np.float32)
    inits = {"step": np.array(8, np.int64)}
    ins = ["s", "step"]
    if window:
        inits["w"] = np.hanning(16).astype(np.float32)
        ins.append("w")
    else:
        inits["fl"] = np.array(16, np.int64)
        ins += ["", "fl"]
    check(oh.make_node("STFT", ins, ["y"], onesided=onesided), {"s": sig}, ["y"], inits, opset=17, atol=1e-4)


@pytest.mark.parametrize("op", ["HannWindow", "HammingWindow", "BlackmanWindow"])
@pytest.mark.parametrize("periodic", [0, 1])
def test_windows(op, periodic):
    check(oh.make_node(op, ["n"], ["y"], periodic=periodic), {}, ["y"], {"n": np.array(10, np.int64)}, opset=17,
          atol=1e-6)
    check(oh.make_node(op, ["n"], ["y"], periodic=periodic, output_datatype=10), {"n": np.array(7, np.int32)},
          [("y", TP.FLOAT16, 1)], opset=17, atol=1e-3)


def test_mel_weight_matrix():
    inits = {"m": np.array(8, np.int64), "d": np.array(64, np.int64), "r": np.array(16000, np.int64),
             "lo": np.array(20.0, np.float32), "hi": np.array(8000.0, np.float32)}
    check(oh.make_node("MelWeightMatrix", ["m", "d", "r", "lo", "hi"], ["y"]), {}, ["y"], inits, opset=17)


def test_signal_errors_name_the_node():
    x = RNG.standard_normal((2, 8, 2)).astype(np.float32)
    m = model(oh.make_node("DFT", ["x"], ["y"], name="dft_bad", onesided=1, axis=1), {"x": x}, [("y", TP.FLOAT, 3)],
              opset=17)
    with pytest.raises(inferrt.ParseError, match="dft_bad.*real input"):
        inferrt.build_engine(m, device="cpu")


# ----------------------------------------------------------------------------------------------- other ops
@pytest.mark.parametrize("opset,mode", [(16, "bilinear"), (16, "nearest"), (16, "bicubic"), (20, "linear"),
                                        (20, "cubic")])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
def test_grid_sample(opset, mode, padding):
    x = RNG.standard_normal((2, 3, 5, 6)).astype(np.float32)
    grid = RNG.uniform(-1.2, 1.2, (2, 4, 3, 2)).astype(np.float32)
    node = oh.make_node("GridSample", ["x", "g"], ["y"], mode=mode, padding_mode=padding, align_corners=1)
    check(node, {"x": x, "g": grid}, ["y"], opset=opset, atol=1e-4)


def test_grid_sample_5d_opset20():
    x = RNG.standard_normal((1, 2, 3, 4, 5)).astype(np.float32)
    grid = RNG.uniform(-1, 1, (1, 2, 3, 2, 3)).astype(np.float32)
    check(oh.make_node("GridSample", ["x", "g"], ["y"], mode="linear"), {"x": x, "g": grid}, ["y"], opset=20,
          atol=1e-4)


@pytest.mark.parametrize("align", [0, 1])
@pytest.mark.parametrize("size", [[2, 3, 4, 5], [1, 2, 3, 4, 5]])
def test_affine_grid(align, size):
    nsp = len(size) - 2
    theta = RNG.standard_normal((size[0], nsp, nsp + 1)).astype(np.float32)
    check(oh.make_node("AffineGrid", ["t", "s"], ["y"], align_corners=align), {"t": theta}, ["y"],
          {"s": np.array(size, np.int64)}, opset=20, use_ort=False, atol=1e-5)


@pytest.mark.parametrize("image,block,kw", [([5, 5], [2, 2], {}),
                                            ([6, 7], [3, 2], {"strides": [2, 1], "pads": [1, 0, 1, 1],
                                                              "dilations": [1, 2]}),
                                            ([9], [3], {"strides": [2]})])
def test_col2im(image, block, kw):
    n = len(image)
    p = kw.get("pads", [0] * 2 * n)
    s, d = kw.get("strides", [1] * n), kw.get("dilations", [1] * n)
    counts = [(image[i] + p[i] + p[n + i] - d[i] * (block[i] - 1) - 1) // s[i] + 1 for i in range(n)]
    x = RNG.standard_normal((2, 3 * int(np.prod(block)), int(np.prod(counts)))).astype(np.float32)
    check(oh.make_node("Col2Im", ["x", "im", "bl"], ["y"], **kw), {"x": x}, ["y"],
          {"im": np.array(image, np.int64), "bl": np.array(block, np.int64)}, opset=18, use_ort=(n == 2))


@pytest.mark.parametrize("shape,axes", [([3, 5], None), ([6, 2], [1, 2]), ([7], [-1])])
def test_center_crop_pad(shape, axes):
    x = RNG.standard_normal((2, 4, 4) if axes is not None else (4, 4)).astype(np.float32)
    kw = {"axes": axes} if axes else {}
    check(oh.make_node("CenterCropPad", ["x", "s"], ["y"], **kw), {"x": x}, ["y"], {"s": np.array(shape, np.int64)},
          opset=18, use_ort=False)


def test_det():
    x = RNG.standard_normal((2, 3, 4, 4)).astype(np.float32)
    check(oh.make_node("Det", ["x"], ["y"]), {"x": x}, ["y"], opset=11, rtol=1e-4, atol=1e-5)


def test_max_roi_pool():
    x = RNG.standard_normal((2, 3, 10, 12)).astype(np.float32)
    rois = np.array([[0, 1, 1, 6, 7], [1, 0, 0, 11, 9], [0, 3.4, 2.6, 4.4, 3.6], [1, 8, 5, 20, 30]], np.float32)
    check(oh.make_node("MaxRoiPool", ["x", "r"], ["y"], pooled_shape=[3, 2], spatial_scale=1.0), {"x": x, "r": rois},
          ["y"], opset=1)
    check(oh.make_node("MaxRoiPool", ["x", "r"], ["y"], pooled_shape=[2, 2], spatial_scale=0.5), {"x": x, "r": rois},
          ["y"], opset=1)


@pytest.mark.parametrize("opset,ctm", [(10, None), (16, "half_pixel"), (16, "output_half_pixel")])
@pytest.mark.parametrize("mode,ratio", [("avg", 2), ("avg", 0), ("max", 2)])
def test_roi_align(opset, ctm, mode, ratio):
    x = RNG.standard_normal((2, 3, 10, 12)).astype(np.float32)
    rois = np.array([[1, 1, 6, 7], [0, 0, 11, 9], [3.4, 2.6, 4.4, 3.6], [8, 5, 20, 30], [-3, -2, 2, 1]], np.float32)
    bi = np.array([0, 1, 0, 1, 1], np.int64)
    kw = {"mode": mode, "output_height": 3, "output_width": 2, "sampling_ratio": ratio, "spatial_scale": 0.8}
    if ctm:
        kw["coordinate_transformation_mode"] = ctm
    check(oh.make_node("RoiAlign", ["x", "r", "b"], ["y"], **kw), {"x": x, "r": rois, "b": bi}, ["y"], opset=opset,
          atol=1e-5)


def _max_pool_2x2_with_indices(x):
    """numpy MaxPool (kernel 2, stride 2) and its ONNX Indices (flat over N x C x H x W)."""
    n, c, h, w = x.shape
    ho, wo = h // 2, w // 2
    flat = np.arange(x.size).reshape(x.shape)
    win = x[:, :, :2 * ho, :2 * wo].reshape(n, c, ho, 2, wo, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, ho, wo, 4)
    ids = flat[:, :, :2 * ho, :2 * wo].reshape(n, c, ho, 2, wo, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, ho, wo, 4)
    arg = win.argmax(-1)[..., None]
    return np.take_along_axis(win, arg, -1)[..., 0], np.take_along_axis(ids, arg, -1)[..., 0].astype(np.int64)


def test_max_unpool():
    p, i = _max_pool_2x2_with_indices(RNG.standard_normal((2, 3, 6, 6)).astype(np.float32))
    nodes = [oh.make_node("MaxUnpool", ["p", "i"], ["y"], kernel_shape=[2, 2], strides=[2, 2]),
             oh.make_node("MaxUnpool", ["p", "i", "os"], ["y2"], kernel_shape=[2, 2], strides=[2, 2])]
    check(nodes, {"p": p, "i": i}, ["y", ("y2", TP.FLOAT, 4)], {"os": np.array([2, 3, 6, 6], np.int64)}, opset=11)


def test_max_unpool_output_shape_pads_the_default_result():
    # indices address the default unpooled shape (6x6); output_shape 7x8 zero-pads it at the end of each dim, as in
    # ONNX's reference and its backend test data (onnxruntime instead indexes the output_shape-sized buffer)
    p, i = _max_pool_2x2_with_indices(RNG.standard_normal((1, 2, 6, 6)).astype(np.float32))
    node = oh.make_node("MaxUnpool", ["p", "i", "os"], ["y"], kernel_shape=[2, 2], strides=[2, 2])
    got = check(node, {"p": p, "i": i}, [("y", TP.FLOAT, 4)], {"os": np.array([1, 2, 7, 8], np.int64)}, opset=11,
                use_ort=False)
    assert got["y"].shape == (1, 2, 7, 8) and not got["y"][:, :, 6:, :].any() and not got["y"][..., 6:].any()


def test_swish():
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    for alpha in (1.0, 0.7):
        check(oh.make_node("Swish", ["x"], ["y"], alpha=alpha), {"x": x}, ["y"], opset=24, use_ort=False)


def test_optional_ops():
    x = RNG.standard_normal((2, 3)).astype(np.float32)
    nodes = [oh.make_node("Optional", ["x"], ["o"]), oh.make_node("OptionalHasElement", ["o"], ["h"]),
             oh.make_node("OptionalGetElement", ["o"], ["g"]), oh.make_node("OptionalHasElement", [""], ["h2"])]
    m = model(nodes, {"x": x}, [("h", TP.BOOL, 0), ("g", TP.FLOAT, 2), ("h2", TP.BOOL, 0)], opset=18)
    got = run_inferrt(m, {"x": x})
    assert got["h"].shape == () and bool(got["h"]) and not bool(got["h2"])
    np.testing.assert_array_equal(got["g"], x)


def test_optional_get_element_of_empty_optional_fails_clearly():
    opt_type = oh.make_optional_type_proto(oh.make_tensor_type_proto(TP.FLOAT, [2]))
    nodes = [oh.make_node("Optional", [], ["o"], type=opt_type.optional_type.elem_type),
             oh.make_node("OptionalGetElement", ["o"], ["g"], name="get_empty")]
    m = model(nodes, {}, [("g", TP.FLOAT, 1)], opset=18)
    with pytest.raises(inferrt.ParseError, match="get_empty.*empty"):
        inferrt.build_engine(m, device="cpu")


@pytest.mark.parametrize("group,offset_group,masked,bias", [(1, 1, False, False), (2, 2, True, True),
                                                            (1, 2, True, False)])
def test_deform_conv(group, offset_group, masked, bias):
    x = RNG.standard_normal((2, 4, 6, 5)).astype(np.float32)
    w = RNG.standard_normal((6, 4 // group, 3, 2)).astype(np.float32)
    kw = {"pads": [1, 0, 1, 1], "strides": [1, 2], "dilations": [2, 1], "group": group, "offset_group": offset_group}
    out_h, out_w = (6 + 2 - 2 * 2 - 1) // 1 + 1, (5 + 1 - 1 - 1) // 2 + 1
    feeds = {"x": x, "off": (RNG.standard_normal((2, 2 * offset_group * 6, out_h, out_w)) * 1.5).astype(np.float32)}
    ins = ["x", "w", "off", "b" if bias else "", "m" if masked else ""]
    inits = {"w": w, "b": RNG.standard_normal(6).astype(np.float32)} if bias else {"w": w}
    if masked:
        feeds["m"] = RNG.uniform(0, 1, (2, offset_group * 6, out_h, out_w)).astype(np.float32)
    got = check(oh.make_node("DeformConv", ins, ["y"], **kw), feeds, ["y"], inits, opset=19, use_ort=False,
                atol=1e-4)
    assert got["y"].shape == (2, 6, out_h, out_w)


@pytest.mark.parametrize("exclusive,reverse", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_cumprod(exclusive, reverse):
    x = RNG.uniform(0.5, 1.5, (3, 4)).astype(np.float32)
    for axis in (0, -1):
        check(oh.make_node("CumProd", ["x", "ax"], ["y"], exclusive=exclusive, reverse=reverse), {"x": x}, ["y"],
              {"ax": np.array(axis, np.int64)}, opset=26, use_ort=False)


def test_cumprod_axis_given_at_run_time():
    x = RNG.integers(1, 4, (3, 4)).astype(np.int32)
    check(oh.make_node("CumProd", ["x", "ax"], ["y"], exclusive=1), {"x": x, "ax": np.array(1, np.int64)}, ["y"],
          opset=26, use_ort=False)


def test_bitcast():
    x = RNG.standard_normal((2, 3)).astype(np.float32)
    got = check(oh.make_node("BitCast", ["x"], ["y"], to=TP.INT32), {"x": x}, ["y"], opset=26, use_ort=False)
    np.testing.assert_array_equal(got["y"], x.view(np.int32))
    q = RNG.integers(0, 256, (5,)).astype(np.uint8)
    check(oh.make_node("BitCast", ["q"], ["y"], to=TP.INT8), {"q": q}, ["y"], opset=26, use_ort=False)
    b = RNG.integers(0, 2, (4,)).astype(bool)
    check(oh.make_node("BitCast", ["b"], ["y"], to=TP.UINT8), {"b": b}, ["y"], opset=26, use_ort=False)


def test_random_generators_shapes_types_and_seeds():
    from special_tools import reference

    x = RNG.standard_normal((40, 50)).astype(np.float32)
    logits = np.log(np.array([[0.2, 0.8], [0.9, 0.1]], np.float32))
    nodes = [oh.make_node("RandomNormal", [], ["rn"], shape=[300, 40], mean=1.0, scale=2.0, seed=3.0),
             oh.make_node("RandomUniform", [], ["ru"], shape=[20, 500], low=-2.0, high=0.0, dtype=TP.DOUBLE),
             oh.make_node("RandomNormalLike", ["x"], ["rnl"], seed=1.0),
             oh.make_node("RandomUniformLike", ["x"], ["rul"], low=5.0, high=6.0),
             oh.make_node("Bernoulli", ["p"], ["b"], seed=2.0, dtype=TP.INT32),
             oh.make_node("Multinomial", ["lg"], ["mn"], sample_size=4000, seed=5.0, dtype=TP.INT64)]
    feeds = {"x": x, "p": np.full((100, 100), 0.25, np.float32), "lg": logits}
    outs = ["rn", "ru", "rnl", "rul", "b", "mn"]
    m = model(nodes, feeds, outs, opset=15)
    ref = reference(m, feeds)
    a, b = run_inferrt(m, feeds), run_inferrt(m, feeds)
    for o in outs:                                       # DOUBLE is held as FLOAT, like every inferrt tensor
        assert a[o].shape == ref[o].shape and a[o].dtype == (np.float32 if o == "ru" else ref[o].dtype), o
    for o in ("rn", "rnl", "b", "mn"):                  # seeded: the same values on every run
        np.testing.assert_array_equal(a[o], b[o], err_msg=o)
    assert abs(a["rn"].mean() - 1.0) < 0.1 and abs(a["rn"].std() - 2.0) < 0.1
    assert a["ru"].min() >= -2 and a["ru"].max() <= 0 and a["rul"].min() >= 5 and a["rul"].max() < 6
    assert set(np.unique(a["b"])) <= {0, 1} and abs(a["b"].mean() - 0.25) < 0.03
    np.testing.assert_allclose([np.mean(a["mn"][0] == 1), np.mean(a["mn"][1] == 0)], [0.8, 0.9], atol=0.03)


@pytest.mark.parametrize("mode,axis", [("linear", -2), ("circular", -2), ("linear", 1)])
def test_tensor_scatter(mode, axis):
    past = RNG.standard_normal((2, 3, 6, 4)).astype(np.float32)
    upd_shape = [2, 3, 6, 4]
    upd_shape[axis] = 2
    upd = RNG.standard_normal(upd_shape).astype(np.float32)
    wi = np.array([1, 5 if mode == "circular" else past.shape[axis] - 2], np.int64)     # circular wraps around
    node = oh.make_node("TensorScatter", ["p", "u", "w"], ["y"], mode=mode, axis=axis)
    check(node, {"p": past, "u": upd, "w": wi}, ["y"], opset=24, use_ort=False)
    check(oh.make_node("TensorScatter", ["p", "u"], ["y"], mode=mode, axis=axis), {"p": past, "u": upd}, ["y"],
          opset=24, use_ort=False)
