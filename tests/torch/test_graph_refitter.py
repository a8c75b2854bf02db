"""refit_from_graph: an engine refitted from its FX graph's current tensors equals a fresh build's output, and a
refit it cannot do is refused with the reason, leaving the engine unchanged."""
import torch

from inferrt.logger import Logger, Severity
from inferrt.runtime.load import load_engine
from inferrt.torch.aot import export
from inferrt.torch.convert_graph import convert
from inferrt.torch.graph_refitter import refit_from_graph
from inferrt.torch.partition import fuse, place
from inferrt.torch.settings import CompileSettings
from tests.helpers import assert_close
from tests.torch.models import cnn, reference

SETTINGS = CompileSettings(device="cpu")
LOG = Logger(Severity.ERROR)


def _engine_piece(module, x):
    """The module's single engine block as a GraphModule (weights as its attributes)."""
    gm = export(module, (x,)).module()
    (name,) = fuse(gm, place(gm, SETTINGS).engines)
    return getattr(gm, name)


def _run(engine, x):
    ctx = engine.create_execution_context()
    (out,) = ctx.infer({engine.input_names[0]: x}).values()
    return out.numpy() if hasattr(out, "numpy") else out


def test_refit_takes_new_weights_including_batchnorm_statistics():
    x = torch.randn(2, 3, 32, 32)
    piece = _engine_piece(cnn(seed=0), x)
    art = convert(piece, SETTINGS, LOG, refittable=True)
    engine = load_engine(art.plan)
    new = cnn(seed=1)
    other = dict(_engine_piece(new, x).named_buffers())
    with torch.no_grad():  # the other module's values into the piece's attributes, in place
        for name, buf in piece.named_buffers():
            buf.copy_(other[name])
    assert refit_from_graph(engine, piece, art.inputs, SETTINGS) is None
    assert_close(_run(engine, x), reference(new, x))


def test_a_plan_built_without_refit_is_refused():
    x = torch.randn(1, 3, 32, 32)
    piece = _engine_piece(cnn(), x)
    art = convert(piece, SETTINGS, LOG)
    assert refit_from_graph(load_engine(art.plan), piece, art.inputs, SETTINGS) == "the cached plan is not refittable"


def test_a_refused_refit_names_the_reason_and_keeps_the_engine():
    class Scaled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.lin = torch.nn.Linear(4, 4)
            self.s = torch.nn.Parameter(torch.tensor([1.0]))

        def forward(self, x):
            return torch.relu(self.lin(x)) * self.s

    m = Scaled().eval()
    x = torch.randn(3, 4)
    piece = _engine_piece(m, x)
    art = convert(piece, SETTINGS, LOG, refittable=True)
    engine = load_engine(art.plan)
    before = _run(engine, x)
    scale = next(b for n, b in piece.named_buffers() if n.endswith("_s"))
    with torch.no_grad():
        scale.fill_(2.0)  # the build dropped "* 1": a product by 2 is another engine
    why = refit_from_graph(engine, piece, art.inputs, SETTINGS)
    assert why is not None and "other layers" in why
    assert_close(_run(engine, x), before)
