"""``inferrt exec --device N``: trtexec's GPU selection. On a simulated host (tests/sim_gpus.py): the index is
checked against the GPUs present and made the current device; on real GPUs the engine is built, loaded and run
there and the report names it."""
from __future__ import annotations

import argparse

import pytest
import torch

from inferrt.cli.exec_build import pick_device
from inferrt.cli.main import main
from tests.sim_gpus import H100, SimulatedGpus

FAST = ("--duration", "0", "--warmUp", "0", "--iterations", "2")
GPUS = torch.cuda.device_count() if torch.cuda.is_available() else 0


def _args(device):
    return argparse.Namespace(device=device)


@pytest.mark.parametrize("flag, selected", [("1", [1]), ("cuda:1", [1]), ("0", [0]), ("cuda", []), ("gpu", [])])
def test_device_index_selects_that_gpu(monkeypatch, flag, selected):
    gpus = SimulatedGpus(monkeypatch, [H100, H100])
    assert pick_device(_args(flag)) == "cuda"
    assert gpus.selected == selected


def test_cpu_selects_no_gpu(monkeypatch):
    gpus = SimulatedGpus(monkeypatch, [H100, H100])
    assert pick_device(_args("cpu")) == "cpu" and gpus.selected == []


@pytest.mark.parametrize("flag", ["2", "cuda:7"])
def test_device_index_beyond_the_host(monkeypatch, capsys, flag):
    gpus = SimulatedGpus(monkeypatch, [H100, H100])
    assert main(["exec", *FAST, "--device", flag]) == 2
    err = capsys.readouterr().err
    assert f"--device={flag}: there are 2 CUDA device(s) on this host; use an index in 0..1" in err
    assert gpus.selected == []


def test_device_index_on_a_host_without_gpus(monkeypatch, capsys):
    SimulatedGpus(monkeypatch, [])
    assert main(["exec", *FAST, "--device", "0"]) == 2
    assert "--device=0: there are 0 CUDA device(s) on this host (PyTorch sees no GPU)" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["cuda:x", "gpu1", "-1"])
def test_malformed_device_flag(capsys, flag):
    assert main(["exec", *FAST, f"--device={flag}"]) == 2
    assert "use cpu, cuda, auto, a CUDA device index N or cuda:N" in capsys.readouterr().err


@pytest.fixture
def restore_current_gpu():
    before = torch.cuda.current_device()
    yield
    torch.cuda.set_device(before)   # --device=N selects the GPU for the whole process, as trtexec's does


def _run_on(capsys, index, *extra):
    rc = main(["exec", *FAST, "--batch", "2", f"--device={index}", *extra])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert f"[I] Selected Device ID: {index}" in out
    assert f"[I] Selected Device: {torch.cuda.get_device_name(index)}" in out
    return out


@pytest.mark.gpu
def test_device_zero_runs_there(capsys, restore_current_gpu):
    _run_on(capsys, 0)


@pytest.mark.gpu
@pytest.mark.multigpu
@pytest.mark.skipif(GPUS < 2, reason="needs two CUDA GPUs")
def test_device_one_builds_saves_and_loads_there(capsys, tmp_path, restore_current_gpu):
    plan = tmp_path / "m.plan"
    _run_on(capsys, 1, "--saveEngine", str(plan), "--useCudaGraph", "--threads", "--infStreams", "2")
    assert torch.cuda.current_device() == 1
    torch.cuda.set_device(0)
    _run_on(capsys, 1, "--loadEngine", str(plan))
