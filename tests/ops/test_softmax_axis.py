"""SoftMax.run's axis is computed once per (axes bitmask, rank) pair (ops/reduce.py ``_SOFTMAX_AXIS``): the same
bitmask at another rank, and the default (no bitmask), still pick their own axis, and a bad bitmask still fails."""
from __future__ import annotations

import pytest
import torch

from inferrt.ops import reduce as reduce_mod
from inferrt.ops.base import OpError
from inferrt.ops.reduce import SoftMax


class _A:
    def __init__(self, axes):
        self.axes = axes


@pytest.mark.parametrize("shape,axes,want", [((2, 3), 1 << 1, 1), ((2, 3, 4), 1 << 1, 1), ((2, 3, 4), 1 << 2, 2),
                                             ((2, 3, 4, 5), None, 1), ((3, 4), None, 0)])
def test_axis_per_mask_and_rank(shape, axes, want):
    op = SoftMax()
    x = torch.randn(*shape)
    for _ in range(2):   # the first call fills the cache, the second reads it
        torch.testing.assert_close(op.run(_A(axes), [x], [None])[0], torch.softmax(x, want), rtol=0, atol=0)
    assert reduce_mod._SOFTMAX_AXIS[(axes, len(shape))] == want


def test_bad_mask_still_fails_every_call():
    op = SoftMax()
    for _ in range(2):
        with pytest.raises(OpError, match="exactly one axis"):
            op.run(_A(0b11), [torch.randn(2, 3)], [None])
    assert (0b11, 2) not in reduce_mod._SOFTMAX_AXIS
