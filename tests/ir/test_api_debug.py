"""INetworkDefinition.mark_debug / unmark_debug / is_debug_tensor."""
from __future__ import annotations

import pytest

import inferrt as trt
from tests.helpers import new_network


def test_mark_unmark_and_query():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2, 3))
    r = net.add_activation(x, trt.ActivationType.RELU).get_output(0)
    assert not net.is_debug_tensor(r)
    assert net.mark_debug(r) and net.mark_debug(r)   # marking twice is fine
    assert net.is_debug_tensor(r) and not net.is_debug_tensor(x)
    assert net.unmark_debug(r) and not net.is_debug_tensor(r)


def test_errors_are_logged_and_return_false():
    builder, net = new_network()
    other_builder, other = new_network()
    y = other.add_input("y", trt.float32, (2,))
    x = net.add_input("x", trt.float32, (2,))
    net.error_recorder = rec = trt.IErrorRecorder()
    assert net.unmark_debug(x) is False
    assert net.mark_debug(y) is False
    assert net.mark_debug("x") is False
    descs = [rec.get_error_desc(i) for i in range(rec.num_errors())]
    assert "unmark_debug: tensor 'x' is not a debug tensor" in descs[0]
    assert "tensor 'y' of another network" in descs[1] and "got a str" in descs[2]


def test_marking_does_not_change_the_network():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2, 3))
    r = net.add_activation(x, trt.ActivationType.RELU).get_output(0)
    net.mark_output(net.add_elementwise(r, x, trt.ElementWiseOperation.SUM).get_output(0))
    before = (net.num_layers, net.num_inputs, net.num_outputs)
    net.mark_debug(r)
    assert (net.num_layers, net.num_inputs, net.num_outputs) == before


def test_a_removed_debug_tensor_fails_the_build():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2, 3))
    y = net.add_input("y", trt.float32, (2, 3))
    net.mark_output(net.add_activation(x, trt.ActivationType.RELU).get_output(0))
    net.mark_debug(y)
    net.remove_tensor(y)
    cfg = builder.create_builder_config()
    cfg.device = "cpu"
    with pytest.raises(trt.BuildError, match="debug tensor 'y' is not computed by the network"):
        builder.build(net, cfg)
