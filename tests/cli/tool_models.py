"""Small ONNX models built in code for the Polygraphy-style command tests, and a deliberately wrong importer."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh


def _save(graph, path, opset=17):
    # IR version 8 (opset 17's), not onnx's newest: onnxruntime refuses IR versions newer than its own (IR 14 from
    # a newer onnx package beside an onnxruntime that reads up to 13), and `inferrt run` then exits 2
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", opset)], ir_version=8)
    onnx.save(model, str(path))
    return str(path)


def chain_model(path, batch="n"):
    """y = Sigmoid(Relu(x @ W)) + x with a dynamic first dimension; nodes mm, relu, sig, add."""
    w = np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32)
    nodes = [h.make_node("MatMul", ["x", "w"], ["a"], name="mm"), h.make_node("Relu", ["a"], ["b"], name="relu"),
             h.make_node("Sigmoid", ["b"], ["c"], name="sig"), h.make_node("Add", ["c", "x"], ["y"], name="add")]
    g = h.make_graph(nodes, "chain", [h.make_tensor_value_info("x", T.FLOAT, [batch, 4])],
                     [h.make_tensor_value_info("y", T.FLOAT, [batch, 4])], [nh.from_array(w, "w")])
    return _save(g, path)


def two_output_model(path):
    """Outputs y1 = Exp(x) and y2 = Sigmoid(Neg(x)), x static [2, 3]; nodes exp, neg, sig."""
    nodes = [h.make_node("Exp", ["x"], ["y1"], name="exp"), h.make_node("Neg", ["x"], ["n"], name="neg"),
             h.make_node("Sigmoid", ["n"], ["y2"], name="sig")]
    g = h.make_graph(nodes, "two", [h.make_tensor_value_info("x", T.FLOAT, [2, 3])],
                     [h.make_tensor_value_info("y1", T.FLOAT, [2, 3]), h.make_tensor_value_info("y2", T.FLOAT, [2, 3])])
    return _save(g, path)


def long_chain_model(path, ops=("Relu", "Neg", "Abs", "Sigmoid", "Tanh", "Neg", "Relu", "Abs", "Exp", "Neg")):
    """x -> op0 -> ... -> opN -> Add(x): nodes n<i>_<op>, tensors t<i>, output y; x static [2, 3]."""
    nodes, prev = [], "x"
    for i, op in enumerate(ops):
        nodes.append(h.make_node(op, [prev], [f"t{i}"], name=f"n{i}_{op.lower()}"))
        prev = f"t{i}"
    nodes.append(h.make_node("Add", [prev, "x"], ["y"], name="final_add"))
    g = h.make_graph(nodes, "long", [h.make_tensor_value_info("x", T.FLOAT, [2, 3])],
                     [h.make_tensor_value_info("y", T.FLOAT, [2, 3])])
    return _save(g, path)


def foldable_model(path):
    """y = Reshape(x * ((c1 + c2) * k), Shape(x)) with k a Constant node, an unused Neg and an unused initializer;
    x is [n, 4]. Folding leaves Mul and Reshape (Shape too while n is dynamic)."""
    c1 = nh.from_array(np.full((4,), 2.0, np.float32), "c1")
    c2 = nh.from_array(np.array([1.0, 2.0, 3.0, 4.0], np.float32), "c2")
    unused = nh.from_array(np.ones((8,), np.float32), "unused_w")
    nodes = [h.make_node("Add", ["c1", "c2"], ["s"], name="const_add"),
             h.make_node("Constant", [], ["k"], name="kconst", value=nh.from_array(np.array(0.5, np.float32))),
             h.make_node("Mul", ["s", "k"], ["s2"], name="const_mul"),
             h.make_node("Mul", ["x", "s2"], ["a"], name="mul"),
             h.make_node("Shape", ["x"], ["shp"], name="shape"),
             h.make_node("Reshape", ["a", "shp"], ["y"], name="reshape"),
             h.make_node("Neg", ["x"], ["dead"], name="dead_neg")]
    g = h.make_graph(nodes, "fold", [h.make_tensor_value_info("x", T.FLOAT, ["n", 4])],
                     [h.make_tensor_value_info("y", T.FLOAT, ["n", 4])], [c1, c2, unused])
    return _save(g, path)


def break_sigmoid(monkeypatch):
    """Make inferrt import every ONNX Sigmoid as Tanh (a deliberately wrong importer)."""
    import inferrt as trt
    from inferrt.onnx import registry

    registry.lookup("", "Sigmoid", 17)   # load every importer before replacing one

    def wrong(ctx, node):
        return [ctx.activation(ctx.tensor(node.inputs[0]), trt.ActivationType.TANH)]

    monkeypatch.setitem(registry.IMPORTERS, ("", "Sigmoid"), [(6, registry._with_node(wrong))])
