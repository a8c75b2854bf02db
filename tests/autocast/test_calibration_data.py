"""Calibration data: .npz, dict and list feeds checked against the model; random feeds when there is none."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import inferrt as trt
from inferrt.autocast.calibration_data import calibration_feeds, random_feed
from tests.autocast.models import chain_model


def test_npz_dict_and_list_feeds(tmp_path):
    g = chain_model().graph
    x = np.ones((2, 8), np.float32)
    np.savez(tmp_path / "cal.npz", x=x)
    for data in (str(tmp_path / "cal.npz"), {"x": x}, [{"x": x}, {"x": 2 * x}]):
        feeds, warns = calibration_feeds(data, g)
        assert warns == [] and all(f["x"].dtype == np.float32 for f in feeds)
    assert len(calibration_feeds([{"x": x}, {"x": x}], g)[0]) == 2
    # float64 data of the right shape is accepted as float32
    assert calibration_feeds({"x": x.astype(np.float64)}, g)[0][0]["x"].dtype == np.float32


@pytest.mark.parametrize("data, err, words", [
    ({}, trt.BindingError, ["lacks input 'x'"]),
    ({"x": np.ones((2, 8), np.float32), "q": np.ones(1)}, trt.BindingError, ["'q'", "not an input"]),
    ({"x": np.ones((2, 8), np.int64)}, trt.BindingError, ["int64", "float32"]),
    ({"x": np.ones((2, 9), np.float32)}, trt.ShapeError, ["(2, 9)", "[2x8]"]),
    ([], trt.BindingError, ["empty list"]),
    ("/nonexistent/cal.npz", trt.BindingError, ["does not exist"]),
    (42, trt.BindingError, ["int"]),
])
def test_bad_data_is_refused_naming_the_input(data, err, words):
    with pytest.raises(err) as e:
        calibration_feeds(data, chain_model().graph)
    for w in words:
        assert w in str(e.value), str(e.value)


def test_random_feed_bounds_gather_indices_and_sets_masks_to_one():
    """ids reach a Gather over 50 rows through a Cast; mask is a plain integer input; seq is a symbolic dim."""
    table = np.zeros((50, 4), np.float32)
    nodes = [helper.make_node("Cast", ["ids"], ["ids32"], to=TensorProto.INT32),
             helper.make_node("Gather", ["table", "ids32"], ["e"]),
             helper.make_node("Cast", ["mask"], ["mf"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["e", "mf"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("ids", TensorProto.INT64, [2, "seq"]),
                                       helper.make_tensor_value_info("mask", TensorProto.INT64, [2, "seq", 1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(table, "table")])
    feed, guessed = random_feed(g)
    assert guessed == ["ids", "mask"]
    assert feed["ids"].shape == (2, 1) and 0 <= feed["ids"].min() and feed["ids"].max() < 50
    assert (feed["mask"] == 1).all()
    with pytest.warns(UserWarning, match="random inputs.*set to 1 for ids, mask"):
        feeds, warns = calibration_feeds(None, g)
    assert len(feeds) == 1 and "no calibration data" in warns[0]


def test_random_feed_is_repeatable_and_standard_normal():
    g = chain_model().graph
    a, _ = random_feed(g)
    b, _ = random_feed(g)
    np.testing.assert_array_equal(a["x"], b["x"])
    assert a["x"].dtype == np.float32 and 0.2 < a["x"].std() < 3
