"""network.internal (ir/internal.py): the accessor inferrt's parser and builder use instead of private members."""
from __future__ import annotations

import numpy as np

import inferrt


def _network():
    return inferrt.Builder(inferrt.Logger(inferrt.Logger.INTERNAL_ERROR)).create_network()


def test_add_layer_creates_a_layer_of_any_registered_kind():
    net = _network()
    x = net.add_input("x", inferrt.float32, (2, 3))
    layer = net.internal.add_layer("log_softmax", [x], {"axes": 1 << 1}, name="ls")
    assert net.num_layers == 1 and net.get_layer(0) is layer and layer.name == "ls"
    y = layer.get_output(0)
    assert tuple(net.internal.spec(y).shape) == (2, 3)
    assert net.internal.producer(y) is layer and net.internal.producer(x) is None
    assert net.internal.layers == [layer] and net.internal.inputs == [x]


def test_known_value_and_tensor_names():
    net = _network()
    c = net.add_constant((3,), np.array([1, 2, 3], np.int64)).get_output(0)
    np.testing.assert_array_equal(net.internal.known_value(c), [1, 2, 3])
    x = net.add_input("x", inferrt.float32, (-1, 3))
    assert net.internal.known_value(net.add_identity(x).get_output(0)) is None
    assert net.internal.has_tensor_name("x") and not net.internal.has_tensor_name("nope")


def test_layer_errors_are_recorded_on_the_layer_and_listed():
    net = _network()
    a = net.add_input("a", inferrt.float32, (2, 3))
    b = net.add_input("b", inferrt.float32, (4, 5))
    layer = net.add_elementwise(a, b, inferrt.ElementWiseOperation.SUM)
    err = net.internal.layer_error(layer)
    assert err and layer.name in err
    assert net.internal.layer_errors() == [err]
    assert net.internal.logged_errors() == []  # shape-inference errors are not "logged" ones


def test_snapshot_restore_drops_what_was_added_since():
    net = _network()
    x = net.add_input("x", inferrt.float32, (2,))
    net.add_identity(x)
    snap = net.internal.snapshot()
    y = net.add_input("y", inferrt.float32, (2,))
    bad = net.add_elementwise(x, net.add_input("z", inferrt.float32, (5,)), inferrt.ElementWiseOperation.SUM)
    net.mark_output(bad.get_output(0))
    assert net.internal.layer_errors()
    net.internal.restore(snap)
    assert net.num_layers == 1 and net.num_inputs == 1 and net.num_outputs == 0
    assert not net.internal.has_tensor_name(y.name) and not net.internal.has_tensor_name("z")
    assert net.internal.layer_errors() == []
