"""``--device`` of the Polygraphy-style tools (``inferrt run``, ``inferrt debug precision``): a GPU index is
checked against the host's GPUs and made the current device, as ``inferrt exec --device N`` does (simulated host,
tests/sim_gpus.py)."""
from __future__ import annotations

import pytest

from inferrt.cli.tool_args import ExecArgError, resolve
from tests.sim_gpus import H100, SimulatedGpus


@pytest.mark.parametrize("flag, selected", [("1", [1]), ("cuda:1", [1]), ("cuda", []), (None, [])])
def test_gpu_index_becomes_current(monkeypatch, flag, selected):
    monkeypatch.delenv("INFERRT_DEVICE", raising=False)
    gpus = SimulatedGpus(monkeypatch, [H100, H100])
    assert resolve(flag) == "cuda"
    assert gpus.selected == selected


def test_index_beyond_the_host_names_the_flag(monkeypatch):
    gpus = SimulatedGpus(monkeypatch, [H100, H100])
    with pytest.raises(ExecArgError, match=r"--device.*cuda:3.*2 CUDA device\(s\).*0\.\.1"):
        resolve("cuda:3")
    assert gpus.selected == []


def test_cpu_flag_selects_no_gpu(monkeypatch):
    gpus = SimulatedGpus(monkeypatch, [H100, H100])
    assert resolve(None, cpu=True) == "cpu" and gpus.selected == []
    with pytest.raises(ExecArgError, match="--cpu and --device=cuda:1 contradict"):
        resolve("cuda:1", cpu=True)
