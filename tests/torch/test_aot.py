import subprocess
import sys

import numpy as np
import pytest
import torch

import inferrt.torch as itorch
from inferrt.errors import BindingError, BuildError, ParseError, ShapeError
from tests.helpers import assert_close, default_config_tolerance
from tests.torch.models import Cond, WithCustomOp, as_numpy, cnn, reference


def test_cnn_matches_float64_eager(device):
    m = cnn()
    x = torch.randn(2, 3, 32, 32)
    c = itorch.compile(m.to(device), (x.to(device),))
    assert c.num_engines == 1
    rtol, atol = default_config_tolerance(device)
    assert_close(as_numpy(c(x.to(device))), reference(m, x), rtol=rtol, atol=atol)


def test_submodule_modes_are_restored():
    outer = torch.nn.Sequential(cnn())  # the wrapper is in training mode, the model inside in eval mode
    assert outer.training and not outer[0].training
    x = torch.randn(1, 3, 32, 32)
    c = itorch.compile(outer, (x,))
    assert outer.training and not outer[0].training
    assert_close(as_numpy(c(x)), reference(outer.eval(), x))


def test_dynamic_batch_profile_and_out_of_range():
    m = cnn()
    batch = torch.export.Dim("batch", min=1, max=6)
    c = itorch.compile(m, (torch.randn(2, 3, 32, 32),), dynamic_shapes=({0: batch},))
    (spec,) = c.input_specs
    assert spec.dims[0] == [1, 2, 6] and spec.dims[1:] == [[3, 3, 3], [32, 32, 32], [32, 32, 32]]
    for b in (1, 4, 6):
        x = torch.randn(b, 3, 32, 32)
        assert_close(as_numpy(c(x)), reference(m, x))
    with pytest.raises(ShapeError, match=r"'x' dim 0 is 7, outside the compiled profile \[1, 6\]"):
        c(torch.randn(7, 3, 32, 32))
    with pytest.raises(ShapeError, match="dim 2 is 16"):
        c(torch.randn(2, 3, 16, 32))
    with pytest.raises(BindingError, match="dtype torch.float64"):
        c(torch.randn(2, 3, 32, 32, dtype=torch.float64))


def test_unconvertible_op_is_partitioned_and_correct():
    m = WithCustomOp().eval()
    x = torch.randn(4, 6)
    report = itorch.compile(m, (x,), dryrun=True)
    assert isinstance(report, itorch.DryRunReport) and report.num_engines == 2
    cummax = next(n for n in report.placement.torch if report.placement.targets[n] == "aten.cummax.default")
    assert "no converter for aten.cummax.default" in report.reason(cummax)
    assert "pytorch: " in str(report) and "engine 1" in str(report)
    c = itorch.compile(m, (x,))
    assert c.num_engines == 2
    assert_close(as_numpy(c(x)), reference(m, x))


def test_torch_executed_ops_and_min_block_size():
    m = WithCustomOp().eval()
    x = torch.randn(4, 6)
    r = itorch.compile(m, (x,), dryrun=True, torch_executed_ops=[torch.ops.aten.relu.default])
    relu = next(n for n, t in r.placement.targets.items() if t == "aten.relu.default")
    assert r.where(relu) == "pytorch" and r.reason(relu) == "listed in torch_executed_ops"
    assert r.num_engines == 2  # linear | cummax, relu | linear, mul
    for ops in (["aten.mul"], [torch.ops.aten.mul]):  # every overload of an op
        r2 = itorch.compile(m, (x,), dryrun=True, torch_executed_ops=ops)
        mul = next(n for n, t in r2.placement.targets.items() if t == "aten.mul.Tensor")
        assert r2.reason(mul) == "listed in torch_executed_ops"
    # both blocks (linear + relu, linear + mul) have 2 compute ops: with min_block_size=3 they stay in PyTorch
    r = itorch.compile(m, (x,), dryrun=True, min_block_size=3)
    assert r.num_engines == 0
    mul = next(n for n, t in r.placement.targets.items() if t == "aten.mul.Tensor")
    assert "fewer than min_block_size=3" in r.reason(mul)
    assert itorch.compile(m, (x,), dryrun=True, min_block_size=2).num_engines == 2
    c = itorch.compile(m, (x,), min_block_size=3)
    assert c.num_engines == 0
    assert_close(as_numpy(c(x)), reference(m, x))


def test_changed_parameters_raise_or_rebuild():
    m = cnn()
    x = torch.randn(1, 3, 32, 32)
    c = itorch.compile(m, (x,))
    c(x)
    with torch.no_grad():
        m.fc.weight.mul_(2.0)
    with pytest.raises(BindingError, match=r"\['fc.weight'\] changed after compilation"):
        c(x)
    m.load_state_dict(cnn(seed=3).state_dict())  # in-place copies
    with pytest.raises(BindingError, match="changed after compilation"):
        c(x)
    r = itorch.compile(m, (x,), on_weight_change="rebuild")
    with torch.no_grad():
        m.fc.bias.add_(1.0)
    assert_close(as_numpy(r(x)), reference(m, x))
    before = as_numpy(r(x))
    unchecked = itorch.compile(m, (x,), on_weight_change="ignore")
    m.fc.bias.data = m.fc.bias.data + 1.0  # new storage: not checked, the engine keeps its weights
    assert_close(as_numpy(unchecked(x)), before)


def test_data_dependent_control_flow_is_a_parse_error():
    class Branchy(torch.nn.Module):
        def forward(self, x):
            return x * 2 if x.sum() > 0 else x - 1

    with pytest.raises(ParseError, match="torch.cond"):
        itorch.compile(Branchy(), (torch.randn(3),))


def test_torch_cond_runs_in_pytorch_with_engines_around_and_inside():
    m = Cond().eval()
    x = torch.randn(3, 4)
    report = itorch.compile(m, (x,), dryrun=True)
    (cond,) = report.placement.torch
    assert "control flow (torch.ops.higher_order.cond) runs in PyTorch" in report.reason(cond)
    assert report.num_engines == 2
    assert sorted(report.branches) == ["false_graph_0", "true_graph_0"]
    assert all(b.num_engines == 1 and not b.placement.torch for b in report.branches.values())
    assert "branch true_graph_0:" in str(report)
    c = itorch.compile(m, (x,))
    assert sorted(c.engines) == ["false_graph_0.inferrt_engine_0", "inferrt_engine_0", "inferrt_engine_1",
                                 "true_graph_0.inferrt_engine_0"]
    for v in (x, -x):  # both branches
        assert_close(as_numpy(c(v)), reference(m, v))


def test_exported_program_compiles_as_is():
    m = cnn()
    batch = torch.export.Dim("batch", min=1, max=3)
    ep = torch.export.export(m, (torch.randn(2, 3, 32, 32),), dynamic_shapes=({0: batch},))
    c = itorch.compile(ep)
    assert c.input_specs[0].dims[0] == [1, 2, 3]
    x = torch.randn(3, 3, 32, 32)
    assert_close(as_numpy(c(x)), reference(m, x))
    with pytest.raises(TypeError, match="pass it alone"):
        itorch.compile(ep, (x,))


def test_bad_inputs_and_options():
    m = cnn()
    with pytest.raises(BindingError, match=r"example input .* is a str"):
        itorch.compile(m, (torch.randn(1, 3, 32, 32), "x"))
    with pytest.raises(TypeError, match="torch.nn.Module"):
        itorch.compile(lambda x: x, (torch.randn(1),))
    with pytest.raises(ValueError, match="unknown inferrt compile option"):
        itorch.compile(m, (torch.randn(1, 3, 32, 32),), precison="fp16")
    with pytest.raises(ValueError, match="precision='fp8'"):
        itorch.compile(m, (torch.randn(1, 3, 32, 32),), precision="fp8")
    c = itorch.compile(m, (torch.randn(1, 3, 32, 32),))
    with pytest.raises(BindingError, match="input 'x' must be a torch.Tensor, got str"):
        c("image.png")
    unbounded = torch.export.Dim("b", min=1)
    with pytest.raises(BuildError, match="no upper bound"):
        itorch.compile(m, (torch.randn(2, 3, 32, 32),), dynamic_shapes=({0: unbounded},))


def test_engine_cache_hits_across_processes(tmp_path):
    script = (
        "import torch, time, inferrt.torch as it\n"
        "from tests.torch.models import cnn\n"
        "import inferrt.torch.engine_cache as ec\n"
        "calls = []\n"
        "orig = ec.convert\n"
        "ec.convert = lambda *a, **k: calls.append(1) or orig(*a, **k)\n"
        f"c = it.compile(cnn(), (torch.randn(1, 3, 32, 32),), cache_dir={str(tmp_path)!r})\n"
        "print('BUILDS', len(calls))\n")
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
            for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr[-2000:] + runs[1].stderr[-2000:]
    assert "BUILDS 1" in runs[0].stdout and "BUILDS 0" in runs[1].stdout
    assert len(list(tmp_path.glob("*.plan"))) == 1


@pytest.mark.gpu
def test_fp32_without_tf32_gpu():
    m = cnn().cuda()
    x = torch.randn(2, 3, 32, 32, device="cuda")
    c = itorch.compile(m, (x,), tf32=False)
    assert_close(as_numpy(c(x)), reference(m, x))  # float32 tolerances, not TF32's


@pytest.mark.gpu
def test_cnn_fp16_on_gpu():
    from tests.helpers import FP16_ENGINE_REL_L2, rel_l2

    m = cnn().cuda()
    x = torch.randn(4, 3, 32, 32, device="cuda")
    c = itorch.compile(m, (x,), precision="fp16", cuda_graphs=True)
    for _ in range(2):  # second call replays the captured graph
        out = c(x)
    assert out.dtype == torch.float32 and out.is_cuda
    assert rel_l2(as_numpy(out), reference(m, x)) < FP16_ENGINE_REL_L2
    assert np.isfinite(as_numpy(out)).all()


def test_torchvision_vit_dynamic_batch():
    torchvision = pytest.importorskip("torchvision")

    torch.manual_seed(0)
    m = torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32,
                                             mlp_dim=64, num_classes=5).eval()
    torch.nn.init.normal_(m.heads.head.weight, std=0.5)  # the head starts at zero: any output would match
    batch = torch.export.Dim("batch", min=1, max=4)
    c = itorch.compile(m, (torch.randn(2, 3, 32, 32),), dynamic_shapes=({0: batch},))
    assert c.num_engines == 1
    for b in (1, 3):
        x = torch.randn(b, 3, 32, 32)
        out = as_numpy(c(x))
        assert np.abs(out).max() > 1e-2
        assert_close(out, reference(m, x))
