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


def test_toposort_orders_producers_first_whatever_the_creation_order():
    net = _network()
    x = net.add_input("x", inferrt.float32, (2,))
    first = net.add_identity(x)
    second = net.add_identity(x)
    first.set_input(0, second.get_output(0))  # created first, now consumes the second
    assert net.internal.layers == [first, second]
    assert net.internal.toposort() == [second, first]


def test_toposort_names_a_layer_on_a_cycle():
    import pytest

    net = _network()
    x = net.add_input("x", inferrt.float32, (2,))
    a = net.add_identity(x)
    b = net.add_identity(a.get_output(0))
    a.set_input(0, b.get_output(0))
    with pytest.raises(ValueError, match="cycle through layer"):
        net.internal.toposort()


def test_layer_fields_and_declared_input_specs():
    net = _network()
    x = net.add_input("x", inferrt.float32, (-1, 3))
    layer = net.add_softmax(x)
    layer.axes = 1 << 1
    cast = net.add_identity(layer.get_output(0))
    cast.set_output_type(0, inferrt.float16)
    internal = net.internal
    assert internal.input_shape(x) == (-1, 3) and type(internal.input_shape(x)) is tuple
    assert internal.input_dtype(x) == inferrt.float32
    assert internal.input_shape(layer.get_output(0)) is None
    assert internal.layer_kind(layer) == "softmax" and internal.layer_op(layer).layer_type == layer.type
    assert internal.layer_attrs(layer)["axes"] == 1 << 1
    assert internal.layer_inputs(layer) == [x] and internal.layer_outputs(layer) == [layer.get_output(0)]
    assert internal.output_types(cast) == {0: inferrt.float16} and internal.output_types(layer) == {}
