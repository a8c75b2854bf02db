"""The weight-agnostic engine cache: entries are weight-stripped plans, a hit is refitted with the module's current
weights (no build), and entries that cannot take the weights are rebuilt."""
import subprocess
import sys

import pytest
import torch

import inferrt.torch as itorch
import inferrt.torch.engine_cache as ec
from inferrt.logger import ILogger, Severity
from inferrt.runtime.load import load_engine
from tests.helpers import assert_close
from tests.torch.models import as_numpy, bert, cnn, gpt2, reference


class Log(ILogger):
    def __init__(self):
        super().__init__()
        self.warnings = []

    def log(self, severity, msg):
        if severity <= Severity.WARNING:
            self.warnings.append(msg)


@pytest.fixture
def builds(monkeypatch):
    """Counts engine builds of the cache (hits build nothing)."""
    calls = []
    orig = ec.convert

    def counted(*a, **k):
        calls.append(1)
        return orig(*a, **k)

    monkeypatch.setattr(ec, "convert", counted)
    return calls


def _ids(batch=2, seq=8, seed=1):
    return torch.randint(0, 100, (batch, seq), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("make, example", [(cnn, lambda: torch.randn(2, 3, 32, 32)), (bert, _ids), (gpt2, _ids)],
                         ids=["cnn", "bert", "gpt2"])
def test_retrained_weights_hit_the_cache_and_are_refitted(tmp_path, builds, make, example):
    x = example()
    first = make(seed=0)
    c0 = itorch.compile(first, (x,), cache_dir=str(tmp_path))
    assert len(builds) == 1
    assert_close(as_numpy(c0(x)), reference(first, x))
    (entry,) = tmp_path.glob("*.plan")
    assert load_engine(entry.read_bytes()).missing_weights  # the entry holds no weights
    log = Log()
    retrained = make(seed=1)  # same architecture, other weights (BatchNorm statistics included for the CNN)
    c1 = itorch.compile(retrained, (x,), cache_dir=str(tmp_path), logger=log)
    assert len(builds) == 1 and not log.warnings, log.warnings
    out = as_numpy(c1(x))
    assert_close(out, reference(retrained, x))
    assert not torch.allclose(torch.from_numpy(out), torch.from_numpy(reference(first, x)).float(), atol=1e-3)
    assert len(list(tmp_path.glob("*.plan"))) == 1


def test_dynamic_batch_entry_is_refitted(tmp_path, builds):
    batch = torch.export.Dim("batch", min=1, max=4)
    itorch.compile(cnn(seed=0), (torch.randn(2, 3, 32, 32),), dynamic_shapes=({0: batch},), cache_dir=str(tmp_path))
    m = cnn(seed=6)
    c = itorch.compile(m, (torch.randn(2, 3, 32, 32),), dynamic_shapes=({0: batch},), cache_dir=str(tmp_path))
    assert len(builds) == 1 and c.input_specs[0].dims[0] == [1, 2, 4]
    for b in (1, 4):
        x = torch.randn(b, 3, 32, 32)
        assert_close(as_numpy(c(x)), reference(m, x))


def test_refitted_module_saves_its_weights(tmp_path, builds):
    x = torch.randn(2, 3, 32, 32)
    itorch.compile(cnn(seed=0), (x,), cache_dir=str(tmp_path / "cache"))
    m = cnn(seed=2)
    c = itorch.compile(m, (x,), cache_dir=str(tmp_path / "cache"))
    assert len(builds) == 1
    itorch.save(c, tmp_path / "m.inferrt")
    loaded = itorch.load(tmp_path / "m.inferrt")  # the saved plan carries the refitted weights, not zeros
    assert_close(as_numpy(loaded(x)), reference(m, x))


class Scaled(torch.nn.Module):
    """relu(linear(x)) * s with a one-element parameter s: at s == 1 the builder drops the product."""

    def __init__(self, s):
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(4, 4)
        self.s = torch.nn.Parameter(torch.tensor([s]))

    def forward(self, x):
        return torch.relu(self.lin(x)) * self.s


def test_weights_that_change_the_engine_rebuild_the_entry(tmp_path, builds):
    x = torch.randn(3, 4)
    itorch.compile(Scaled(1.0).eval(), (x,), cache_dir=str(tmp_path))
    log = Log()
    m = Scaled(2.0).eval()
    c = itorch.compile(m, (x,), cache_dir=str(tmp_path), logger=log)
    assert len(builds) == 2
    assert any("cannot take the current weights" in w and "rebuilding it" in w for w in log.warnings), log.warnings
    assert_close(as_numpy(c(x)), reference(m, x))
    m3 = Scaled(3.0).eval()  # the rebuilt entry (product kept) takes any other scale by refit
    c3 = itorch.compile(m3, (x,), cache_dir=str(tmp_path))
    assert len(builds) == 2
    assert_close(as_numpy(c3(x)), reference(m3, x))


def test_integer_buffers_are_part_of_the_key(tmp_path, builds):
    class Gather(torch.nn.Module):
        def __init__(self, order):
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)
            self.register_buffer("order", torch.tensor(order))

        def forward(self, x):
            return self.lin(x)[:, self.order]

    x = torch.randn(2, 4)
    itorch.compile(Gather([0, 1, 2, 3]).eval(), (x,), cache_dir=str(tmp_path))
    m = Gather([3, 2, 1, 0]).eval()
    c = itorch.compile(m, (x,), cache_dir=str(tmp_path))
    assert len(builds) == 2
    assert_close(as_numpy(c(x)), reference(m, x))


def test_a_graph_without_weights_is_cached_as_built(tmp_path, builds):
    class NoWeights(torch.nn.Module):
        def forward(self, x):
            return torch.relu(x * 2.0 + 1.0).sum(dim=1)

    x = torch.randn(3, 5)
    itorch.compile(NoWeights(), (x,), cache_dir=str(tmp_path))
    (entry,) = tmp_path.glob("*.plan")
    assert not load_engine(entry.read_bytes()).refittable
    c = itorch.compile(NoWeights(), (x,), cache_dir=str(tmp_path))
    assert len(builds) == 1
    assert_close(as_numpy(c(x)), reference(NoWeights(), x))


def test_a_damaged_entry_is_rebuilt(tmp_path, builds):
    x = torch.randn(1, 3, 32, 32)
    itorch.compile(cnn(), (x,), cache_dir=str(tmp_path))
    (entry,) = tmp_path.glob("*.plan")
    entry.write_bytes(entry.read_bytes()[:100])
    log = Log()
    m = cnn(seed=4)
    c = itorch.compile(m, (x,), cache_dir=str(tmp_path), logger=log)
    assert len(builds) == 2 and any("unreadable" in w for w in log.warnings), log.warnings
    assert_close(as_numpy(c(x)), reference(m, x))
    assert load_engine(entry.read_bytes()).missing_weights  # replaced by a good entry


def test_rebuild_on_weight_change_refits_from_the_cache(tmp_path, builds):
    m = cnn()
    x = torch.randn(1, 3, 32, 32)
    c = itorch.compile(m, (x,), cache_dir=str(tmp_path), on_weight_change="rebuild")
    m.load_state_dict(cnn(seed=5).state_dict())  # fine-tuned weights loaded in place
    assert_close(as_numpy(c(x)), reference(m, x))
    assert len(builds) == 1


def test_backend_weight_change_refits_from_the_cache(tmp_path, builds):
    m = cnn()
    x = torch.randn(2, 3, 32, 32)
    torch._dynamo.reset()
    try:
        c = torch.compile(m, backend="inferrt", dynamic=False,
                          options={"cache_dir": str(tmp_path), "on_weight_change": "rebuild"})
        c(x)
        with torch.no_grad():
            m.fc.weight.mul_(-1.5)
            m.bn.running_var.mul_(3.0)
        assert_close(as_numpy(c(x)), reference(m, x))
    finally:
        torch._dynamo.reset()
    assert len(builds) == 1


def test_retrained_weights_hit_in_a_new_process(tmp_path):
    script = (
        "import sys, torch, numpy as np, inferrt.torch as it\n"
        "import inferrt.torch.engine_cache as ec\n"
        "from tests.torch.models import cnn, reference\n"
        "calls = []\n"
        "orig = ec.convert\n"
        "ec.convert = lambda *a, **k: calls.append(1) or orig(*a, **k)\n"
        "m = cnn(seed=int(sys.argv[1]))\n"
        "x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))\n"
        f"c = it.compile(m, (x,), cache_dir={str(tmp_path)!r})\n"
        "err = float(np.abs(c(x).numpy() - reference(m, x)).max())\n"
        "print('BUILDS', len(calls), 'ERR', err)\n")
    runs = [subprocess.run([sys.executable, "-c", script, str(seed)], capture_output=True, text=True, timeout=600)
            for seed in (0, 7)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr[-2000:] + runs[1].stderr[-2000:]
    assert "BUILDS 1" in runs[0].stdout and "BUILDS 0" in runs[1].stdout, runs[0].stdout + runs[1].stdout
    for r in runs:
        assert float(r.stdout.split("ERR")[1]) < 1e-4, r.stdout


@pytest.mark.gpu
def test_gpu_cache_hit_refits_fp16_engine(tmp_path, builds):
    from tests.helpers import FP16_ENGINE_REL_L2, rel_l2

    x = torch.randn(4, 3, 32, 32, device="cuda")
    itorch.compile(cnn(seed=0).cuda(), (x,), cache_dir=str(tmp_path), precision="fp16")
    m = cnn(seed=1).cuda()
    c = itorch.compile(m, (x,), cache_dir=str(tmp_path), precision="fp16")
    assert len(builds) == 1
    for _ in range(2):  # the second call replays a CUDA graph of the refitted engine
        out = c(x)
    assert out.is_cuda
    assert rel_l2(as_numpy(out), reference(m, x)) < FP16_ENGINE_REL_L2


@pytest.mark.gpu
def test_gpu_gpt2_cache_hit(tmp_path, builds):
    ids = _ids(4).cuda()
    itorch.compile(gpt2(seed=0).cuda(), (ids,), cache_dir=str(tmp_path))
    m = gpt2(seed=1).cuda()
    c = itorch.compile(m, (ids,), cache_dir=str(tmp_path))
    assert len(builds) == 1
    from tests.helpers import default_config_tolerance

    rtol, atol = default_config_tolerance("cuda")
    assert_close(as_numpy(c(ids)), reference(m, ids), rtol=rtol, atol=atol)
