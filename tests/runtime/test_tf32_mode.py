"""The TF32 switch regions (runtime/tf32.py): set while any region runs, restored after the last, never flipped
under a running region by another thread."""
from __future__ import annotations

import threading
import time

import pytest
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



@pytest.mark.gpu
@pytest.mark.parametrize("tf32", [False, True])
def test_infer_on_a_data_dependent_engine_runs_in_the_engines_tf32_mode(tf32, monkeypatch):
    """Engines with data-dependent shapes run eagerly through ``infer``; their products follow BuilderFlag.TF32
    like every other execution, whatever the process-wide switch says."""
    import numpy as np

    import inferrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, (4, 4))
    nz = net.add_non_zero(x)
    net.mark_output(nz.get_output(0))
    config = builder.create_builder_config()
    config.device = "cuda"
    if not tf32:
        config.clear_flag(trt.BuilderFlag.TF32)
    engine = trt.Runtime(logger).deserialize_cuda_engine(builder.build(net, config))
    ctx = engine.create_execution_context()
    seen = []
    real = engine.executor.run_eager

    def spy(*a, **k):
        seen.append(_flags())
        return real(*a, **k)

    monkeypatch.setattr(engine.executor, "run_eager", spy)
    before = _flags()
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = not tf32
    try:
        out = ctx.infer(x=np.eye(4, dtype=np.float32))
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before
    assert seen == [(tf32, tf32)]
    assert np.asarray(next(iter(out.values()))).shape == (2, 4)
