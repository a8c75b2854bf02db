"""SoftMax.run's axis is computed once per (axes bitmask, rank) pair (ops/reduce.py ``softmax_axis``, an lru_cache): the same
bitmask at another rank, and the default (no bitmask), still pick their own axis, and a bad bitmask still fails."""
from __future__ import annotations

import pytest
import torch

from inferrt.ops.base import OpError
from inferrt.ops.reduce import SoftMax, softmax_axis


class _A:
    def __init__(self, axes):
        self.axes = axes


@pytest.mark.parametrize("shape,axes,want", [((2, 3), 1 << 1, 1), ((2, 3, 4), 1 << 1, 1), ((2, 3, 4), 1 << 2, 2),
                                             ((2, 3, 4, 5), None, 1), ((3, 4), None, 0)])
def test_axis_per_mask_and_rank(shape, axes, want):
    op = SoftMax()
    x = torch.randn(*shape)
    softmax_axis.cache_clear()
    for _ in range(2):   # the first call fills the cache, the second reads it
        torch.testing.assert_close(op.run(_A(axes), [x], [None])[0], torch.softmax(x, want), rtol=0, atol=0)
    info = softmax_axis.cache_info()
    assert (info.misses, info.hits, info.currsize) == (1, 1, 1)
    assert softmax_axis(axes, len(shape)) == want


def test_bad_mask_still_fails_every_call():
    op = SoftMax()
    softmax_axis.cache_clear()
    for _ in range(2):
        with pytest.raises(OpError, match="exactly one axis"):
            op.run(_A(0b11), [torch.randn(2, 3)], [None])
    assert softmax_axis.cache_info().currsize == 0   # nothing cached for the bad bitmask: computed (and raised) again
