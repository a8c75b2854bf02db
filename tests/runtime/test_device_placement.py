"""Device placement on a simulated host of several GPUs (tests/sim_gpus.py): device names and indices, the GPU an
engine is deserialized on (the current one, or ``device=``), the fingerprint check per GPU, builds on
``config.device``'s GPU. The same paths on real GPUs: test_device_placement_gpu.py."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import inferrt as trt
import inferrt.device as dev
from inferrt.errors import BuildError, PlanError
from inferrt.runtime import engine as engine_mod
from tests.plan.plan_tools import with_manifest
from tests.runtime.rt_tools import ListLogger, build_cpu_plan, make_network
from tests.sim_gpus import A100, H100, SimulatedGpus


@pytest.fixture(scope="module")
def cpu_plan() -> bytes:
    return build_cpu_plan()


def _gpu_plan(cpu_plan: bytes, name: str = H100) -> bytes:
    """The CPU plan relabelled as built for GPU ``name`` (its engine is never created: FakeEngine stands in)."""
    def edit(m):
        m["device"] = {"kind": "cuda", "name": name, "capability": "sm_90" if name == H100 else "sm_80"}
    return with_manifest(cpu_plan, edit)


class FakeEngine:
    """Stands in for ICudaEngine on a simulated host: records the GPU that was current when it was created."""

    def __init__(self, plan, manifest, *args, **kwargs):
        self.device = torch.device("cuda", dev.current_gpu())
        self.device_kind = manifest.device_kind


@pytest.fixture
def host(monkeypatch):
    """Two H100s and an A100: GPU 2 is of another kind."""
    gpus = SimulatedGpus(monkeypatch, [H100, H100, A100])
    monkeypatch.setattr(engine_mod, "ICudaEngine", FakeEngine)
    return gpus


# ------------------------------------------------------------------------------------------------ device names
@pytest.mark.parametrize("name, expected", [
    (None, ("auto", None)), ("auto", ("auto", None)), ("cpu", ("cpu", None)), ("CPU", ("cpu", None)),
    ("cuda", ("cuda", None)), ("gpu", ("cuda", None)), ("cuda:1", ("cuda", 1)), ("3", ("cuda", 3)), (2, ("cuda", 2)),
    (torch.device("cuda", 1), ("cuda", 1)), (torch.device("cuda"), ("cuda", None)),
    (torch.device("cpu"), ("cpu", None)),
])
def test_split_device(name, expected):
    assert dev.split_device(name) == expected


@pytest.mark.parametrize("name", ["tpu", "cuda:x", "cuda:-1", -1, True, torch.device("meta")])
def test_split_device_refuses_what_is_not_a_device(name):
    with pytest.raises(ValueError):
        dev.split_device(name)


def test_gpu_index_checks_the_host(monkeypatch):
    SimulatedGpus(monkeypatch, [H100, H100])
    assert dev.gpu_index("cuda:1") == 1 and dev.gpu_index(0) == 0
    assert dev.gpu_index("cuda") is None and dev.gpu_index("cpu") is None and dev.gpu_index(None) is None
    with pytest.raises(ValueError, match=r"--device=2: there are 2 CUDA device\(s\) on this host; use an index in "
                                         r"0\.\.1"):
        dev.gpu_index("2", "--device")
    with pytest.raises(ValueError, match=r"config\.device: unknown device 'tpu'"):
        dev.gpu_index("tpu", "config.device")


def test_gpu_index_without_gpus(monkeypatch):
    SimulatedGpus(monkeypatch, [])
    with pytest.raises(ValueError, match=r"device=cuda:0: there are 0 CUDA device\(s\) on this host \(PyTorch sees "
                                         r"no GPU\)"):
        dev.gpu_index("cuda:0")
    assert dev.gpu_index("cpu") is None


def test_resolve_device_checks_the_index(monkeypatch):
    SimulatedGpus(monkeypatch, [H100, H100])
    assert dev.resolve_device("cuda:1") == "cuda" and dev.resolve_device(1) == "cuda"
    with pytest.raises(ValueError, match=r"there are 2 CUDA device\(s\)"):
        dev.resolve_device("cuda:7")


def test_on_device_enters_the_named_gpu_only(monkeypatch):
    gpus = SimulatedGpus(monkeypatch, [H100, H100])
    gpus.current = 0
    with dev.on_device("cuda:1"):
        assert dev.current_gpu() == 1
    assert dev.current_gpu() == 0
    for name in ("cpu", "cuda", None, "auto"):
        with dev.on_device(name):
            assert dev.current_gpu() == 0
    assert gpus.entered == [1]


def test_fingerprint_leaves_the_index_out(monkeypatch):
    gpus = SimulatedGpus(monkeypatch, [H100, H100])
    assert gpus.fingerprint("cuda", 0) == gpus.fingerprint("cuda", 1)
    assert "index" not in gpus.fingerprint("cuda", 1)


# ------------------------------------------------------------------------------------------------ loading
def test_deserialize_uses_the_current_gpu(host, cpu_plan):
    """TensorRT: an engine belongs to the device current when it is deserialized."""
    plan = _gpu_plan(cpu_plan)
    runtime = trt.Runtime(trt.Logger(trt.Logger.ERROR))
    for index in (1, 0):
        dev.select_gpu(index)
        assert runtime.deserialize_cuda_engine(plan).device == torch.device("cuda", index)
    host.current = 0
    with dev.on_device(1):
        assert runtime.deserialize_cuda_engine(plan).device.index == 1


@pytest.mark.parametrize("device, index", [(1, 1), ("cuda:1", 1), ("1", 1), (torch.device("cuda", 1), 1),
                                           ("cuda", 0), (None, 0)])
def test_load_engine_device_argument(host, cpu_plan, device, index):
    engine = trt.load_engine(_gpu_plan(cpu_plan), device=device)
    assert engine.device == torch.device("cuda", index)
    assert host.current == 0            # the thread's current device is left as it was


def test_a_plan_loads_on_every_gpu_of_its_kind_only(host, cpu_plan):
    plan = _gpu_plan(cpu_plan)
    assert [trt.load_engine(plan, device=i).device.index for i in (0, 1)] == [0, 1]
    with pytest.raises(PlanError, match=rf"plan was built for {H100} \(sm_90\) but GPU 2 is {A100} \(sm_80\)") as e:
        trt.load_engine(plan, device=2)
    assert "rebuild the plan on this device" in str(e.value)
    dev.select_gpu(2)
    logger = ListLogger()
    assert trt.Runtime(logger).deserialize_cuda_engine(plan) is None     # TensorRT: None and a logged error
    assert any("GPU 2 is" in m and A100 in m for m in logger.errors()), logger.errors()


def test_load_engine_device_errors(host, cpu_plan):
    with pytest.raises(PlanError, match=r"device=cuda:3: there are 3 CUDA device\(s\) on this host; use an index "
                                        r"in 0\.\.2"):
        trt.load_engine(_gpu_plan(cpu_plan), device="cuda:3")
    with pytest.raises(PlanError, match=r"device='cpu' but the plan was built for NVIDIA H100"):
        trt.load_engine(_gpu_plan(cpu_plan), device="cpu")
    with pytest.raises(PlanError, match=r"device='cuda:1' but the plan was built for the CPU"):
        trt.load_engine(cpu_plan, device="cuda:1")
    with pytest.raises(PlanError, match=r"unknown device 'tpu'"):
        trt.load_engine(cpu_plan, device="tpu")
    assert host.entered == []        # nothing was placed on a GPU for a refused request


def test_cpu_plan_with_device_cpu_runs(cpu_plan):
    engine = trt.load_engine(cpu_plan, device="cpu")
    x = np.ones((2, 8), np.float32)
    s = np.zeros((2, 4), np.float32)
    out = engine.create_execution_context().infer(x=x, s=s)
    assert out["y"].shape == (2, 4)


def test_builder_builds_on_config_device_gpu(monkeypatch, cpu_plan):
    """config.device = "cuda:N": the whole build (tactic timing, kernels, the accuracy check) runs with GPU N
    current, and the engines of build_engine_with_config / inferrt.build_engine are placed there; the build itself
    is simulated (it returns the relabelled plan)."""
    from inferrt.builder import build as build_mod

    gpus = SimulatedGpus(monkeypatch, [H100, H100])
    seen = []

    def fake_build_plan(network, config, log, progress):
        seen.append(dev.current_gpu())
        return _gpu_plan(cpu_plan)

    monkeypatch.setattr(build_mod, "build_plan", fake_build_plan)
    monkeypatch.setattr(engine_mod, "ICudaEngine", FakeEngine)
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    config = builder.create_builder_config()
    config.device = "cuda:1"
    builder.build(make_network(builder), config)
    assert seen == [1] and gpus.current == 0
    assert builder.build_engine_with_config(make_network(builder), config).device.index == 1   # where it was built
    assert trt.build_engine(make_network(builder), device="cuda:1").device.index == 1
    assert seen == [1, 1, 1] and gpus.current == 0
    config.device = "cuda:2"
    with pytest.raises(BuildError, match=r"config\.device=cuda:2: there are 2 CUDA device\(s\)"):
        builder.build(make_network(builder), config)
    assert builder.build_serialized_network(make_network(builder), config) is None   # TensorRT: None + error


def test_infer_refuses_a_stream_of_another_gpu():
    from inferrt.errors import BindingError
    from inferrt.runtime.arguments import stream_handle

    class Stream:   # what a torch.cuda.Stream offers: its handle and its device
        cuda_stream = 1234
        device = torch.device("cuda", 0)

    assert stream_handle(Stream(), torch.device("cuda", 0)) == 1234
    with pytest.raises(BindingError, match=r"stream of cuda:0 but the engine runs on cuda:1; pass a stream of "
                                           r"cuda:1 \(torch.cuda.Stream\(device=1\)\)"):
        stream_handle(Stream(), torch.device("cuda", 1))


@pytest.mark.parametrize("kind, refused", [((2, 0), True), ((2, 1), False), ((3, 0), False), ((1, 0), False),
                                           (None, False)])
def test_memory_of_another_gpu_is_refused(monkeypatch, kind, refused):
    """cudaPointerGetAttributes' answer (type, device) for a buffer bound to an engine on GPU 1: device memory of
    GPU 0 is refused (a kernel on GPU 1 would fault on it); its own GPU's, managed and pinned memory pass."""
    from inferrt.runtime import arguments

    monkeypatch.setattr(arguments, "pointer_kind", lambda ptr: kind)
    why = arguments.device_buffer_problem("x", 0x7F0000001000, 16, False, 1)
    if refused:
        assert why == ("the buffer of tensor 'x' at 0x7f0000001000 is memory of GPU 0 but the engine runs on GPU 1; "
                       "bind memory of GPU 1 (a tensor on cuda:1) with context.set_tensor_address('x', ptr)")
    else:
        assert why is None
