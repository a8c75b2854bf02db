"""If / Loop subgraphs that read values made by other control-flow nodes, and If outputs whose rank comes from the
model's declared types (branches of different ranks): compared with onnxruntime, or the parse error checked."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper as oh

import inferrt

from tests.onnx.test_control_flow import B, F, RNG, _body, check, out, vi

W = RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)


def _if(cond, then_nodes, then_out, else_nodes, else_out, y):
    tg = oh.make_graph(then_nodes, f"{y}_then", [], [then_out])
    eg = oh.make_graph(else_nodes, f"{y}_else", [], [else_out])
    return oh.make_node("If", [cond], [y], then_branch=tg, else_branch=eg, name=f"if_{y}")


@pytest.mark.parametrize("c1,c2", [(True, True), (True, False), (False, True), (False, False)])
def test_if_branches_read_another_ifs_output(c1, c2, device):
    # X = c1 ? x + 1 : x * 2;  Y = c2 ? relu(X) : X - x;  z = Conv(Y) reads Y outside both Ifs
    if1 = _if("c1", [oh.make_node("Add", ["x", "one"], ["a"])], out("a", F, 4),
              [oh.make_node("Mul", ["x", "two"], ["b"])], out("b", F, 4), "X")
    if2 = _if("c2", [oh.make_node("Relu", ["X"], ["r"])], out("r", F, 4),
              [oh.make_node("Sub", ["X", "x"], ["s"])], out("s", F, 4), "Y")
    conv = oh.make_node("Conv", ["Y", "w"], ["z"], pads=[1, 1, 1, 1])
    check([if1, if2, conv], {"x": RNG.standard_normal((1, 3, 6, 6)).astype(np.float32), "c1": np.array(c1),
                             "c2": np.array(c2)}, [("z", F, 4)], device=device,
          inits={"one": np.float32(1), "two": np.float32(2), "w": W}, atol=1e-4)


@pytest.mark.parametrize("cond", [True, False])
def test_nested_if_reads_sibling_if_inside_loop_body(cond):
    # inside a Loop body: P = If(c, v + x, v - x); Q = If(c, P * P, P + v) reads P and v from the body's scope
    if_p = _if("c", [oh.make_node("Add", ["v", "x"], ["pa"])], out("pa", F, 1),
               [oh.make_node("Sub", ["v", "x"], ["pb"])], out("pb", F, 1), "P")
    if_q = _if("c", [oh.make_node("Mul", ["P", "P"], ["qa"])], out("qa", F, 1),
               [oh.make_node("Add", ["P", "v"], ["qb"])], out("qb", F, 1), "Q")
    body = _body([if_p, if_q, oh.make_node("Mul", ["Q", "half"], ["v2"]), oh.make_node("Identity", ["cin"], ["cout"])],
                 [vi("v", F, [3])], [out("cout", B, 0), out("v2", F, 1)])
    loop = oh.make_node("Loop", ["M", "", "v0"], ["vf"], body=body)
    check([loop], {"x": RNG.standard_normal(3).astype(np.float32), "v0": RNG.standard_normal(3).astype(np.float32),
                   "c": np.array(cond)}, [("vf", F, 1)],
          inits={"M": np.array(3, np.int64), "half": np.float32(0.5)})


def _squeeze_if_model(else_declares):
    # torch's export of a data-dependent squeeze: c ? x : Squeeze(x, 0); the ranks of the branches differ (4 and 3),
    # so only the declared type of the branch outputs tells the Conv after the If its input's rank (and when both
    # branches declare their own rank, nothing does)
    if1 = _if("c", [oh.make_node("Identity", ["x"], ["t"])], vi("t", F, [1, 3, 6, 6]),
              [oh.make_node("Squeeze", ["x", "ax"], ["e"])], vi("e", F, [3, 6, 6] if else_declares else None), "X")
    conv = oh.make_node("Conv", ["X", "w"], ["z"], pads=[1, 1, 1, 1])
    from onnx import numpy_helper

    graph = oh.make_graph([if1, conv], "g", [vi("x", F, [1, 3, 6, 6]), vi("c", B, [])], [out("z", F, 4)],
                          [numpy_helper.from_array(W, "w"), numpy_helper.from_array(np.array([0], np.int64), "ax")])
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_if_output_rank_from_the_declared_branch_type(device):
    import onnxruntime as ort

    model = _squeeze_if_model(else_declares=False)
    x = RNG.standard_normal((1, 3, 6, 6)).astype(np.float32)
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"x": x, "c": np.array(True)})[0]
    engine = inferrt.build_engine(model, device=device)
    ctx = engine.create_execution_context()
    got = np.asarray(ctx.infer({"x": x, "c": np.array(True)})["z"])
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
    # the else branch yields rank 3, not the declared (1, 3, 6, 6): the run says so instead of feeding the Conv
    with pytest.raises(Exception, match=r"declares \(1, 3, 6, 6\)"):
        ctx.infer({"x": x, "c": np.array(False)})
    # the declared shapes travel in the plan
    again = inferrt.Runtime(inferrt.Logger()).deserialize_cuda_engine(engine.serialize()).create_execution_context()
    np.testing.assert_array_equal(np.asarray(again.infer({"x": x, "c": np.array(True)})["z"]), got)
    with pytest.raises(Exception, match=r"declares \(1, 3, 6, 6\)"):
        again.infer({"x": x, "c": np.array(False)})


def test_if_output_of_unknown_rank_read_by_another_if_is_reported_as_such():
    model = _squeeze_if_model(else_declares=True)
    then2 = oh.make_graph([oh.make_node("Relu", ["X"], ["r"])], "t2", [], [vi("r", F, None)])
    else2 = oh.make_graph([oh.make_node("Neg", ["X"], ["n"])], "e2", [], [vi("n", F, None)])
    model.graph.node[1].CopyFrom(oh.make_node("If", ["c"], ["z"], then_branch=then2, else_branch=else2,
                                              name="reader"))
    logger = inferrt.Logger(inferrt.Logger.ERROR)
    net = inferrt.Builder(logger).create_network(0)
    parser = inferrt.OnnxParser(net, logger)
    assert not parser.parse(model.SerializeToString())
    msg = " ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
    assert "dangling" not in msg
    assert "'X'" in msg and "unknown rank" in msg and "if_X" in msg and "declare" in msg
