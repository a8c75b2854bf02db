"""bench/quantized.py frees each engine before it builds the next: on the GPU the batch-256 ResNet-50 row ran out of
memory while the batch-64 row's FP16, INT8 and FP8 engines (and their CUDA-graph pools) were still alive."""
from __future__ import annotations

import gc
import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _bench():
    spec = importlib.util.spec_from_file_location("bench_quantized", os.path.join(ROOT, "bench", "quantized.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_each_engine_is_freed_before_the_next_is_built(monkeypatch):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("transformers")
    import inferrt
    from inferrt.runtime.engine import ICudaEngine

    bench = _bench()

    def alive():
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, ICudaEngine))

    baseline = alive()
    at_build = []
    build = inferrt.build_engine

    def counted(*args, **kwargs):
        at_build.append(alive() - baseline)
        return build(*args, **kwargs)

    monkeypatch.setattr(bench.inferrt, "build_engine", counted)
    row = bench.bench_row("bert_base", 2, "cpu", ["int8", "fp8"], True, 1)
    assert at_build == [0, 0, 0], at_build       # the float, INT8 and FP8 engines, one at a time
    assert alive() == baseline
    assert row["calibration"] == "max" and row["int8_graph"] is None and "fp8_err" in row
