"""Small ONNX models for the AutoCast tests (built with onnx.helper), and helpers that read a converted graph.

``chain_model``::

    x[2,8] -> mm1 (MatMul w1) -> relu1 -> scale (Mul by c) -> unscale (Div by c) -> mm2 (MatMul w2) -> sm (Softmax) -> y

With c = 1e5 the ``scale`` output is ~1e5 (past data_max) and c itself is past init_max: ``scale`` and ``unscale``
must stay FP32, the MatMuls, Relu and Softmax go low.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tests.helpers import lowest_ir



def chain_model(c=1e5, opset=17) -> onnx.ModelProto:
    rng = np.random.default_rng(7)
    w1 = (rng.standard_normal((8, 8)) * 0.5).astype(np.float32)
    w2 = (rng.standard_normal((8, 8)) * 0.5).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h1"], name="mm1"),
        helper.make_node("Relu", ["h1"], ["r1"], name="relu1"),
        helper.make_node("Mul", ["r1", "c"], ["s1"], name="scale"),
        helper.make_node("Div", ["s1", "c"], ["u1"], name="unscale"),
        helper.make_node("MatMul", ["u1", "w2"], ["h2"], name="mm2"),
        helper.make_node("Softmax", ["h2"], ["y"], name="sm", axis=-1),
    ]
    g = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])],
                          [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2"),
                           numpy_helper.from_array(np.array(c, np.float32), "c")])
    return lowest_ir(helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]))


def cap_model(cap=1e5) -> onnx.ModelProto:
    """x -> mm (MatMul) -> clamp (Min with an initializer ``cap``) -> y: the clamp's output stays small, its
    initializer is past init_max when cap > 65504."""
    rng = np.random.default_rng(8)
    w = (rng.standard_normal((4, 4)) * 0.5).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
             helper.make_node("Min", ["h", "cap"], ["y"], name="clamp")]
    g = helper.make_graph(nodes, "cap", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 4])],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.full((4,), cap, np.float32),
                                                                                     "cap")])
    return lowest_ir(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))


def shared_weight_model() -> onnx.ModelProto:
    """One initializer ``w`` read by two MatMuls: ``keep`` (excluded by the tests) and ``go``."""
    rng = np.random.default_rng(9)
    w = (rng.standard_normal((4, 4)) * 0.5).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["a"], name="keep"),
             helper.make_node("MatMul", ["x", "w"], ["b"], name="go"),
             helper.make_node("Add", ["a", "b"], ["y"], name="add")]
    g = helper.make_graph(nodes, "shared", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 4])],
                          [numpy_helper.from_array(w, "w")])
    return lowest_ir(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))


def rms_norm_model(eps=1e-12) -> onnx.ModelProto:
    """A decomposed RMSNorm: x -> sq (Pow 2) -> mean (ReduceMean) -> add_eps -> sqrt -> norm (Div x by it) -> y."""
    nodes = [helper.make_node("Pow", ["x", "two"], ["sq_out"], name="sq"),
             helper.make_node("ReduceMean", ["sq_out"], ["var"], name="mean", axes=[-1], keepdims=1),
             helper.make_node("Add", ["var", "eps"], ["var_eps"], name="add_eps"),
             helper.make_node("Sqrt", ["var_eps"], ["std"], name="sqrt"),
             helper.make_node("Div", ["x", "std"], ["y"], name="norm")]
    g = helper.make_graph(nodes, "rms", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 16])],
                          [numpy_helper.from_array(np.array(2.0, np.float32), "two"),
                           numpy_helper.from_array(np.array(eps, np.float32), "eps")])
    return lowest_ir(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))


def value_types(model) -> dict:
    """value name -> elem type of the converted model (strict type inference)."""
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    g = inferred.graph
    types = {v.name: v.type.tensor_type.elem_type for v in list(g.input) + list(g.value_info) + list(g.output)}
    types.update({t.name: t.data_type for t in g.initializer})
    return types


def node(model, name):
    return next(n for n in model.graph.node if n.name == name)


def compute_type(model, types, n) -> int:
    """The float type a node computes in: the type of its first float output (or input)."""
    floats = (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16)
    for v in list(n.output) + list(n.input):
        if types.get(v) in floats:
            return types[v]
    return 0


def check_casts_at_boundaries(model) -> list:
    """The Casts of ``model`` are minimal: each changes the type, reads no other Cast's output (no back-to-back
    Casts), is read by a node or is a graph output (no dead Cast), and no two cast one value to one type.
    Returns the Casts as (input, output, from type, to type)."""
    types = value_types(model)
    producer = {v: n for n in model.graph.node for v in n.output}
    outputs = {o.name for o in model.graph.output}
    read = set()

    def reads(graph):   # inputs of every node, subgraphs included (they read outer values by name)
        for n in graph.node:
            read.update(n.input)
            for a in n.attribute:
                for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                    reads(sub)

    reads(model.graph)
    casts = []
    for n in model.graph.node:
        if n.op_type != "Cast":
            continue
        src, dst = n.input[0], n.output[0]
        to = next(a.i for a in n.attribute if a.name == "to")
        assert types.get(src) != to, f"{n.name} casts {src} to its own type"
        p = producer.get(src)
        assert p is None or p.op_type != "Cast", f"{n.name} reads the output of Cast {p.name}"
        assert dst in read or dst in outputs, f"{n.name}'s output {dst} is never read"
        casts.append((src, dst, types.get(src), to))
    pairs = [(c[0], c[3]) for c in casts]
    assert len(pairs) == len(set(pairs)), f"duplicate Casts: {pairs}"
    return casts
