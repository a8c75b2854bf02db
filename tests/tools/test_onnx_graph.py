"""ONNX graph helpers: topological order, cycles and dangling tensors, extraction, clean-up and mark-all."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h

from inferrt.errors import NetworkError
from inferrt.tools.onnx_graph import cleanup, extract, mark_all, sort_nodes, toposort
from tests.helpers import lowest_ir


def _model(nodes, outputs=("y",)):
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, [2])],
                     [h.make_tensor_value_info(o, T.FLOAT, [2]) for o in outputs])
    return lowest_ir(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]))


def test_toposort_reorders_and_reports_cycles_and_dangling_tensors():
    m = _model([h.make_node("Neg", ["a"], ["y"], name="second"), h.make_node("Relu", ["x"], ["a"], name="first")])
    assert [n.name for n in toposort(m.graph)] == ["first", "second"]
    sort_nodes(m)
    onnx.checker.check_model(m)
    cyc = _model([h.make_node("Neg", ["b"], ["a"], name="p"), h.make_node("Neg", ["a"], ["b"], name="q"),
                  h.make_node("Relu", ["x"], ["y"], name="r")])
    with pytest.raises(NetworkError, match="cycle through nodes 'p', 'q'"):
        toposort(cyc.graph)
    with pytest.raises(NetworkError, match="reads tensor 'ghost'"):
        toposort(_model([h.make_node("Neg", ["ghost"], ["y"], name="n")]).graph)


def test_subgraph_reads_are_dependencies():
    body = h.make_graph([h.make_node("Neg", ["a"], ["o"])], "body", [], [h.make_tensor_value_info("o", T.FLOAT, [2])])
    m = _model([h.make_node("If", ["c"], ["y"], name="if", then_branch=body, else_branch=body),
                h.make_node("Relu", ["x"], ["a"], name="relu"),
                h.make_node("Constant", [], ["c"], name="cond", value=onnx.numpy_helper.from_array(np.array(True)))])
    assert [n.name for n in toposort(m.graph)] == ["relu", "cond", "if"]


def test_extract_cleanup_and_mark_all():
    m = _model([h.make_node("Relu", ["x"], ["a"], name="relu"), h.make_node("Neg", ["a"], ["b"], name="neg"),
                h.make_node("Exp", ["b"], ["y"], name="exp"), h.make_node("Abs", ["x"], ["dead"], name="dead")])
    sub = extract(m, {"a": None}, ["b"])
    onnx.checker.check_model(sub)
    assert [n.name for n in sub.graph.node] == ["neg"]
    removed = cleanup(m)
    assert removed["nodes"] == 1 and [n.name for n in m.graph.node] == ["relu", "neg", "exp"]
    marked, order = mark_all(m)
    assert [o.name for o in marked.graph.output] == ["y", "a", "b"]
    assert order == [("relu", "Relu", ["a"]), ("neg", "Neg", ["b"]), ("exp", "Exp", ["y"])]
    assert all(o.type.tensor_type.elem_type == T.FLOAT for o in marked.graph.output)


def test_cleanup_drops_the_input_entry_of_a_removed_initializer():
    m = _model([h.make_node("Relu", ["x"], ["y"], name="relu")])
    m.graph.initializer.append(onnx.numpy_helper.from_array(np.ones(2, np.float32), "old_w"))
    m.graph.input.append(h.make_tensor_value_info("old_w", T.FLOAT, [2]))   # IR < 4 style
    removed = cleanup(m)
    assert [v.name for v in m.graph.input] == ["x"] and not m.graph.initializer
    assert removed == {"nodes": 0, "initializers": 1, "inputs": 0}
