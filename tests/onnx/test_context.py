"""The import context as the one importer API: node accessors, the error-code convention, ctx.node while an
importer runs, reshape over mixed dims, and onnx_op (a standard op imported on ITensors)."""
from __future__ import annotations

import numpy as np
import onnx.helper as oh
import pytest

import inferrt as trt
from inferrt.enums import ParserErrorCode as E
from inferrt.onnx.context import ImportContext, NodeView
from inferrt.onnx.registry import ImportFailure, lookup


def _ctx(opset=17):
    net = trt.Builder(trt.Logger(trt.Logger.INTERNAL_ERROR)).create_network()
    ctx = ImportContext(net, {"": opset})
    ctx.bind("x", net.add_input("x", trt.float32, (2, -1, 4)))
    ctx.add_constant_value("axes", np.array([-1, 0], np.int64))
    return ctx, net


def test_node_accessors():
    ctx, _ = _ctx()
    node = NodeView(oh.make_node("Foo", ["x", "", "axes"], ["y", ""], name="n", mode=b"abc"), 0)
    assert ctx.has_input(node, 0) and not ctx.has_input(node, 1) and not ctx.has_input(node, 5)
    assert ctx.has_output(node, 0) and not ctx.has_output(node, 1) and not ctx.has_output(node, 2)
    assert ctx.input(node, 1) is None and ctx.input(node, 0) is ctx.tensor("x")
    assert ctx.input_value(node, 2).tolist() == [-1, 0] and ctx.input_value(node, 0) is None
    assert ctx.attr(node, "mode") == "abc" and ctx.attr(node, "missing") is None and ctx.attr(node, "m", 3) == 3
    assert ctx.norm_axes(ctx.input_value(node, 2), 3) == [2, 0]


def test_fail_codes_and_node_prefix():
    ctx, _ = _ctx()
    ctx.node = NodeView(oh.make_node("Foo", ["x"], ["y"], name="the_node"), 0)
    with pytest.raises(ImportFailure) as e:
        ctx.fail("not supported")
    assert e.value.code == E.UNSUPPORTED_NODE and e.value.message == "node 'the_node' (Foo): not supported"
    with pytest.raises(ImportFailure) as e:
        ctx.norm_axes([3], 3)
    assert e.value.code == E.INVALID_NODE and "the_node" in e.value.message and "axis 3" in e.value.message
    with pytest.raises(ImportFailure) as e:
        ctx.tensor("undefined_name")
    assert e.value.code == E.INVALID_GRAPH


def test_registered_importers_run_with_ctx_node_set():
    """Called without the parser, an importer still sees its node as ctx.node (errors name it); the context's
    node is put back afterwards."""
    ctx, _ = _ctx()
    node = oh.make_node("Transpose", ["x"], ["y"], perm=[0, 0, 1], name="direct")
    with pytest.raises(ImportFailure) as e:
        lookup("", "Transpose", 17)(ctx, NodeView(node, 0))
    assert "direct" in e.value.message and ctx.node is None


def test_reshape_mixed_dims_and_shape_tensor():
    ctx, net = _ctx()
    x = ctx.tensor("x")
    y = ctx.reshape(x, [ctx.dim_of(x, 1), 8], zero_copies=False)  # a dynamic dim and an int: a shape tensor
    shuffle = net.internal.producer(y)
    assert len(y.shape) == 2 and shuffle.get_input(1) is not None and not shuffle.zero_is_placeholder
    z = ctx.reshape(x, ctx.ints([0, -1]))  # a known shape tensor folds to static dims; 0 copies dim 0
    assert tuple(z.shape) == (2, -1)
    assert ctx.mul_dims([2, 4]) == 8 and ctx.dim_of(x, 0) == 2


def test_onnx_op_imports_a_standard_op_naming_the_current_node():
    ctx, net = _ctx()
    ctx.node = NodeView(oh.make_node("com.acme.Thing", ["x"], ["y"], name="outer"), 3)
    bound = len(list(ctx.bound_tensors()))
    (y,) = ctx.onnx_op("Transpose", [ctx.tensor("x")], perm=[2, 0, 1])
    assert tuple(y.shape) == (4, 2, -1) and ctx.node.name == "outer"
    assert len(list(ctx.bound_tensors())) == bound  # the temporary input bindings are dropped
    with pytest.raises(ImportFailure) as e:
        ctx.onnx_op("Transpose", [ctx.tensor("x")], perm=[0, 0, 0])
    assert "outer" in e.value.message


def test_is_bound_follows_bind_unbind_and_rebinding():
    ctx, net = _ctx()
    x = ctx.tensor("x")
    y = net.add_identity(x).get_output(0)
    assert ctx.is_bound(x) and not ctx.is_bound(y)
    ctx.bind("alias", x)            # two names on one tensor
    ctx.unbind("x")
    assert ctx.is_bound(x)          # still bound as "alias"
    ctx.bind("alias", y)            # rebinding moves the name
    assert not ctx.is_bound(x) and ctx.is_bound(y)
    ctx.add_constant_value("alias", np.zeros(2, np.float32))   # a known value replaces the binding
    assert not ctx.is_bound(y)
    assert ctx.is_bound(ctx.tensor("alias"))                    # materialized constants are bound too


def test_typed_inputs_and_add_op():
    """float_input refuses a non-float input with UNSUPPORTED_NODE_DATATYPE naming the input; int64_input casts;
    add_op adds a layer of any op kind (an ONNX-only one here) and returns its outputs."""
    from inferrt.ir.kinds import Kind

    ctx, net = _ctx()
    ctx.bind("i", net.add_input("i", trt.int32, (3,)))
    ctx.node = node = NodeView(oh.make_node("Foo", ["x", "i"], ["y"], name="typed"), 0)
    assert ctx.float_input(node, 0) is ctx.tensor("x")
    with pytest.raises(ImportFailure) as e:
        ctx.float_input(node, 1, "indices")
    assert e.value.code == E.UNSUPPORTED_NODE_DATATYPE and "indices 'i'" in e.value.message and "INT32" in e.value.message
    assert ctx.int64_input(node, 1).dtype == trt.int64
    before = net.num_layers
    (y,) = ctx.add_op(Kind.DET, [ctx.tensor("x")])
    layer = net.get_layer(net.num_layers - 1)
    assert net.num_layers == before + 1 and net.internal.layer_kind(layer) == Kind.DET
    assert layer.get_output(0) is y and tuple(y.shape) == (2,)
