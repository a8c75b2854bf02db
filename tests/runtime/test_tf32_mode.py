"""The TF32 switch regions (runtime/tf32.py): set while any region runs, restored after the last, never flipped
under a running region by another thread."""
from __future__ import annotations

import threading
import time

import torch

from inferrt.runtime.tf32 import tf32_mode


def _flags():
    return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32


def test_flags_set_inside_and_restored_after():
    before = _flags()
    with tf32_mode(not before[0]):
        assert _flags() == (not before[0],) * 2
    assert _flags() == before


def test_overlapping_regions_keep_the_mode_until_the_last_ends():
    before = _flags()
    seen, errors = [], []
    start = threading.Barrier(3)

    def same_mode(k):
        try:
            start.wait()
            for _ in range(50):
                with tf32_mode(False):
                    seen.append(_flags())
                    time.sleep(0.0005)
                    seen.append(_flags())
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def other_mode():
        try:
            start.wait()
            for _ in range(50):
                with tf32_mode(True):
                    seen.append(("other",) + _flags())
                    time.sleep(0.0005)
                    seen.append(("other",) + _flags())
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=same_mode, args=(k,)) for k in range(2)] + [threading.Thread(target=other_mode)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors and not any(t.is_alive() for t in threads)
    assert all(f == (False, False) for f in seen if f[0] != "other")
    assert all(f[1:] == (True, True) for f in seen if f[0] == "other")
    assert _flags() == before


def test_nested_region_of_the_other_mode_is_an_error_not_a_hang():
    import pytest

    with tf32_mode(True):
        with tf32_mode(True):  # same mode nests
            pass
        with pytest.raises(RuntimeError, match="TF32"):
            with tf32_mode(False):
                pass

