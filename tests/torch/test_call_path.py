"""What a call of a compiled module does besides running its engines (issue 16: the ONNX path's context call is the
bar): no torch.export calling convention (hooks, pytree, guard function) where the input checks already cover it,
and the weight check after the engines are queued, in one pass, still catching every kind of change."""
import pytest
import torch

import inferrt.torch as itorch
from inferrt.errors import BindingError, ShapeError
from inferrt.torch import backend as B
from inferrt.torch.weight_versions import WeightVersions
from tests.helpers import assert_close
from tests.torch.models import as_numpy, cnn, reference


def _count_export_convention(gm) -> list:
    """Counts the calls of ``gm``'s torch.export wrappers: its forward pre-hooks and its guard function."""
    calls = []
    gm.register_forward_pre_hook(lambda mod, args: calls.append("hook"))
    guards = gm._guards_fn
    real = guards.forward
    guards.forward = lambda *a: calls.append("guards") or real(*a)
    return calls


@pytest.fixture
def dynamo_graphs(monkeypatch):
    """The DynamoGraph objects the backend hands dynamo."""
    made = []
    real = B.DynamoGraph.__init__

    def record(self, *args, **kwargs):
        real(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(B.DynamoGraph, "__init__", record)
    torch._dynamo.reset()
    yield made
    torch._dynamo.reset()


def test_static_aot_call_skips_the_export_wrappers():
    m = cnn()
    x = torch.randn(2, 3, 32, 32)
    c = itorch.compile(m, (x,))
    calls = _count_export_convention(c.graph_module)
    for v in (x, x * 2):
        assert_close(as_numpy(c(v)), reference(m, v))
    assert calls == []
    with pytest.raises(ShapeError, match="dim 0 is 3"):   # the InputSpec checks still run
        c(torch.randn(3, 3, 32, 32))


def test_dynamic_aot_call_keeps_the_export_guards():
    """Dims shared between inputs are related only in the export's guards, so a dynamic module keeps them."""
    class Two(torch.nn.Module):
        def forward(self, a, b):
            return torch.relu(a) + b

    a, b = torch.randn(4, 6), torch.randn(4, 6)
    batch = torch.export.Dim("batch", min=2, max=8)
    c = itorch.compile(Two(), (a, b), dynamic_shapes=({0: batch}, {0: batch}))
    calls = _count_export_convention(c.graph_module)
    assert_close(as_numpy(c(a[:3], b[:3])), reference(Two(), a[:3], b[:3]))
    assert "guards" in calls
    with pytest.raises(AssertionError, match=r"Guard failed: b.size\(\)\[0\] == a.size\(\)\[0\]"):
        c(a[:3], b[:2])   # each dim is within its profile; only the export's guards see they differ


def test_backend_call_runs_the_flat_graph(dynamo_graphs):
    m = cnn()
    x = torch.randn(2, 3, 32, 32)
    c = torch.compile(m, backend="inferrt", dynamic=False)
    assert_close(as_numpy(c(x)), reference(m, x))
    (graph,) = dynamo_graphs
    ((compiled, _, _),) = graph.builds.values()
    calls = _count_export_convention(compiled.graph_module)
    for v in (x, x - 1):
        assert_close(as_numpy(c(v)), reference(m, v))
    assert calls == []


def _engine_runs(compiled) -> list:
    """Appends "engine" to the returned list whenever an engine of ``compiled`` starts executing."""
    events = []
    for name, mod in compiled.graph_module.named_children():
        if name.startswith("inferrt_engine"):
            ctx = mod.context
            real = ctx._execute
            ctx._execute = lambda *a, _real=real, **k: events.append("engine") or _real(*a, **k)
    return events


def test_aot_weight_check_comes_after_the_engine_is_queued(monkeypatch):
    m = cnn()
    x = torch.randn(1, 3, 32, 32)
    c = itorch.compile(m, (x,))
    events = _engine_runs(c)
    real = WeightVersions.changed
    monkeypatch.setattr(WeightVersions, "changed", lambda self, t: events.append("check") or real(self, t))
    c(x)
    assert events == ["engine", "check"]
    with torch.no_grad():
        m.fc.weight.mul_(0.5)
    events.clear()
    with pytest.raises(BindingError, match=r"\['fc.weight'\] changed after compilation"):
        c(x)
    assert events == ["engine", "check"]   # the output of that run is not returned


def test_backend_weight_check_comes_after_the_engine_is_queued(dynamo_graphs, monkeypatch):
    m = cnn()
    x = torch.randn(1, 3, 32, 32)
    c = torch.compile(m, backend="inferrt", dynamic=False)
    c(x)
    ((compiled, _, _),) = dynamo_graphs[0].builds.values()
    events = _engine_runs(compiled)
    real = WeightVersions.changed
    monkeypatch.setattr(WeightVersions, "changed", lambda self, t: events.append("check") or real(self, t))
    c(x)
    assert events == ["engine", "check"]


@pytest.mark.parametrize("change", ["in_place", "new_storage", "swapped_storage"])
def test_every_kind_of_weight_change_is_seen(change, dynamo_graphs):
    def apply(m):
        a, b = m.layer[0].c1.weight, m.layer[0].c2.weight   # same shape
        with torch.no_grad():
            if change == "in_place":
                a.add_(0.1)
            elif change == "new_storage":
                a.data = a.data * 1.5
            else:
                a.data, b.data = b.data, a.data

    x = torch.randn(1, 3, 32, 32)
    m = cnn()
    c = itorch.compile(m, (x,))
    c(x)
    apply(m)
    with pytest.raises(BindingError, match=r"\['layer.0.c1.weight'"):
        c(x)
    m = cnn()
    r = torch.compile(m, backend="inferrt", dynamic=False, options={"on_weight_change": "rebuild"})
    r(x)
    apply(m)
    assert_close(as_numpy(r(x)), reference(m, x))   # rebuilt from the changed weights, and run again
    assert len(dynamo_graphs[0].builds) == 1


def test_weight_versions_name_what_changed():
    ts = [torch.zeros(3), torch.zeros(3), torch.zeros(2)]
    w = WeightVersions(ts)
    assert len(w) == 3 and not w.changed(ts) and w.which(ts) == []
    ts[1].add_(1)
    assert w.changed(ts) and w.which(ts) == [1]
    ts[2].data = torch.ones(2)
    assert w.which(ts) == [1, 2]
    assert WeightVersions(ts).changed([ts[0], ts[2], ts[1]])   # a tensor in another's place
