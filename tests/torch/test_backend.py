"""torch.compile(backend="inferrt")."""
import pytest
import torch

import inferrt.torch  # noqa: F401 - registers the backend
from inferrt.errors import BindingError
from inferrt.torch import backend as B
from tests.helpers import assert_close
from tests.torch.models import as_numpy, cnn, reference


@pytest.fixture
def builds(monkeypatch):
    """Counts engine builds (one per dynamo graph and input signature)."""
    calls = []
    orig = B.DynamoGraph._build

    def counted(self, args):
        entry = orig(self, args)
        calls.append(entry[0])
        return entry

    monkeypatch.setattr(B.DynamoGraph, "_build", counted)
    torch._dynamo.reset()
    yield calls
    torch._dynamo.reset()


def test_backend_is_registered():
    assert "inferrt" in torch._dynamo.list_backends()


def test_cnn_builds_once_per_signature(builds):
    m = cnn()
    c = torch.compile(m, backend="inferrt", dynamic=False, options={"precision": "fp32", "min_block_size": 1})
    x = torch.randn(2, 3, 32, 32)
    assert_close(as_numpy(c(x)), reference(m, x))
    assert_close(as_numpy(c(x + 1)), reference(m, x + 1))
    assert len(builds) == 1
    # the parameters dynamo passes as graph inputs are frozen into the engine: no aten op is left in PyTorch
    gm = builds[0].graph_module
    assert builds[0].num_engines == 1
    assert not [n for n in gm.graph.nodes if n.op == "call_function" and "aten" in str(n.target)]
    y = torch.randn(3, 3, 32, 32)
    assert_close(as_numpy(c(y)), reference(m, y))
    assert len(builds) == 2


def test_automatic_dynamic_shapes_build_per_signature(builds):
    from tests.torch.models import bert

    m = bert()
    c = torch.compile(m, backend="inferrt")  # dynamo marks the sizes dynamic after the second shape
    for seq in (4, 6, 8):
        ids = torch.randint(0, 100, (2, seq))
        assert_close(as_numpy(c(ids)), reference(m, ids))
    assert len(builds) == 3


def test_graph_break_on_data_dependent_branch(builds):
    class Branchy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Linear(4, 4)
            self.b = torch.nn.Linear(4, 4)

        def forward(self, x):
            y = self.a(x)
            if y.sum() > 0:  # dynamo breaks the graph here; both sides are compiled
                return torch.relu(self.b(y))
            return self.b(y) * 2

    m = Branchy().eval()
    c = torch.compile(m, backend="inferrt", dynamic=False)
    x = torch.randn(3, 4)
    for v in (x, -x, x * 3):
        assert_close(as_numpy(c(v)), reference(m, v))
    assert len(builds) >= 2


def test_weight_change_raises_or_rebuilds(builds):
    m = cnn()
    x = torch.randn(1, 3, 32, 32)
    c = torch.compile(m, backend="inferrt", dynamic=False)
    c(x)
    with torch.no_grad():
        m.fc.weight.mul_(0.5)
    with pytest.raises(BindingError, match="changed after"):
        c(x)
    torch._dynamo.reset()
    r = torch.compile(m, backend="inferrt", dynamic=False, options={"on_weight_change": "rebuild"})
    r(x)
    with torch.no_grad():
        m.fc.bias.add_(1.0)
    assert_close(as_numpy(r(x)), reference(m, x))


def test_engine_cache_serves_a_new_process(tmp_path):
    import subprocess
    import sys

    script = (
        "import torch, inferrt.torch\n"
        "import inferrt.torch.engine_cache as ec\n"
        "from tests.torch.models import cnn\n"
        "calls = []\n"
        "orig = ec.convert\n"
        "ec.convert = lambda *a, **k: calls.append(1) or orig(*a, **k)\n"
        f"c = torch.compile(cnn(), backend='inferrt', dynamic=False, options={{'cache_dir': {str(tmp_path)!r}}})\n"
        "c(torch.randn(2, 3, 32, 32))\n"
        "print('BUILDS', len(calls))\n")
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
            for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr[-2000:] + runs[1].stderr[-2000:]
    assert "BUILDS 1" in runs[0].stdout and "BUILDS 0" in runs[1].stdout


def test_bad_options_are_refused():
    m = cnn()
    torch._dynamo.reset()
    with pytest.raises(Exception, match="unknown inferrt compile option"):
        torch.compile(m, backend="inferrt", options={"precission": "fp16"})(torch.randn(1, 3, 32, 32))
    torch._dynamo.reset()


@pytest.mark.gpu
def test_backend_fp16_cuda_graphs_gpu(builds):
    from tests.helpers import FP16_ENGINE_REL_L2, rel_l2

    m = cnn().cuda()
    x = torch.randn(8, 3, 32, 32, device="cuda")
    c = torch.compile(m, backend="inferrt", dynamic=False, options={"precision": "fp16", "cuda_graphs": True})
    for _ in range(3):
        out = c(x)
    assert out.is_cuda and len(builds) == 1
    assert rel_l2(as_numpy(out), reference(m, x)) < FP16_ENGINE_REL_L2
