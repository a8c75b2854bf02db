"""The timing-cache key covers what a timing depends on: the layout each input and output is timed in and the
versions of the kernel libraries (PyTorch, cuDNN, CUDA, cuBLAS, Triton). A cache recorded under other versions
gives misses after a round trip through serialize/deserialize, never another tactic."""
from __future__ import annotations

import sys
import types
from importlib import metadata

import pytest
import torch

import inferrt as trt
from inferrt.enums import DataType
from inferrt.ir.graph import Node
from inferrt.ir.kinds import Kind
from inferrt.ops import Spec
from inferrt.ops.base import Attrs
from inferrt.tactics import select, timing_cache
from inferrt.tactics.registry import get_tactic


def _relu():
    node = Node("relu", Kind.ACTIVATION, ["x"], ["y"], Attrs(type=trt.ActivationType.RELU))
    specs = {"x": Spec(DataType.FLOAT, (1, 8, 16, 16)), "y": Spec(DataType.FLOAT, (1, 8, 16, 16))}
    return node, specs, [get_tactic("generic")]


def test_key_is_stable_for_the_same_node_layout_and_versions():
    node, specs, cands = _relu()
    assert select._key(node, specs, "dev", cands) == select._key(node, specs, "dev", cands)
    assert select._key(node, specs, "dev", cands, frozenset({"y"})) == \
        select._key(node, specs, "dev", cands, frozenset({"y", "unrelated"}))


@pytest.mark.parametrize("nhwc", [frozenset({"x"}), frozenset({"y"}), frozenset({"x", "y"})])
def test_key_differs_when_an_input_or_output_layout_differs(nhwc):
    node, specs, cands = _relu()
    assert select._key(node, specs, "dev", cands, nhwc) != select._key(node, specs, "dev", cands)


def test_input_and_output_layouts_are_told_apart():
    node, specs, cands = _relu()
    assert select._key(node, specs, "dev", cands, frozenset({"x"})) != \
        select._key(node, specs, "dev", cands, frozenset({"y"}))


def test_key_differs_when_a_library_version_differs(monkeypatch):
    node, specs, cands = _relu()
    base = select._key(node, specs, "dev", cands)
    monkeypatch.setattr(select, "library_versions", lambda: "torch=0.0;cudnn=1;cuda=1.0;cublas=1.0;triton=0.0")
    assert select._key(node, specs, "dev", cands) != base


@pytest.mark.parametrize("library,patch", [
    ("cudnn", lambda mp: mp.setattr(torch.backends.cudnn, "version", lambda: 12345)),
    ("cuda", lambda mp: mp.setattr(torch.version, "cuda", "99.9")),
    ("torch", lambda mp: mp.setattr(torch, "__version__", "0.0.1")),
    ("cublas", lambda mp: mp.setattr(timing_cache, "cublas_version", lambda cuda: "99.1.2.3")),
    ("triton", lambda mp: mp.setitem(sys.modules, "triton", types.SimpleNamespace(__version__="0.0.1"))),
])
def test_library_versions_names_each_library(monkeypatch, library, patch):
    before = timing_cache.library_versions.__wrapped__()
    patch(monkeypatch)
    after = timing_cache.library_versions.__wrapped__()
    assert after != before
    assert [p for p in after.split(";") if p.startswith(library + "=")] != \
        [p for p in before.split(";") if p.startswith(library + "=")]


def test_library_versions_is_computed_once_per_process():
    first = timing_cache.library_versions()
    assert timing_cache.library_versions() is first
    assert first.startswith(f"torch={torch.__version__};cudnn=")
    assert [p.split("=")[0] for p in first.split(";")] == ["torch", "cudnn", "cuda", "cublas", "triton"]


@pytest.mark.parametrize("cuda,wheel", [("11.8", "nvidia-cublas-cu11"), ("12.4", "nvidia-cublas-cu12"),
                                        ("13.0", "nvidia-cublas")])
def test_cublas_version_is_the_wheel_of_pytorchs_cuda(monkeypatch, cuda, wheel):
    installed = {"nvidia-cublas-cu11": "11.11.3.6", "nvidia-cublas-cu12": "12.4.5.8", "nvidia-cublas": "13.1.0.3"}

    def version(name):
        if name not in installed:
            raise metadata.PackageNotFoundError(name)
        return installed[name]

    monkeypatch.setattr(metadata, "version", version)
    assert timing_cache.cublas_version(cuda) == installed[wheel]
    del installed[wheel]   # the toolkit's own cuBLAS: its version is the key's ``cuda``
    assert timing_cache.cublas_version(cuda) is None


def test_cublas_version_is_none_without_cuda(monkeypatch):
    monkeypatch.setattr(metadata, "version", lambda name: "12.4.5.8")
    assert timing_cache.cublas_version(None) is None


def test_cache_serialized_under_other_versions_misses(monkeypatch):
    node, specs, cands = _relu()
    with monkeypatch.context() as mp:
        mp.setattr(select, "library_versions", lambda: "torch=1.0;cudnn=7000;cuda=10.0;cublas=10.0;triton=2.0")
        old = timing_cache.ITimingCache(device="dev")
        old.record(select._key(node, specs, "dev", cands), "generic", 0.5)
        data = old.serialize()
    cache = timing_cache.ITimingCache.deserialize(data)
    assert len(cache) == 1 and cache.lookup(select._key(node, specs, "dev", cands)) is None
    now = timing_cache.ITimingCache(device="dev")
    now.record(select._key(node, specs, "dev", cands), "generic", 0.25)
    assert cache.combine(timing_cache.ITimingCache.deserialize(now.serialize()))
    assert cache.lookup(select._key(node, specs, "dev", cands))["ms"] == 0.25
