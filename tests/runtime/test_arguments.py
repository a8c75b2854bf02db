"""Run-time arguments (issue 10, item 4): bad addresses are refused, never dereferenced (the table of
bad_address_cases.py, run in a subprocess since a miss would be a segfault); arrays no tensor can be made of get a
BindingError naming the input; TensorRT-API calls with wrong argument types or values return False and log why."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from bad_address_cases import CASES, GOOD_CASES, map_pages, unmap
from helpers import assert_close
from rt_tools import ListLogger, build_engine, inputs, reference

import inferrt as trt
from inferrt.runtime import host_mappings

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def address_results():
    """Every case of bad_address_cases.py, run in one child process: {case: result line}."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(trt.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, HERE, os.path.dirname(HERE)]))
    proc = subprocess.run([sys.executable, os.path.join(HERE, "bad_address_cases.py")], capture_output=True,
                          text=True, env=env, timeout=600)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    results = {r["case"]: r for r in lines if "case" in r}
    started = [r["start"] for r in lines if "start" in r]
    if proc.returncode != 0:
        crashed = started[-1] if started and started[-1] not in results else None
        pytest.fail(f"the case runner exited with {proc.returncode} during case {crashed!r}:\n{proc.stderr[-3000:]}")
    return results


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_address_is_refused(address_results, case):
    tensor, _, want_set, want_exec, words = CASES[case]
    r = address_results[case]
    assert r["set"] is want_set, r
    assert r["exec"] is want_exec, r
    for w in words:
        assert w in r["error"], f"{w!r} not in {r['error']!r}"
    assert not r["correct"] or case == "null"  # y was never written (NaN) when the run was refused


@pytest.mark.parametrize("case", sorted(GOOD_CASES))
def test_unusual_but_valid_address_runs(address_results, case):
    r = address_results[case]
    assert r["set"] is True and r["exec"] is True and r["correct"], r


# ---------------------------------------------------------------------- the mapping table itself
def test_parse_maps_merges_adjacent_mappings_and_reads_permissions():
    text = (b"1000-2000 rw-p 00000000 00:00 0\n"
            b"2000-3000 rw-p 00000000 00:00 0 [heap]\n"
            b"3000-4000 r--p 00000000 00:00 0 /lib/x.so\n"
            b"5000-6000 ---p 00000000 00:00 0\n"
            b"6000-7000 r-xp 00000000 00:00 0 /usr/bin/with spaces in name\n")
    readable, writable = host_mappings.parse_maps(text)
    assert writable.covers(0x1000, 0x2000) and not writable.covers(0x1000, 0x2001)
    assert readable.covers(0x1000, 0x3000) and not readable.covers(0x3fff, 2)
    assert not readable.covers(0x5000, 1) and readable.covers(0x6000, 0x1000)
    assert not readable.covers(0xfff, 1)


def test_mapping_table_is_refreshed_for_new_memory_and_sees_unmapped_memory():
    maps = host_mappings.MAPPINGS
    maps.refresh()   # no stale entry (memory unmapped since the last read) may cover the pages mapped next
    p = map_pages(2)
    try:
        reads = maps.reads
        assert maps.covers(p, 2 * host_mappings.PAGE, writable=True)   # new memory: one refresh finds it
        assert maps.reads == reads + 1
        assert maps.covers(p, 8, writable=True) and maps.reads == reads + 1   # then cached
    finally:
        unmap(p, 2)
    # unmapped since the last read: mincore notices, without a stale "yes"
    assert not maps.covers(p, 8, writable=False)


# ---------------------------------------------------------------------- arrays of the Pythonic layer
@pytest.fixture(scope="module")
def engine():
    return build_engine("cpu")


def _quantized(x):
    with warnings.catch_warnings():   # quantized tensors are deprecated in torch, but still made
        warnings.simplefilter("ignore")
        return torch.quantize_per_tensor(torch.from_numpy(x), 0.1, 0, torch.qint8)


def _bad_inputs():
    x, _ = inputs(2)
    return {
        "object": (x.astype(object), ["'x'", "Python objects", "np.asarray"]),
        "string": (np.array([["1.0"] * 8] * 2), ["'x'", "strings"]),
        "bytes": (np.array([[b"1"] * 8] * 2), ["'x'", "byte strings"]),
        "structured": (np.zeros((2, 8), dtype=[("a", "f4")]), ["'x'", "structured records"]),
        "datetime": (np.zeros((2, 8), dtype="datetime64[s]"), ["'x'", "datetimes"]),
        "complex": (x.astype(np.complex64), ["'x'", "complex"]),
        "complex_torch": (torch.zeros(2, 8, dtype=torch.complex64), ["'x'", "complex"]),
        "big_endian": (x.astype(">f4"), ["'x'", "big-endian", "newbyteorder"]),
        "long_double": (x.astype(np.longdouble), ["'x'", "float32"]),
        "meta": (torch.empty(2, 8, device="meta"), ["'x'", "meta tensor"]),
        "sparse": (torch.from_numpy(x).to_sparse(), ["'x'", "to_dense"]),
        "quantized": (_quantized(x), ["'x'", "quantized"]),
        "huge_ints": ([[10 ** 30] * 8] * 2, ["'x'", "Python objects"]),
        "ragged": ([[1.0] * 8, [1.0] * 3], ["'x'", "nested list"]),
        "string_scalar": ("1.0", ["'x'", "cannot use a str"]),
        "wrong_dtype": (x.astype(np.int16), ["'x'", "FLOAT"]),
        "huge_shape": (np.broadcast_to(np.float32(1), (2 ** 40, 8)), ["'x'", "outside optimization profile"]),
        "wrong_rank": (x.reshape(2, 2, 4), ["'x'", "rank"]),
    }


@pytest.mark.parametrize("case", sorted(_bad_inputs()))
def test_bad_input_array_is_a_binding_error_naming_the_input(engine, case):
    value, words = _bad_inputs()[case]
    _, s = inputs(2)
    with pytest.raises((trt.BindingError, trt.ShapeError)) as e:
        engine.create_execution_context().infer(x=value, s=s)
    for w in words:
        assert w in str(e.value), f"{w!r} not in {e.value}"


@pytest.mark.parametrize("make", [
    lambda x: np.repeat(x, 2, axis=1)[:, ::2],                  # strided
    lambda x: np.ascontiguousarray(x[::-1])[::-1],              # negative strides
    lambda x: np.asfortranarray(x),                             # column major
    lambda x: x.astype(np.float64),                             # doubles, taken as float
    lambda x: torch.from_numpy(np.concatenate([x, x], 1)).t().contiguous().t()[:, :8],   # non-contiguous torch
    lambda x: x.tolist(),                                       # nested lists
], ids=["strided", "negative_strides", "fortran", "float64", "torch_noncontiguous", "list"])
def test_supported_unusual_arrays_run_correctly(engine, make):
    x, s = inputs(2, seed=3)
    out = engine.create_execution_context().infer(x=make(x), s=s)["y"]
    assert_close(np.asarray(out), reference(x, s))


@pytest.mark.parametrize("feed,words", [
    (5, ["dict", "int"]),
    ("x", ["dict", "str"]),
    ([np.zeros((2, 8), np.float32)] * 3, ["3 inputs", "has 2"]),
    ({"x": 1, "z": 2}, ["unknown input", "'z'"]),
])
def test_bad_feed_is_a_binding_error(engine, feed, words):
    with pytest.raises(trt.BindingError) as e:
        engine.create_execution_context().infer(feed)
    for w in words:
        assert w in str(e.value)


def test_zero_dimensional_inputs_keep_their_shape():
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    net = builder.create_network(0)
    a = net.add_input("a", trt.float32, ())
    out = net.add_elementwise(a, a, trt.ElementWiseOperation.SUM).get_output(0)
    out.name = "twice"
    net.mark_output(out)
    config = builder.create_builder_config()
    config.device = "cpu"
    engine = trt.Runtime(trt.Logger(trt.Logger.ERROR)).deserialize_cuda_engine(builder.build(net, config))
    ctx = engine.create_execution_context()
    for value in (np.array(1.5, np.float32), np.float32(1.5), 1.5, torch.tensor(1.5)):
        got = np.asarray(ctx.infer(a=value)["twice"])
        assert got.shape == () and got == 3.0, (value, got)


def test_bad_stream_argument_of_infer(engine):
    x, s = inputs(2)
    with pytest.raises(trt.BindingError, match="stream handle"):
        engine.create_execution_context().infer(x=x, s=s, stream="default")


# ---------------------------------------------------------------------- TensorRT API: False and a logged error
def _ctx():
    logger = ListLogger()
    return build_engine("cpu", runtime_logger=logger).create_execution_context(), logger


@pytest.mark.parametrize("call,words", [
    (lambda c: c.set_input_shape("x", (2.5, 8)), ["'x'", "not a sequence of integers", "float"]),
    (lambda c: c.set_input_shape("x", "2,8"), ["'x'", "not a sequence of integers"]),
    (lambda c: c.set_input_shape("x", None), ["'x'", "not a sequence of integers"]),
    (lambda c: c.set_input_shape("x", (2 ** 70, 8)), ["'x'", "outside optimization profile"]),
    (lambda c: c.set_input_shape("x", (True, 8)), ["'x'", "bool"]),
    (lambda c: c.set_optimization_profile_async("0", 0), ["optimization profile must be an integer"]),
    (lambda c: c.set_optimization_profile_async(7, 0), ["optimization profile 7 is out of range"]),
    (lambda c: c.set_optimization_profile_async(0, -1), ["stream handle"]),
    (lambda c: c.execute_async_v3("default"), ["stream handle", "cuda_stream"]),
    (lambda c: c.execute_async_v3(2 ** 64), ["stream handle"]),
    (lambda c: c.execute_v2(None), ["execute_v2", "list of 3 addresses"]),
    (lambda c: c.execute_v2(["a", "b", "c"]), ["execute_v2", "'x'", "must be an integer"]),
    (lambda c: c.execute_v2([-8, 0, 0]), ["execute_v2", "'x'", "not an address"]),
    (lambda c: c.set_output_allocator("y", object()), ["'y'", "IOutputAllocator"]),
])
def test_trt_api_bad_arguments_return_false_and_log(call, words):
    ctx, logger = _ctx()
    assert call(ctx) is False
    for w in words:
        assert w in logger.errors()[-1], f"{w!r} not in {logger.errors()[-1]!r}"


def test_set_device_memory_refuses_unusable_memory():
    ctx, logger = _ctx()
    size = ctx.engine.device_memory_size
    before = ctx.device_memory
    p = map_pages(1)
    unmap(p)
    ctx.set_device_memory(p, max(size, 1))
    assert "device memory" in logger.errors()[-1] and "unmapped or freed" in logger.errors()[-1]
    ctx.set_device_memory(2 ** 70, size)
    assert "not an address" in logger.errors()[-1]
    ctx.set_device_memory(4096, "big")
    assert "size must be an integer" in logger.errors()[-1]
    assert ctx.device_memory == before   # unchanged: the context still runs
    x, s = inputs(2)
    assert_close(ctx.infer(x=x, s=s)["y"], reference(x, s))


def test_output_allocator_returning_a_bad_address_fails_cleanly():
    class BadAllocator(trt.IOutputAllocator):
        def reallocate_output(self, name, memory, size, alignment):
            p = map_pages(1)
            unmap(p)
            return p

        def notify_shape(self, name, shape):
            raise AssertionError("not reached")

    ctx, logger = _ctx()
    x, s = inputs(2)
    ctx.set_input_shape("x", x.shape)
    ctx.set_input_shape("s", s.shape)
    ctx.set_tensor_address("x", x.ctypes.data)
    ctx.set_tensor_address("s", s.ctypes.data)
    assert ctx.set_output_allocator("y", BadAllocator())
    assert ctx.execute_async_v3(0) is False
    assert "'y'" in logger.errors()[-1] and "unmapped or freed" in logger.errors()[-1]


def test_engine_index_arguments():
    engine = build_engine("cpu")
    with pytest.raises(TypeError, match="I/O tensor index must be an integer"):
        engine.get_tensor_name("x")
    with pytest.raises(IndexError, match="out of range"):
        engine.get_tensor_name(3)
    assert engine.get_tensor_name(np.int64(2)) == "y"
    with pytest.raises(TypeError, match="optimization profile must be an integer"):
        engine.get_tensor_profile_shape("x", 0.0)
    with pytest.raises(IndexError, match="optimization profile 1 is out of range"):
        engine.get_device_memory_size_for_profile(1)
    assert engine.get_tensor_mode(["x"]) == trt.TensorIOMode.NONE
    assert engine.get_tensor_mode(None) == trt.TensorIOMode.NONE


def test_profiler_must_be_an_iprofiler():
    ctx, _ = _ctx()
    with pytest.raises(TypeError, match="IProfiler"):
        ctx.profiler = print
    ctx.profiler = None
    assert ctx.get_tensor_address(["x"]) == 0 and ctx.get_output_allocator(None) is None


@pytest.mark.parametrize("profiles,words", [
    ({"x": [(1, 8), (2, 8)]}, ["profiles[0]['x']", "three shapes"]),
    ({"x": [(1, 8), (2, 8), (4, 8.5)]}, ["profiles[0]['x']", "integers"]),
    ([{"x": [(1, 8), (2, 8), (4, 8)]}, {"x": "1,8"}], ["profiles[1]['x']"]),
    ("x", ["profiles must be a dict"]),
])
def test_build_engine_profiles_argument(profiles, words):
    from rt_tools import make_network

    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    with pytest.raises(trt.BuildError) as e:
        trt.build_engine(make_network(builder), profiles=profiles, device="cpu")
    for w in words:
        assert w in str(e.value)
    with pytest.raises(TypeError, match="engine or plan bytes"):
        trt.save_plan(3, os.devnull)


# ---------------------------------------------------------------------- the GPU equivalents
@pytest.mark.gpu
def test_gpu_addresses_checked_before_a_kernel_touches_them():
    """On a CUDA engine: bad integers and misaligned addresses are refused; ordinary host memory is refused
    (unless this GPU reaches pageable memory), since a kernel dereferencing it would lose the process's CUDA
    context; pinned host memory and device memory run."""
    from inferrt.runtime import device_pointers

    logger = ListLogger()
    ctx = build_engine("cuda", runtime_logger=logger).create_execution_context()
    x, s = inputs(2)
    dx, ds = torch.from_numpy(x).cuda(), torch.from_numpy(s).cuda()
    for bad, words in ((-8, "not an address"), (2 ** 64, "not an address"), (1.5, "must be an integer"),
                       (dx.data_ptr() + 2, "not aligned")):
        assert ctx.set_tensor_address("x", bad) is False and words in logger.errors()[-1]
    host = np.zeros((2, 4), np.float32)
    if device_pointers._runtime() is not None and not device_pointers.reaches_pageable(0):
        assert ctx.set_tensor_address("y", host.ctypes.data) is False
        assert "'y'" in logger.errors()[-1] and "ordinary host memory" in logger.errors()[-1]
    pinned = torch.full((2, 4), float("nan"), pin_memory=True)
    ctx.set_input_shape("x", x.shape)
    ctx.set_input_shape("s", s.shape)
    assert ctx.set_tensor_address("x", dx.data_ptr()) and ctx.set_tensor_address("s", ds.data_ptr())
    assert ctx.set_tensor_address("y", pinned.data_ptr())
    assert ctx.execute_async_v3(0)
    torch.cuda.synchronize()
    assert_close(pinned.numpy(), reference(x, s))


@pytest.mark.gpu
def test_gpu_bad_input_tensors_are_binding_errors():
    ctx = build_engine("cuda").create_execution_context()
    _, s = inputs(2)
    with pytest.raises(trt.BindingError, match="meta tensor"):
        ctx.infer(x=torch.empty(2, 8, device="meta"), s=torch.from_numpy(s).cuda())
    with pytest.raises(trt.BindingError, match="big-endian"):
        ctx.infer(x=np.zeros((2, 8), ">f4"), s=s)


def test_shape_arguments_that_never_end_are_not_read_to_the_end():
    import itertools

    ctx, logger = _ctx()
    assert ctx.set_input_shape("x", itertools.count(1)) is False
    assert "more than 64 dimensions" in logger.errors()[-1]
    assert ctx.set_input_shape("x", torch.tensor([2, 8])) is True   # a tensor of ints is a shape
    assert ctx.set_input_shape("s", np.array([2, 4])) is True
