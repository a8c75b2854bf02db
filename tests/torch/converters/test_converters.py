"""Each converter family on small modules: the whole graph must convert (nothing left in PyTorch) and match
PyTorch in float64."""
import pytest
import torch
import torch.nn.functional as F

import inferrt.torch as itorch
from inferrt.torch.converters import registered
from tests.helpers import assert_close, default_config_tolerance
from tests.torch.models import as_numpy, reference


class Fn(torch.nn.Module):
    def __init__(self, fn, **params):
        super().__init__()
        self.fn = fn
        for k, v in params.items():
            setattr(self, k, torch.nn.Parameter(v, requires_grad=False))

    def forward(self, *xs):
        return self.fn(self, *xs)


_GEN = torch.Generator().manual_seed(1234)   # the cases' inputs do not depend on which tests ran before


def r(*shape):
    return torch.randn(*shape, generator=_GEN)


def attn_mask(n):
    """An additive float mask whose ``> 0`` boolean mask keeps the diagonal: no row is masked out entirely (what
    SDPA returns for such a row differs between PyTorch's own backends)."""
    m = r(n, n)
    m.diagonal().copy_(m.diagonal().abs() + 0.1)
    return m


CASES = {
    # elementwise
    "arith": (lambda s, x, y: (x + 2 * y - 1.5) * y / (y.abs() + 1) - 3 / (x * x + 1), (r(2, 3), r(2, 3))),
    "broadcast_alpha": (lambda s, x, y: torch.add(x, y, alpha=0.5) - torch.sub(y, x, alpha=2), (r(4, 1, 3), r(5, 1))),
    "pow_max_min": (lambda s, x, y: torch.maximum(x, y) ** 2 + torch.minimum(x, y).pow(3.0), (r(6), r(6))),
    "compare_where": (lambda s, x, y: torch.where((x > y) & (x >= 0) | (y < -1), x, y * 2) + (x != y).float(),
                      (r(3, 4), r(3, 4))),
    "unary": (lambda s, x: x.exp() + (x.abs() + 1).log() + torch.rsqrt(x.abs() + 1) + x.sin() * x.cos() + x.erf()
              + torch.sqrt(x * x) + x.neg().floor() + x.ceil(), (r(3, 5),)),
    "int_promotion": (lambda s, x, i: x * (i + 1) + (i * 2).float() / 3, (r(2, 3), torch.arange(6).reshape(2, 3))),
    # activations
    "activations": (lambda s, x: F.relu(x) + F.gelu(x) + F.gelu(x, approximate="tanh") + torch.tanh(x)
                    + torch.sigmoid(x) + F.silu(x) + F.hardtanh(x) + F.leaky_relu(x, 0.1) + x.clamp(-0.5, 0.7),
                    (r(4, 7),)),
    "softmax": (lambda s, x: F.softmax(x, dim=1) + F.log_softmax(x, dim=-1), (r(2, 5, 3),)),
    # matrix
    "linear_matmul": (lambda s, x, y: F.linear(x, s.w, s.b) @ y
                      + torch.bmm(x, x.transpose(1, 2)).sum(-1, keepdim=True),
                      (r(2, 3, 4), r(5, 2)), {"w": r(5, 4), "b": r(5)}),
    "addmm": (lambda s, x: torch.addmm(s.b, x, s.w, beta=0.5, alpha=2.0), (r(3, 4),), {"w": r(4, 6), "b": r(6)}),
    # convolution and pooling
    "conv_pool": (lambda s, x: F.avg_pool2d(F.max_pool2d(F.conv2d(x, s.w, s.b, stride=2, padding=1, groups=2),
                                                         3, 1, 1), 2),
                  (r(2, 4, 9, 9),), {"w": r(6, 2, 3, 3), "b": r(6)}),
    "conv1d_dilated": (lambda s, x: F.conv1d(x, s.w, None, padding=2, dilation=2), (r(2, 3, 11),), {"w": r(4, 3, 3)}),
    "conv_transpose": (lambda s, x: F.conv_transpose2d(x, s.w, s.b, stride=2), (r(1, 3, 5, 5),),
                       {"w": r(3, 2, 3, 3), "b": r(2)}),
    "adaptive_pool": (lambda s, x: F.adaptive_avg_pool2d(x, 2).sum() + F.adaptive_avg_pool2d(x, 1), (r(2, 3, 8, 8),)),
    # normalization
    "layer_group_norm": (lambda s, x: F.group_norm(F.layer_norm(x, (6, 6), s.g, s.b, 1e-3), 2, s.c, s.d),
                         (r(2, 4, 6, 6),), {"g": r(6, 6), "b": r(6, 6), "c": r(4), "d": r(4)}),
    "batch_norm_runtime_stats": (lambda s, x: F.batch_norm(x, s.m, s.v.abs() + 0.5, s.g, s.b, False, 0.1, 1e-4),
                   (r(2, 3, 4, 4),), {"m": r(3), "v": r(3), "g": r(3), "b": r(3)}),
    "remainder": (lambda s, x, i: torch.remainder(x, 0.7) + (i % 3).float() + torch.remainder(-x, x.abs() + 1),
                  (r(3, 4), torch.arange(-6, 6).reshape(3, 4))),
    # shapes
    "shapes": (lambda s, x: torch.cat([x.view(2, 12).reshape(4, 6).t().unsqueeze(0).squeeze(0).permute(1, 0),
                                       x.flatten().unflatten(0, (4, -1))], 0).expand(2, 8, 6).contiguous(),
               (r(2, 3, 4),)),
    "slice_select_split": (lambda s, x: x[:, 1:4:2].sum(1) + x[:, -1] + torch.split(x, [2, 3], 1)[1].mean(1)
                           + x.chunk(5, 1)[3].squeeze(1) + x.select(1, 2) + x.unbind(1)[0], (r(3, 5, 4),)),
    # factories on the input's device, as a module that runs on the GPU writes them (a CPU tensor of 4 values
    # cannot be added to a CUDA one, in eager PyTorch or in torch.export's trace)
    "factories": (lambda s, x: x + torch.arange(4.0, device=x.device) + torch.ones(3, 4, device=x.device) * 2
                  + torch.zeros_like(x) + torch.full((4,), 0.5, device=x.device),
                  (r(3, 4),)),
    # indexing, reductions
    "embedding_gather": (lambda s, i: F.embedding(i, s.w).sum(-1) + torch.gather(s.w, 1, i[:, :2] % 3)[:, :1]
                         + s.w[i[:, 0]].mean(-1, keepdim=True) + torch.index_select(s.w, 0, i[0]).sum(), (
                             torch.tensor([[1, 4, 2], [0, 3, 3]]),), {"w": r(5, 3)}),
    "advanced_index_diff": (lambda s, x, i, j: x[i, j] + torch.diff(x, dim=1)[:, :1].sum() + torch.diff(
        x, n=2, dim=0, prepend=x[:1]).sum() + torch.diff(i.float(), dim=0).sum(),
        (r(4, 5, 3), torch.tensor([[0], [3], [-1]]), torch.tensor([[1, 4, -2]]))),
    "reductions": (lambda s, x: x.mean((1, 2)) + x.sum(1).amax(-1) - x.amin((1, 2)) + x.cumsum(1)[:, -1].sum(-1),
                   (r(2, 3, 4),)),
    "attention": (lambda s, q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m)
                  + F.scaled_dot_product_attention(q, k, v, is_causal=True)
                  + F.scaled_dot_product_attention(q, k, v, attn_mask=m > 0, scale=0.3),
                  (r(2, 2, 5, 4), r(2, 2, 5, 4), r(2, 2, 5, 4), attn_mask(5))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_family(name, device):
    fn, inputs, *params = CASES[name]
    torch.manual_seed(0)
    m = Fn(fn, **(params[0] if params else {})).eval().to(device)
    inputs = tuple(x.to(device) for x in inputs)
    report = itorch.compile(m, inputs, dryrun=True)
    assert report.num_engines == 1 and not report.placement.torch, str(report)
    c = itorch.compile(m, inputs)
    rtol, atol = default_config_tolerance(device)
    assert_close(as_numpy(c(*inputs)), reference(m, *inputs), rtol=rtol, atol=atol,
                 what=name)


def test_registry_names_aten_overloads():
    names = registered()
    assert "aten.conv2d.default" in names and "aten.add.Tensor" in names and "aten.sym_size.int" in names
    assert "_operator.getitem" in names


def test_strongly_typed_half_module():
    from tests.torch.models import cnn

    m = cnn().half()
    x = torch.randn(2, 3, 32, 32).half()
    c = itorch.compile(m, (x,), precision="strongly_typed")
    out = c(x)
    assert out.dtype == torch.float16
    assert_close(out.float().numpy(), reference(m.float(), x.float()), rtol=2e-2, atol=5e-3)
