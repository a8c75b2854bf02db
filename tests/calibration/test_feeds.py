"""Calibration data split into batches along axis 0 (explicit batch size, or the model's fixed batch)."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

import inferrt as trt
from inferrt.calibration.feeds import calibration_feeds


def _graph(batch):
    g = helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"])], "g",
                          [helper.make_tensor_value_info("a", TensorProto.FLOAT, [batch, 3]),
                           helper.make_tensor_value_info("b", TensorProto.FLOAT, [batch, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 3])])
    return g


def test_fixed_batch_splits_many_samples(tmp_path):
    a, b = np.arange(24, dtype=np.float32).reshape(8, 3), np.ones((8, 3), np.float32)
    np.savez(tmp_path / "cal.npz", a=a, b=b)
    feeds, _ = calibration_feeds(str(tmp_path / "cal.npz"), _graph(2))
    assert len(feeds) == 4 and all(f["a"].shape == (2, 3) for f in feeds)
    np.testing.assert_array_equal(np.concatenate([f["a"] for f in feeds]), a)
    # exactly one batch, or a count that is not a multiple of it, stays one feed (and is checked as one)
    assert len(calibration_feeds({"a": a[:2], "b": b[:2]}, _graph(2))[0]) == 1
    with pytest.raises(trt.ShapeError, match=r"\(7, 3\)"):
        calibration_feeds({"a": a[:7], "b": b[:7]}, _graph(2))


def test_batch_size_splits_dynamic_batches_and_lists():
    a, b = np.zeros((10, 3), np.float32), np.zeros((10, 3), np.float32)
    feeds, _ = calibration_feeds({"a": a, "b": b}, _graph("N"), batch_size=4)
    assert [f["a"].shape[0] for f in feeds] == [4, 4, 2]
    assert len(calibration_feeds({"a": a, "b": b}, _graph("N"))[0]) == 1          # dynamic: no split by itself
    feeds, _ = calibration_feeds([{"a": a, "b": b}, {"a": a[:3], "b": b[:3]}], _graph("N"), batch_size=5)
    assert [f["a"].shape[0] for f in feeds] == [5, 5, 3]


def test_split_needs_the_same_row_count_and_a_valid_batch_size():
    with pytest.raises(trt.ShapeError, match="different numbers of rows"):
        calibration_feeds({"a": np.zeros((4, 3)), "b": np.zeros((6, 3))}, _graph("N"), batch_size=2)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        calibration_feeds({"a": np.zeros((4, 3)), "b": np.zeros((4, 3))}, _graph("N"), batch_size=0)


def test_random_feed_warning_names_the_consequence():
    with pytest.warns(UserWarning, match="so the ranges are a guess"):
        feeds, warns = calibration_feeds(None, _graph(2), consequence="the ranges are a guess")
    assert len(feeds) == 1 and "the ranges are a guess" in warns[0]
