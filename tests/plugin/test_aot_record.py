"""The AOT path's build-time record, on the CPU: ``aot_impl`` runs with symbolic TensorDescs, the kernel it compiles
with ``triton.compile`` is captured, and the launch parameters and extra arguments become expression trees that
evaluate to the right grid and arguments at each run's shapes (the launch itself is covered by the GPU tests)."""
from __future__ import annotations

import collections
import sys
from pathlib import Path

import pytest

from inferrt.errors import BuildError, PlanError

triton = pytest.importorskip("triton")
sys.path.insert(0, str(Path(__file__).parents[2] / "examples" / "plugins"))
import triton_aot_plugin as example  # noqa: E402

from inferrt.builder.lower_network import lower_network  # noqa: E402
from inferrt.plugin.aot import _check_record, compile_aot  # noqa: E402
from inferrt.plugin.exprs import evaluate  # noqa: E402

Meta = collections.namedtuple("Meta", "name num_warps shared global_scratch_size profile_scratch_size num_ctas")


class FakeCompiled:
    def __init__(self, name, scratch=0):
        self.metadata = Meta(name, 4, 0, scratch, 0, 1)
        self.hash = "ab" * 32
        self.asm = {"cubin": b"\x7fELF"}


def _node():
    g = lower_network(example.network())
    return next(n for n in g.nodes if n.kind == "plugin_v3")


def test_launch_parameters_are_recorded_as_expressions(monkeypatch):
    compiled = []

    def fake_compile(src, *a, **k):
        assert src.constants and src.signature["n_elements"] == "i32"
        compiled.append(FakeCompiled(src.fn.__name__))
        return compiled[-1]

    monkeypatch.setattr(triton, "compile", fake_compile)
    node = _node()
    assert node.attrs.plugin.inferrt_aot and node.attrs.input_types == [["FLOAT", 2], ["FLOAT", 2]]
    raw, kernel = compile_aot(node, tactic=0)
    assert kernel is compiled[0] and raw["name"] == "scaled_add_kernel" and raw["scratch_args"] == 2
    rec = _check_record(raw, "test")
    for n in (1, 3, 8):
        shapes = [[n, 1000], [n, 1000]]
        assert [evaluate(t, shapes) for t in rec["grid"]] == [-(-n * 1000 // 256), 1, 1]
        assert [evaluate(t, shapes) for t in rec["block"]] == [128, 1, 1]
        assert [evaluate(t, shapes) for t in rec["args"]] == [n * 1000]
    assert triton.compile is fake_compile   # the capture is undone


def test_kernel_not_compiled_during_aot_impl_is_refused(monkeypatch):
    """A kernel compiled elsewhere (not seen by the capture) cannot be stored: the plan would lack its binary."""
    import contextlib

    import inferrt.plugin.aot as aot

    monkeypatch.setattr(triton, "compile", lambda src, *a, **k: FakeCompiled(src.fn.__name__))
    monkeypatch.setattr(aot, "_captured_compile", lambda: contextlib.nullcontext([]))
    with pytest.raises(BuildError, match="did not compile with triton.compile"):
        compile_aot(_node(), tactic=0)


def test_kernel_needing_global_scratch_is_refused(monkeypatch):
    monkeypatch.setattr(triton, "compile", lambda src, *a, **k: FakeCompiled(src.fn.__name__, scratch=128))
    with pytest.raises(BuildError, match="global scratch"):
        compile_aot(_node(), tactic=0)


@pytest.mark.parametrize("key,value", [("grid", [["c", 1]]), ("args", [["f32", ["c", 1]]]),
                                       ("shared_mem", ["d", 9, 0]), ("n_inputs", -1)])
def test_corrupt_records_are_plan_errors(monkeypatch, key, value):
    monkeypatch.setattr(triton, "compile", lambda src, *a, **k: FakeCompiled(src.fn.__name__))
    raw, _ = compile_aot(_node(), tactic=0)
    raw[key] = value
    with pytest.raises(PlanError, match="corrupt plan"):
        _check_record(raw, "layer 'p'")
