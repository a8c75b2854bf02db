"""Importers for data-dependent ops (NonZero, NonMaxSuppression, Unique, Compress) and signal ops (DFT, STFT,
windows, MelWeightMatrix), checked against onnxruntime (onnx's ReferenceEvaluator where onnxruntime lacks a mode)."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto as TP, helper as oh

import inferrt
from special_tools import check, model

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
