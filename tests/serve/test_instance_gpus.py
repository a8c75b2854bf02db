"""``instance_group`` across a host's GPUs (serve/placement.py), with Triton's semantics: ``count`` instances per
listed GPU (every GPU when ``gpus`` is left out), KIND_AUTO on every GPU for a GPU engine, the model built or loaded
once and its plan deserialized on the other GPUs of its kind. On a simulated host (tests/sim_gpus.py) with stand-in
engines; on real GPUs (gpu / multigpu markers) through InferrtModel."""
from __future__ import annotations

import asyncio
import logging
import os

import numpy as np
import pytest
import torch

pytest.importorskip("kserve")

from inferrt.errors import BuildError, PlanError  # noqa: E402
from inferrt.serve import placement  # noqa: E402
from inferrt.serve.model_config import parse_model_config  # noqa: E402
from inferrt.serve.repository import instance_devices  # noqa: E402
from tests.sim_gpus import A100, H100, SimulatedGpus  # noqa: E402

GPUS = torch.cuda.device_count() if torch.cuda.is_available() else 0


def _cfg(text: str):
    cfg = parse_model_config(text, "config.pbtxt")
    cfg.name = "m"
    return cfg


class FakeEngine:
    def __init__(self, device: torch.device, origin: str):
        self.device = device
        self.origin = origin   # "built" (from the model file) or "plan" (deserialized from another engine's plan)

    def serialize(self):
        return b"plan of " + str(self.device).encode()


class Loads:
    """Stand-ins for the model's build/load (repository.load_engine_for) and for deserializing a plan on a GPU
    (api.load_engine), recording every call. ``kind``: what the model file yields on "auto" ("cuda" or "cpu");
    ``plan_for``: the GPU name a plan file was built for (a GPU of another kind refuses it), None for ONNX (built
    on any GPU)."""

    def __init__(self, monkeypatch, gpus: SimulatedGpus, kind="cuda", plan_for=None):
        import inferrt.api

        self.gpus, self.kind, self.plan_for = gpus, kind, plan_for
        self.built: list[str] = []
        self.deserialized: list[tuple[bytes, int]] = []
        monkeypatch.setattr(placement, "load_engine_for", self.load_engine_for)
        monkeypatch.setattr(inferrt.api, "load_engine", self.load_engine)

    def load_engine_for(self, model_file, cfg, device, logger=None):
        self.built.append(device)
        if device == "cpu" or (device == "auto" and self.kind == "cpu"):
            return FakeEngine(torch.device("cpu"), "built")
        index = self.gpus.current if device == "auto" else int(device.split(":")[1])
        if self.plan_for is not None and self.gpus.names[index] != self.plan_for:
            raise PlanError(f"plan was built for {self.plan_for} but GPU {index} is {self.gpus.names[index]}")
        return FakeEngine(torch.device("cuda", index), "built")

    def load_engine(self, plan, logger=None, device=None):
        self.deserialized.append((plan, device))
        return FakeEngine(torch.device("cuda", device), "plan")


# ------------------------------------------------------------------------------------------------ instance_devices
@pytest.mark.parametrize("group, expected", [
    ("{ count: 2 kind: KIND_GPU gpus: [ 0, 1 ] }", ["cuda:0", "cuda:0", "cuda:1", "cuda:1"]),
    ("{ count: 1 kind: KIND_GPU gpus: [ 1 ] }", ["cuda:1"]),
    ("{ count: 2 kind: KIND_GPU }", ["cuda:0", "cuda:0", "cuda:1", "cuda:1"]),     # every GPU of the host
    ("{ count: 1 kind: KIND_AUTO gpus: [ 1, 0 ] }", ["cuda:1", "cuda:0"]),
    ("{ count: 3 kind: KIND_CPU }, { kind: KIND_GPU gpus: [ 1 ] }", ["cpu"] * 3 + ["cuda:1"]),
])
def test_instance_devices_per_gpu(monkeypatch, group, expected):
    SimulatedGpus(monkeypatch, [H100, H100])
    assert instance_devices(_cfg(f"instance_group [ {group} ]")) == expected


def test_gpus_beyond_the_host(monkeypatch):
    SimulatedGpus(monkeypatch, [H100, H100])
    with pytest.raises(BuildError, match=r"model 'm': instance_group\[1\]\.gpus \[2\]: only 2 GPU\(s\) present "
                                         r"\(indices 0\.\.1\)"):
        instance_devices(_cfg("instance_group [ { kind: KIND_CPU }, { kind: KIND_GPU gpus: [ 0, 2 ] } ]"))


def test_kind_gpu_without_gpus(monkeypatch):
    SimulatedGpus(monkeypatch, [])
    with pytest.raises(BuildError, match=r"instance_group\[0\]\.kind is KIND_GPU but no CUDA GPU is present"):
        instance_devices(_cfg("instance_group [ { kind: KIND_GPU } ]"))


# ------------------------------------------------------------------------------------------------ placement
def test_built_once_then_deserialized_on_the_other_gpus(monkeypatch):
    gpus = SimulatedGpus(monkeypatch, [H100, H100, H100])
    loads = Loads(monkeypatch, gpus)
    devices, engines = placement.place_instances("m.onnx", _cfg("instance_group [ { count: 2 kind: KIND_GPU } ]"))
    assert devices == ["cuda:0", "cuda:0", "cuda:1", "cuda:1", "cuda:2", "cuda:2"]
    assert loads.built == ["cuda:0"]
    assert loads.deserialized == [(b"plan of cuda:0", 1), (b"plan of cuda:0", 2)]
    assert {d: (e.device.index, e.origin) for d, e in engines.items()} == {
        "cuda:0": (0, "built"), "cuda:1": (1, "plan"), "cuda:2": (2, "plan")}


def test_gpu_of_another_kind_builds_its_own(monkeypatch):
    gpus = SimulatedGpus(monkeypatch, [H100, A100, H100])
    loads = Loads(monkeypatch, gpus)
    devices, engines = placement.place_instances("m.onnx", _cfg("instance_group [ { kind: KIND_GPU } ]"))
    assert devices == ["cuda:0", "cuda:1", "cuda:2"]
    assert loads.built == ["cuda:0", "cuda:1"] and loads.deserialized == [(b"plan of cuda:0", 2)]
    assert engines["cuda:1"].origin == "built"


def test_plan_file_on_a_gpu_of_another_kind_is_an_error(monkeypatch):
    gpus = SimulatedGpus(monkeypatch, [H100, A100])
    Loads(monkeypatch, gpus, plan_for=H100)
    with pytest.raises(PlanError, match=f"GPU 1 is {A100}"):
        placement.place_instances("m.plan", _cfg("instance_group [ { kind: KIND_GPU gpus: [ 0, 1 ] } ]"))


def test_cpu_plan_file_on_kind_gpu_is_an_error(monkeypatch, tmp_path):
    from inferrt.serve.repository import load_engine_for
    from tests.runtime.rt_tools import build_plan

    SimulatedGpus(monkeypatch, [H100, H100])
    path = tmp_path / "model.plan"
    path.write_bytes(bytes(build_plan("cpu")))
    with pytest.raises(PlanError, match=r"model 'm': .*model\.plan \(instance_group places an instance on cuda:1\): "
                                        r"device='cuda:1' but the plan was built for the CPU; a CPU plan runs on the "
                                        r"CPU only"):
        load_engine_for(str(path), _cfg(""), "cuda:1")
    assert load_engine_for(str(path), _cfg(""), "cpu").device.type == "cpu"


@pytest.mark.parametrize("config", ["", "instance_group [ { count: 2 } ]", "instance_group [ { kind: KIND_AUTO } ]"])
def test_kind_auto_places_a_gpu_engine_on_every_gpu(monkeypatch, config):
    gpus = SimulatedGpus(monkeypatch, [H100, H100])
    loads = Loads(monkeypatch, gpus)
    devices, engines = placement.place_instances("m.plan", _cfg(config))
    per_gpu = 2 if "count: 2" in config else 1
    assert devices == ["cuda:0"] * per_gpu + ["cuda:1"] * per_gpu
    assert loads.built == ["auto"] and [d for _, d in loads.deserialized] == [1]
    assert set(engines) == {"cuda:0", "cuda:1"}


def test_kind_auto_keeps_a_cpu_engine_on_the_cpu(monkeypatch):
    gpus = SimulatedGpus(monkeypatch, [H100, H100])
    loads = Loads(monkeypatch, gpus, kind="cpu")
    devices, engines = placement.place_instances("m.plan", _cfg("instance_group [ { count: 3 } ]"))
    assert devices == ["cpu"] * 3 and list(engines) == ["cpu"] and loads.deserialized == []


def test_kind_auto_leaves_out_a_gpu_the_plan_cannot_run_on(monkeypatch, caplog):
    gpus = SimulatedGpus(monkeypatch, [H100, A100])
    Loads(monkeypatch, gpus, plan_for=H100)
    with caplog.at_level(logging.WARNING, "inferrt.serve"):
        devices, engines = placement.place_instances("m.plan", _cfg("instance_group [ { kind: KIND_AUTO } ]"))
    assert devices == ["cuda:0"] and list(engines) == ["cuda:0"]
    assert any("KIND_AUTO leaves cuda:1 out" in r.getMessage() and A100 in r.getMessage() for r in caplog.records)


def test_cpu_and_gpu_groups_together(monkeypatch):
    gpus = SimulatedGpus(monkeypatch, [H100, H100])
    loads = Loads(monkeypatch, gpus)
    devices, engines = placement.place_instances(
        "m.onnx", _cfg("instance_group [ { kind: KIND_CPU }, { count: 2 kind: KIND_GPU gpus: [ 1 ] } ]"))
    assert devices == ["cpu", "cuda:1", "cuda:1"]
    assert loads.built == ["cpu", "cuda:1"] and loads.deserialized == []     # a CPU engine's plan is no GPU's
    assert engines["cpu"].device.type == "cpu" and engines["cuda:1"].device.index == 1


# ------------------------------------------------------------------------------------------------ real GPUs
def _gpu_model(tmp_path, config: str):
    import inferrt
    from inferrt.builder.builder import Builder
    from inferrt.logger import Logger, Severity
    from inferrt.models.mnist import build_mnist_network
    from inferrt.serve.metrics import ServeMetrics
    from inferrt.serve.model import InferrtModel
    from inferrt.serve.repository import read_model

    net = build_mnist_network(Builder(Logger(Severity.WARNING)).create_network(0))
    engine = inferrt.build_engine(net, profiles={"x": [(1, 1, 28, 28), (8, 1, 28, 28), (8, 1, 28, 28)]},
                                  device="cuda:0")
    os.makedirs(tmp_path / "m" / "1")
    inferrt.save_plan(engine, str(tmp_path / "m" / "1" / "model.plan"))
    (tmp_path / "m" / "config.pbtxt").write_text(config)
    model = InferrtModel(read_model(str(tmp_path / "m")), ServeMetrics())
    model.load()
    return model, engine


def _request(x):
    from kserve.protocol.infer_type import InferInput, InferRequest

    inp = InferInput("x", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=True)
    return InferRequest("m", [inp])


def _check_instances(model, engine, gpus: list[int]):
    from tests.helpers import tolerance

    assert model._gpu == gpus
    for k, g in enumerate(gpus):
        assert model._contexts[k].engine.device == torch.device("cuda", g)
        assert model._streams[k].device == torch.device("cuda", g)
    x = np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32)
    want = engine.create_execution_context().infer(x=x)["prob"]
    for k in range(len(gpus)):   # every instance, on its own GPU, gives the engine's results
        np.testing.assert_allclose(model._run_batch(k, {"x": x})["prob"], want, *tolerance("tf32"))
    xs = [np.random.default_rng(i).standard_normal((1, 1, 28, 28)).astype(np.float32) for i in range(32)]

    async def run_all():
        return await asyncio.gather(*(model.predict(_request(x)) for x in xs))

    ctx = engine.create_execution_context()
    for x, r in zip(xs, asyncio.run(run_all())):
        np.testing.assert_allclose(r.outputs[0].as_numpy(), ctx.infer(x=x)["prob"], *tolerance("tf32"))


@pytest.mark.gpu
def test_kind_auto_on_every_gpu_of_the_host(tmp_path):
    model, engine = _gpu_model(tmp_path, "max_batch_size: 8 dynamic_batching { max_queue_delay_microseconds: 500 }")
    try:
        same_kind = [g for g in range(GPUS) if torch.cuda.get_device_name(g) == torch.cuda.get_device_name(0)]
        _check_instances(model, engine, same_kind)
    finally:
        model.stop()


@pytest.mark.gpu
@pytest.mark.multigpu
@pytest.mark.skipif(GPUS < 2, reason="needs two CUDA GPUs")
def test_kind_gpu_two_per_gpu_on_two_gpus(tmp_path):
    if torch.cuda.get_device_name(0) != torch.cuda.get_device_name(1):
        pytest.skip("GPUs 0 and 1 are of different kinds")
    model, engine = _gpu_model(tmp_path, "max_batch_size: 8 dynamic_batching { max_queue_delay_microseconds: 500 } "
                                         "instance_group [ { count: 2 kind: KIND_GPU gpus: [ 0, 1 ] } ]")
    try:
        _check_instances(model, engine, [0, 0, 1, 1])
    finally:
        model.stop()
