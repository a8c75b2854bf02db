"""buffers.as_torch: what users hand ``infer`` keeps its shape and values (0-D arrays included)."""
import numpy as np
import pytest
import torch

from inferrt.errors import BindingError
from inferrt.runtime.buffers import as_torch


@pytest.mark.parametrize("value", [np.float32(2.5), np.array(7, dtype=np.int64), np.array(3.0, dtype=np.float32)])
def test_zero_dim_arrays_stay_zero_dim(value):
    t = as_torch(value, torch.device("cpu"), "x")
    assert t.shape == ()
    assert t.item() == np.asarray(value).item()


def test_non_contiguous_array_keeps_shape_and_values():
    a = np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2]
    t = as_torch(a, torch.device("cpu"), "x")
    assert t.is_contiguous() and tuple(t.shape) == a.shape
    np.testing.assert_array_equal(t.numpy(), a)


def test_string_array_is_a_binding_error_naming_the_input():
    with pytest.raises(BindingError, match="'words'"):
        as_torch(np.array(["a", "b"]), torch.device("cpu"), "words")
