"""IAlgorithmSelector: the builder offers each layer's tactic names and keeps only the ones selected."""
from __future__ import annotations

import numpy as np
import pytest
import inferrt as trt
from tests.helpers import new_network


class _Recorder(trt.IAlgorithmSelector):
    def __init__(self, keep=None):
        self.offered = {}
        self.keep = keep

    def select_algorithms(self, layer_name, choices):
        self.offered[layer_name] = list(choices)
        return super().select_algorithms(layer_name, choices) if self.keep is None else self.keep


def _build(selector, device="cpu"):
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2, 8))
    a = net.add_activation(x, trt.ActivationType.RELU)
    net.mark_output(a.get_output(0))
    cfg = builder.create_builder_config()
    cfg.device = device
    cfg.algorithm_selector = selector
    return trt.Runtime(builder.logger).deserialize_cuda_engine(builder.build(net, cfg))


def test_selector_sees_every_layer_with_tactic_names():
    sel = _Recorder()
    engine = _build(sel)
    computed = [n.name for n in engine.graph.nodes if n.kind != "constant"]
    assert set(computed) <= set(sel.offered)
    assert all("generic" in c for c in sel.offered.values())
    x = np.linspace(-1, 1, 16, dtype=np.float32).reshape(2, 8)
    np.testing.assert_array_equal(engine.create_execution_context().infer(x=x)[engine.output_names[0]],
                                  np.maximum(x, 0))


def test_selection_by_name_or_index_is_honoured():
    for keep in (["generic"], [0]):
        engine = _build(_Recorder(keep))
        assert {n.info.tactic for n in engine.graph.nodes if n.kind != "constant"} == {"generic"}


def test_default_selector_keeps_every_choice():
    engine = _build(trt.IAlgorithmSelector())
    assert all(n.info.tactic == "generic" for n in engine.graph.nodes if n.kind != "constant")


def test_selection_outside_the_choices_is_a_build_error():
    with pytest.raises(trt.BuildError, match="select_algorithms returned \\['cudnn_typo'\\]"):
        _build(_Recorder(["cudnn_typo"]))
