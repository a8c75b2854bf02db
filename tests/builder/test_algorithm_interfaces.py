"""TensorRT 10's IAlgorithmSelector signature: select_algorithms(IAlgorithmContext, [IAlgorithm]) and one
report_algorithms(contexts, choices) call with every layer, as Polygraphy's tactic recorder and replayer use them."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import inferrt as trt
from tests.helpers import new_network


class _Spy(trt.IAlgorithmSelector):
    def __init__(self, pick=None):
        super().__init__()
        self.selected = {}
        self.reports = []
        self.pick = pick

    def select_algorithms(self, context, choices):
        self.selected[context.name] = (context, list(choices))
        return self.pick(context, choices) if self.pick else list(range(len(choices)))

    def report_algorithms(self, contexts, choices):
        self.reports.append((list(contexts), list(choices)))


def _build(selector, dynamic=False):
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 8) if dynamic else (2, 8))
    r = net.add_activation(x, trt.ActivationType.RELU)
    r.name = "relu"
    s = net.add_elementwise(r.get_output(0), x, trt.ElementWiseOperation.PROD)
    s.name = "mul"
    net.mark_output(s.get_output(0))
    cfg = builder.create_builder_config()
    cfg.device = "cpu"
    cfg.algorithm_selector = selector
    if dynamic:
        p = builder.create_optimization_profile()
        p.set_shape("x", (1, 8), (4, 8), (16, 8))
        cfg.add_optimization_profile(p)
    return trt.Runtime(builder.logger).deserialize_cuda_engine(builder.build(net, cfg))


def test_select_receives_contexts_and_algorithms():
    spy = _Spy()
    engine = _build(spy, dynamic=True)
    layers = [n for n in engine.graph.nodes if n.kind != "constant"]
    assert set(spy.selected) == {n.name for n in layers}
    for n in layers:
        context, choices = spy.selected[n.name]
        assert isinstance(context, trt.IAlgorithmContext) and context == n.name
        assert context.num_inputs == len([i for i in n.inputs if i]) and context.num_outputs == len(n.outputs)
        assert [tuple(d) for d in context.get_shape(0)] == [(1, 8), (4, 8), (16, 8)]   # profile 0: min, opt, max
        assert context.get_shape(context.num_inputs + context.num_outputs) == []
        assert all(isinstance(a, trt.IAlgorithm) for a in choices) and "generic" in choices
        a = choices[0]
        info = a.get_algorithm_io_info(0)
        assert info.dtype == trt.float32 and tuple(info.strides) == (8, 1) and info.vectorized_dim == -1
        assert a.get_algorithm_io_info(context.num_inputs + context.num_outputs) is None
        assert a.timing_msec == -1.0   # the CPU times nothing
        assert isinstance(a.algorithm_variant.implementation, int) and isinstance(a.algorithm_variant.tactic, int)


def test_algorithm_ids_are_stable_and_tell_tactics_apart():
    first, second = _Spy(), _Spy()
    _build(first)
    _build(second)
    for name, (_, choices) in first.selected.items():
        again = second.selected[name][1]
        assert [(c.algorithm_variant.implementation, c.algorithm_variant.tactic) for c in choices] == \
            [(c.algorithm_variant.implementation, c.algorithm_variant.tactic) for c in again]
    from inferrt.builder.algorithm import IAlgorithm

    assert IAlgorithm("generic", 1, []).algorithm_variant.tactic != IAlgorithm("generic", 2, []).algorithm_variant.tactic
    assert IAlgorithm("a", 1, []).algorithm_variant.implementation != \
        IAlgorithm("b", 1, []).algorithm_variant.implementation


def test_report_is_called_once_with_every_layer_and_its_choice():
    spy = _Spy()
    engine = _build(spy)
    (contexts, choices), = spy.reports
    layers = [n for n in engine.graph.nodes if n.kind != "constant"]
    assert [c.name for c in contexts] == [n.name for n in layers]
    assert [str(c) for c in choices] == [n.info.tactic for n in layers]


def test_selecting_by_index_is_honoured_and_out_of_range_is_a_build_error():
    engine = _build(_Spy(pick=lambda ctx, choices: [choices.index("generic")]))
    assert all(n.info.tactic == "generic" for n in engine.graph.nodes if n.kind != "constant")
    with pytest.raises(trt.BuildError, match=r"select_algorithms returned \[99\]"):
        _build(_Spy(pick=lambda ctx, choices: [99]))


def test_polygraphys_tactic_recorder_and_replayer(tmp_path, monkeypatch):
    pytest.importorskip("polygraphy")
    monkeypatch.setitem(sys.modules, "tensorrt", trt)   # what inferrt.alias.install() does, undone afterwards
    from polygraphy.backend.trt import TacticRecorder, TacticReplayer
    from polygraphy.backend.trt.algorithm_selector import TacticReplayData

    path = str(tmp_path / "replay.json")
    engine = _build(TacticRecorder(path))
    data = TacticReplayData.load(path)
    assert sorted(data) == sorted(n.name for n in engine.graph.nodes if n.kind != "constant")
    for name, algo in data.items():
        assert algo.inputs[0].dtype == trt.float32 and algo.inputs[0].strides == (8, 1)
    replayed = _build(TacticReplayer(path))
    x = np.linspace(-1, 1, 16, dtype=np.float32).reshape(2, 8)
    out = replayed.create_execution_context().infer(x=x)[replayed.output_names[0]]
    np.testing.assert_array_equal(out, np.maximum(x, 0) * x)
