"""assign_precision with layers kept in FLOAT: they read network inputs and constants in FLOAT, a constant shared
with lowered layers gets a lowered twin, and the FLOAT island ends at its readers (checked on the graph a GPU build
makes, run on the CPU in its types)."""
from __future__ import annotations

import numpy as np

import inferrt as trt
from inferrt.builder.lower_network import lower_network
from inferrt.enums import DataType
from inferrt.passes.assign_precision import assign_precision
from tests.helpers import assert_close
from tests.passes.precision_nets import EW, fp16_config, run_graph


def _shared_network():
    """a = x * w ; b = x + w ; y = a + b, with w a shared constant; 'a' is kept in FLOAT by hand."""
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, (3, 8))
    w = net.add_constant((1, 8), np.linspace(0.5, 2.0, 8, dtype=np.float32).reshape(1, 8))
    w.name = "w"
    a = net.add_elementwise(x, w.get_output(0), EW.PROD)
    a.name = "a"
    b = net.add_elementwise(x, w.get_output(0), EW.SUM)
    b.name = "b"
    y = net.add_elementwise(a.get_output(0), b.get_output(0), EW.SUM)
    y.name = "y"
    y.get_output(0).name = "y"
    net.mark_output(y.get_output(0))
    return builder, net


def _lowered(keep=()):
    builder, net = _shared_network()
    g = lower_network(net)
    for n in g.nodes:
        if n.name in keep:
            n.info.keep_float = "test"
    assign_precision(g, fp16_config(builder), "cuda", lambda s, m: None)
    return g


def test_kept_layer_reads_float_input_and_constant_lowered_layers_read_casts_and_a_twin():
    g = _lowered(keep=("a",))
    a, b, y = g.node("a"), g.node("b"), g.node("y")
    assert a.inputs[0] == "x" and g.specs[a.inputs[1]].dtype == DataType.FLOAT     # no FP16 round trip
    assert g.specs[a.outputs[0]].dtype == DataType.FLOAT and a.info.precision is None
    assert g.specs[b.inputs[0]].dtype == DataType.HALF and g.specs[b.inputs[1]].dtype == DataType.HALF
    twin = [n for n in g.nodes if n.kind == "constant" and n.outputs[0] == b.inputs[1]]
    assert len(twin) == 1 and twin[0].attrs.weights.dtype == np.float16
    assert y.info.precision == "HALF"                                                 # the island ends at its reader
    assert g.specs["y"].dtype == DataType.FLOAT                                       # network output keeps its type
    x = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    w = np.linspace(0.5, 2.0, 8).reshape(1, 8)
    assert_close(run_graph(g, {"x": x})["y"], x * w + x + w, dtype=np.float16)


def test_nothing_kept_lowers_everything_with_one_input_cast():
    g = _lowered()
    casts = [n for n in g.nodes if n.kind == "cast" and n.inputs == ["x"]]
    assert len(casts) == 1
    assert all(n.info.precision == "HALF" for n in g.nodes if n.name in ("a", "b", "y", "w"))


def test_input_read_only_by_kept_layers_is_never_cast():
    g = _lowered(keep=("a", "b", "y"))
    assert not any(n.kind == "cast" and n.inputs == ["x"] for n in g.nodes)
    assert all(g.specs[o].dtype == DataType.FLOAT for n in g.nodes for o in n.outputs)


def test_inserted_casts_claim_no_network_layer():
    """Each layer's origin lists the network layers it implements; a cast assign_precision inserts implements none
    (it used to take the origin of the layer it feeds, so the engine inspector showed two layers implementing the
    kept layer 'a': the cast in front of it and 'a' itself)."""
    g = _lowered(keep=("a",))
    casts = [n for n in g.nodes if n.kind == "cast"]
    assert casts and all(n.info.inserted == "precision" and n.origin == [] for n in casts)
    for name in ("a", "b", "y"):
        assert [n.name for n in g.nodes if name in n.origin] == [name]
