"""IOptimizationProfile's arguments: names or ITensors, shapes of integers; anything else is a TypeError naming the
input and the shape (as TensorRT's bindings raise), never an internal AttributeError."""
from __future__ import annotations

import numpy as np
import pytest

import inferrt as trt


def _profile():
    return trt.Builder(trt.Logger(trt.Logger.ERROR)).create_optimization_profile()


@pytest.mark.parametrize("bad", [None, 3, 1.5, b"x", object()])
def test_input_that_is_not_a_name_or_tensor(bad):
    p = _profile()
    for call in (lambda: p.set_shape(bad, (1,), (1,), (1,)), lambda: p.get_shape(bad),
                 lambda: p.set_shape_input(bad, (1,), (1,), (1,)), lambda: p.get_shape_input(bad)):
        with pytest.raises(TypeError, match="network input's name or its ITensor"):
            call()


@pytest.mark.parametrize("shape,words", [
    (None, "is not a sequence of integers"),
    ("x", "is not a sequence of integers"),
    ((1, "x"), "dimension 1 is str"),
    ((1, 2.5), "dimension 1 is float"),
    ((1, float("nan")), "dimension 1 is float"),
    (tuple([1] * 100), "more than"),
])
def test_shape_that_is_not_integers(shape, words):
    p = _profile()
    with pytest.raises(TypeError, match=words) as e:
        p.set_shape("x", (1, 2), shape, (1, 2))
    assert "'x'" in str(e.value) and "opt" in str(e.value)
    with pytest.raises(TypeError, match=words):
        p.set_shape_input("s", shape, (1, 2), (1, 2))
    assert p.get_shape("x") == [] and p.get_shape_input("s") == []


def test_integer_kinds_and_tensors_are_accepted():
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    x = builder.create_network(0).add_input("x", trt.float32, (-1, 3))
    p = builder.create_optimization_profile()
    p.set_shape(x, (1, 3), np.array([2, 3]), [np.int64(4), 3])
    assert [tuple(s) for s in p.get_shape("x")] == [(1, 3), (2, 3), (4, 3)]
    p.set_shape_input("s", [1], [2], [3])
    assert p.get_shape_input("s") == [[1], [2], [3]]
    assert p
