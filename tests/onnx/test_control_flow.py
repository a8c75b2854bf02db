"""ONNX If / Loop / Scan importers against onnxruntime: outer-scope references, branch outputs of different
shapes, trip counts and conditions, scan outputs, nested loops, Scan opset 8 and 9+ (axes, directions)."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto as TP, helper as oh, numpy_helper

import inferrt
from tests.helpers import lowest_ir

RNG = np.random.default_rng(3)
NP2ONNX = {np.dtype(np.float32): TP.FLOAT, np.dtype(np.int64): TP.INT64, np.dtype(np.bool_): TP.BOOL,
           np.dtype(np.int32): TP.INT32}
F, I64, B = TP.FLOAT, TP.INT64, TP.BOOL


def vi(name, elem, shape):
    return oh.make_tensor_value_info(name, elem, shape)


def out(name, elem, rank):
    return vi(name, elem, [f"{name}_d{i}" for i in range(rank)])


def const(name, arr):
    return oh.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(arr), name + "_v"))


def check(nodes, feeds: dict, outputs, inits=None, opset=17, dyn=(), atol=1e-5, device="cpu"):
    """``outputs``: [(name, onnx elem type, rank)]; inputs in ``dyn`` get symbolic dims. Compares with ORT."""
    import onnxruntime as ort

    ins = [vi(k, NP2ONNX[v.dtype], [f"{k}_{i}" if k in dyn else d for i, d in enumerate(v.shape)])
           for k, v in feeds.items()]
    graph = oh.make_graph(nodes, "g", ins, [out(*o) for o in outputs],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()])
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", opset)])
    model.ir_version = 8
    names = [o[0] for o in outputs]
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(names, feeds)
    profiles = {k: ((1,) * v.ndim, v.shape, tuple(2 * d + 2 for d in v.shape)) for k, v in feeds.items() if k in dyn}
    # IEEE float32 on the GPU too (BuilderFlag.TF32 cleared): the comparison is at float32 tolerances
    config = inferrt.Builder(inferrt.Logger(inferrt.Logger.WARNING)).create_builder_config()
    config.clear_flag(inferrt.BuilderFlag.TF32)
    engine = inferrt.build_engine(model, device=device, profiles=profiles or None, config=config)
    got = engine.create_execution_context().infer(feeds)
    for n, r in zip(names, ref):
        g = np.asarray(got[n])
        assert g.shape == r.shape, f"{n}: shape {g.shape} != onnxruntime {r.shape}"
        np.testing.assert_allclose(g.astype(np.float64), r.astype(np.float64), rtol=1e-5, atol=atol, err_msg=n)
    return got


# ----------------------------------------------------------------------------------------------- If
def _if_node(then_nodes, then_outs, else_nodes, else_outs, outs=("y",)):
    tg = oh.make_graph(then_nodes, "then", [], then_outs)
    eg = oh.make_graph(else_nodes, "else", [], else_outs)
    return oh.make_node("If", ["c"], list(outs), then_branch=tg, else_branch=eg)


@pytest.mark.parametrize("cond", [True, False])
def test_if_outer_scope(cond, device):
    node = _if_node([oh.make_node("Add", ["x", "w"], ["t"])], [out("t", F, 2)],
                    [oh.make_node("Mul", ["x", "x"], ["e"]), oh.make_node("Sub", ["e", "w"], ["e2"])],
                    [out("e2", F, 2)])
    check([node], {"c": np.array(cond), "x": RNG.standard_normal((2, 3)).astype(np.float32)},
          [("y", F, 2)], inits={"w": RNG.standard_normal((2, 3)).astype(np.float32)}, device=device)


@pytest.mark.parametrize("cond", [True, False])
def test_if_branches_with_different_shapes(cond):
    node = _if_node([oh.make_node("Concat", ["x", "x"], ["t"], axis=0)], [out("t", F, 2)],
                    [oh.make_node("ReduceSum", ["x"], ["e"], keepdims=1)], [out("e", F, 2)])
    check([node], {"c": np.array(cond), "x": RNG.standard_normal((2, 3)).astype(np.float32)}, [("y", F, 2)])


@pytest.mark.parametrize("cond", [True, False])
def test_if_constants_inside_branches_and_two_outputs(cond):
    node = _if_node([const("k", np.float32(2.5)), oh.make_node("Mul", ["x", "k"], ["t"]),
                     oh.make_node("Identity", ["x"], ["t2"])], [out("t", F, 1), out("t2", F, 1)],
                    [const("k2", np.arange(4, dtype=np.float32)), oh.make_node("Add", ["x", "k2"], ["e"]),
                     oh.make_node("Neg", ["x"], ["e2"])], [out("e", F, 1), out("e2", F, 1)], outs=("y", "z"))
    cmp = oh.make_node("ReduceSum", ["x"], ["s"], keepdims=0)
    gt = oh.make_node("Greater", ["s", "zero"], ["c"])
    x = RNG.standard_normal(4).astype(np.float32)
    x = x if (x.sum() > 0) == cond else -x
    check([cmp, gt, node], {"x": x}, [("y", F, 1), ("z", F, 1)], inits={"zero": np.float32(0)})


def test_if_with_dynamic_input():
    node = _if_node([oh.make_node("Relu", ["x"], ["t"])], [out("t", F, 2)],
                    [oh.make_node("Sigmoid", ["x"], ["e"])], [out("e", F, 2)])
    for cond in (True, False):
        check([node], {"c": np.array(cond), "x": RNG.standard_normal((3, 5)).astype(np.float32)}, [("y", F, 2)],
              dyn=("x",))


# ----------------------------------------------------------------------------------------------- Loop
def _body(nodes, extra_inputs, outputs, it="i", cond="cin"):
    return oh.make_graph(nodes, "body", [vi(it, I64, []), vi(cond, B, [])] + extra_inputs, outputs)


def test_loop_trip_count_carried_scan_outputs_outer_scope():
    # acc += x * i (x from the outer scope); scan output: acc after each step
    body = _body([oh.make_node("Cast", ["i"], ["fi"], to=TP.FLOAT), oh.make_node("Mul", ["x", "fi"], ["xi"]),
                  oh.make_node("Add", ["acc", "xi"], ["acc2"]), oh.make_node("Identity", ["cin"], ["cout"]),
                  oh.make_node("Identity", ["acc2"], ["scan"])],
                 [vi("acc", F, [3])], [out("cout", B, 0), out("acc2", F, 1), out("scan", F, 1)])
    node = oh.make_node("Loop", ["M", "", "a0"], ["acc_final", "accs"], body=body)
    check([node], {"x": RNG.standard_normal(3).astype(np.float32), "a0": np.zeros(3, np.float32)},
          [("acc_final", F, 1), ("accs", F, 2)], inits={"M": np.array(5, np.int64)})


@pytest.mark.parametrize("limit", [0.5, 4.0, 100.0])
def test_loop_condition_only(limit, device):
    # while sum(v) < limit: v = v * 2 + 0.1 (data-dependent trip count; scan output has a dynamic length)
    body = _body([oh.make_node("Mul", ["v", "two"], ["v2"]), oh.make_node("Add", ["v2", "tenth"], ["v3"]),
                  oh.make_node("ReduceSum", ["v3"], ["s"], keepdims=0), oh.make_node("Less", ["s", "lim"], ["cout"]),
                  oh.make_node("Identity", ["v3"], ["hist"])],
                 [vi("v", F, [2])], [out("cout", B, 0), out("v3", F, 1), out("hist", F, 1)])
    pre = [oh.make_node("ReduceSum", ["v0"], ["s0"], keepdims=0), oh.make_node("Less", ["s0", "lim"], ["c0"])]
    node = oh.make_node("Loop", ["", "c0", "v0"], ["vf", "hist_all"], body=body)
    check(pre + [node], {"v0": np.array([0.1, 0.2], np.float32)}, [("vf", F, 1), ("hist_all", F, 2)], device=device,
          inits={"two": np.float32(2), "tenth": np.float32(0.1), "lim": np.float32(limit)})


@pytest.mark.parametrize("m", [0, 3, 7])
def test_loop_trip_count_and_condition_dynamic_m(m):
    # runs min(M, first i where x > 20) iterations; M is a graph input
    body = _body([oh.make_node("Add", ["x", "one"], ["x2"]), oh.make_node("Mul", ["x2", "x2"], ["sq"]),
                  oh.make_node("ReduceMax", ["sq"], ["mx"], keepdims=0), oh.make_node("Less", ["mx", "lim"], ["cout"])],
                 [vi("x", F, [2, 2])], [out("cout", B, 0), out("x2", F, 2), out("sq", F, 2)])
    node = oh.make_node("Loop", ["M", "c", "x0"], ["xf", "sqs"], body=body)
    x0 = RNG.standard_normal((2, 2)).astype(np.float32)
    check([node], {"M": np.array(m, np.int64), "c": np.array(True), "x0": x0}, [("xf", F, 2), ("sqs", F, 3)],
          inits={"one": np.float32(1), "lim": np.float32(20)})


def test_nested_loops_with_outer_scope(device):
    # for i in range(3): for j in range(2): acc += w * (i + 1); w comes from the top graph, two scopes up
    inner = _body([oh.make_node("Cast", ["i_outer"], ["fi"], to=TP.FLOAT), oh.make_node("Add", ["fi", "one"], ["f1"]),
                   oh.make_node("Mul", ["w", "f1"], ["wf"]), oh.make_node("Add", ["acc_in", "wf"], ["acc_out"]),
                   oh.make_node("Identity", ["cin_j"], ["cout_j"])],
                  [vi("acc_in", F, [4])], [out("cout_j", B, 0), out("acc_out", F, 1)], it="j", cond="cin_j")
    outer_nodes = [oh.make_node("Identity", ["i"], ["i_outer"]),
                   oh.make_node("Loop", ["two", "", "acc"], ["acc2"], body=inner),
                   oh.make_node("Identity", ["cin"], ["cout"]), oh.make_node("ReduceSum", ["acc2"], ["tot"], keepdims=0)]
    outer_body = _body(outer_nodes, [vi("acc", F, [4])], [out("cout", B, 0), out("acc2", F, 1), out("tot", F, 0)])
    node = oh.make_node("Loop", ["three", "", "a0"], ["af", "tots"], body=outer_body)
    check([node], {"w": RNG.standard_normal(4).astype(np.float32), "a0": np.ones(4, np.float32)},
          [("af", F, 1), ("tots", F, 1)], device=device,
          inits={"two": np.array(2, np.int64), "three": np.array(3, np.int64), "one": np.float32(1)})


def test_if_inside_loop():
    then_g = oh.make_graph([oh.make_node("Add", ["v", "x"], ["t"])], "then", [], [out("t", F, 1)])
    else_g = oh.make_graph([oh.make_node("Sub", ["v", "x"], ["e"])], "else", [], [out("e", F, 1)])
    body = _body([oh.make_node("Mod", ["i", "two"], ["r"]), oh.make_node("Equal", ["r", "zero"], ["even"]),
                  oh.make_node("If", ["even"], ["v2"], then_branch=then_g, else_branch=else_g),
                  oh.make_node("Identity", ["cin"], ["cout"])],
                 [vi("v", F, [3])], [out("cout", B, 0), out("v2", F, 1)])
    node = oh.make_node("Loop", ["M", "", "v0"], ["vf"], body=body)
    check([node], {"x": RNG.standard_normal(3).astype(np.float32), "v0": np.zeros(3, np.float32)}, [("vf", F, 1)],
          inits={"M": np.array(5, np.int64), "two": np.array(2, np.int64), "zero": np.array(0, np.int64)})


def test_loop_with_dynamic_carried_input():
    body = _body([oh.make_node("Mul", ["v", "v"], ["v2"]), oh.make_node("Identity", ["cin"], ["cout"])],
                 [vi("v", F, ["n"])], [out("cout", B, 0), out("v2", F, 1)])
    node = oh.make_node("Loop", ["M", "", "v0"], ["vf"], body=body)
    check([node], {"v0": (RNG.random(5) + 0.5).astype(np.float32)}, [("vf", F, 1)],
          inits={"M": np.array(3, np.int64)}, dyn=("v0",), atol=1e-4)


# ----------------------------------------------------------------------------------------------- Scan
def _scan_body(n_state, n_scan, nodes, state_shapes, scan_shapes, outs):
    ins = [vi(f"s{i}", F, s) for i, s in enumerate(state_shapes)] + \
          [vi(f"x{i}", F, s) for i, s in enumerate(scan_shapes)]
    return oh.make_graph(nodes, "body", ins, outs)


def test_scan_9_cumulative_sum():
    body = _scan_body(1, 1, [oh.make_node("Add", ["s0", "x0"], ["s0o"]), oh.make_node("Identity", ["s0o"], ["y"])],
                      [[2]], [[2]], [out("s0o", F, 1), out("y", F, 1)])
    node = oh.make_node("Scan", ["init", "xs"], ["final", "ys"], body=body, num_scan_inputs=1)
    check([node], {"init": np.zeros(2, np.float32), "xs": RNG.standard_normal((5, 2)).astype(np.float32)},
          [("final", F, 1), ("ys", F, 2)], opset=11)


@pytest.mark.parametrize("in_axes,in_dirs,out_axes,out_dirs", [
    ([1, 0], [0, 1], [0], [0]),
    ([0, 1], [1, 0], [1], [1]),
    ([-1, 0], [0, 0], [-1], [1]),
])
def test_scan_axes_and_directions(in_axes, in_dirs, out_axes, out_dirs, device):
    # x0 scanned along in_axes[0] of a [3, 4] tensor, x1 along in_axes[1] of a [4, 3] tensor: both give 4 steps
    # when the axis has size 4.
    a = RNG.standard_normal((3, 4) if in_axes[0] in (1, -1) else (4, 3)).astype(np.float32)
    b = RNG.standard_normal((4, 3) if in_axes[1] == 0 else (3, 4)).astype(np.float32)
    body = _scan_body(1, 2, [oh.make_node("Mul", ["x0", "x1"], ["p"]), oh.make_node("Add", ["s0", "p"], ["s0o"]),
                             oh.make_node("Identity", ["p"], ["y"])],
                      [[3]], [[3], [3]], [out("s0o", F, 1), out("y", F, 1)])
    node = oh.make_node("Scan", ["init", "a", "b"], ["final", "ys"], body=body, num_scan_inputs=2,
                        scan_input_axes=in_axes, scan_input_directions=in_dirs, scan_output_axes=out_axes,
                        scan_output_directions=out_dirs)
    check([node], {"init": np.ones(3, np.float32), "a": a, "b": b}, [("final", F, 1), ("ys", F, 2)], opset=16,
          device=device)


def test_scan_8_batched():
    body = _scan_body(1, 1, [oh.make_node("Add", ["s0", "x0"], ["s0o"]), oh.make_node("Mul", ["s0o", "x0"], ["y"])],
                      [[2]], [[2]], [out("s0o", F, 1), out("y", F, 1)])
    node = oh.make_node("Scan", ["", "init", "xs"], ["final", "ys"], body=body, num_scan_inputs=1, directions=[1])
    check([node], {"init": RNG.standard_normal((3, 2)).astype(np.float32),
                   "xs": RNG.standard_normal((3, 4, 2)).astype(np.float32)}, [("final", F, 2), ("ys", F, 3)], opset=8)


def test_loop_plan_round_trip_is_identical():
    body = _body([oh.make_node("Mul", ["v", "k"], ["v2"]), oh.make_node("Identity", ["cin"], ["cout"]),
                  oh.make_node("Identity", ["v2"], ["h"])],
                 [vi("v", F, [3])], [out("cout", B, 0), out("v2", F, 1), out("h", F, 1)])
    node = oh.make_node("Loop", ["M", "", "v0"], ["vf", "hs"], body=body)
    graph = oh.make_graph([node], "g", [vi("v0", F, [3])], [out("vf", F, 1), out("hs", F, 2)],
                          [numpy_helper.from_array(np.array(4, np.int64), "M"),
                           numpy_helper.from_array(np.array([1.5, -0.5, 2.0], np.float32), "k")])
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)])
    model.ir_version = 8
    engine = inferrt.build_engine(model, device="cpu")
    feeds = {"v0": RNG.standard_normal(3).astype(np.float32)}
    first = engine.create_execution_context().infer(feeds)
    again = inferrt.Runtime(inferrt.Logger()).deserialize_cuda_engine(engine.serialize())
    second = again.create_execution_context().infer(feeds)
    for k in ("vf", "hs"):
        np.testing.assert_array_equal(first[k], second[k])
    np.testing.assert_allclose(first["hs"], feeds["v0"] * np.array([1.5, -0.5, 2.0]) ** np.arange(1, 5)[:, None],
                               rtol=1e-5)


@pytest.mark.gpu
@pytest.mark.parametrize("cond", [True, False])
def test_fp16_build_keeps_subgraphs_in_their_precision(cond):
    """With BuilderFlag.FP16 the outer graph runs in HALF; bodies run in FLOAT with casts at their boundary."""
    import onnxruntime as ort

    then_g = oh.make_graph([oh.make_node("Mul", ["v", "k"], ["t"])], "then", [], [out("t", F, 1)])
    else_g = oh.make_graph([oh.make_node("Sub", ["v", "k"], ["e"])], "else", [], [out("e", F, 1)])
    body = _body([oh.make_node("If", ["c"], ["v2"], then_branch=then_g, else_branch=else_g),
                  oh.make_node("Identity", ["cin"], ["cout"])],
                 [vi("v", F, [3])], [out("cout", B, 0), out("v2", F, 1)])
    node = oh.make_node("Loop", ["M", "", "v0"], ["vf"], body=body)
    relu = oh.make_node("Relu", ["vf"], ["y"])
    graph = oh.make_graph([node, relu], "g", [vi("c", B, []), vi("v0", F, [3])], [out("y", F, 1)],
                          [numpy_helper.from_array(np.array(3, np.int64), "M"),
                           numpy_helper.from_array(np.array([1.5, -0.5, 2.0], np.float32), "k")])
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)])
    model.ir_version = 8
    feeds = {"c": np.array(cond), "v0": np.array([0.5, 1.0, -2.0], np.float32)}
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(["y"], feeds)[0]
    engine = inferrt.build_engine(model, device="cuda", fp16=True)
    got = engine.create_execution_context().infer(feeds)["y"]
    np.testing.assert_allclose(got, ref, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("flag", [True, False])
def test_if_with_constant_condition_is_inlined(flag):
    node = _if_node([oh.make_node("Relu", ["x"], ["t"])], [out("t", F, 1)],
                    [oh.make_node("Neg", ["x"], ["e"])], [out("e", F, 1)])
    got = check([const("c", np.array(flag)), node], {"x": RNG.standard_normal(5).astype(np.float32)}, [("y", F, 1)])
    assert got["y"].shape == (5,)
    graph = oh.make_graph([const("c", np.array(flag)), node], "g", [vi("x", F, [5])], [out("y", F, 1)])
    model = lowest_ir(oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)]))
    engine = inferrt.build_engine(model, device="cpu")
    assert not any(n.kind == "if" for n in engine.graph.nodes)


def _parse_errors(model):
    logger = inferrt.Logger(inferrt.Logger.ERROR)
    network = inferrt.Builder(logger).create_network(0)
    parser = inferrt.OnnxParser(network, logger)
    ok = parser.parse(model.SerializeToString())
    return ok, " ".join(str(parser.get_error(i)) for i in range(parser.num_errors))


def test_if_branches_with_different_output_counts_are_reported():
    node = _if_node([oh.make_node("Relu", ["x"], ["t"])], [out("t", F, 1)],
                    [oh.make_node("Neg", ["x"], ["e"]), oh.make_node("Abs", ["x"], ["e2"])],
                    [out("e", F, 1), out("e2", F, 1)])
    node.name = "my_if"
    graph = oh.make_graph([node], "g", [vi("c", B, []), vi("x", F, [5])], [out("y", F, 1)])
    ok, msg = _parse_errors(lowest_ir(oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)])))
    assert not ok and "my_if" in msg and "outputs" in msg


def test_endless_loop_is_refused_at_build_time():
    body = _body([oh.make_node("Identity", ["cin"], ["cout"]), oh.make_node("Neg", ["v"], ["v2"])],
                 [vi("v", F, [2])], [out("cout", B, 0), out("v2", F, 1)])
    graph = oh.make_graph([oh.make_node("Loop", ["", "", "v0"], ["vf"], body=body)], "g", [vi("v0", F, [2])],
                          [out("vf", F, 1)])
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)])
    model.ir_version = 8
    with pytest.raises(inferrt.InferrtError, match="Loop_0.*never end"):
        inferrt.build_engine(model, device="cpu")


def test_scan_8_with_short_sequence_lens_is_reported():
    body = _scan_body(1, 1, [oh.make_node("Add", ["s0", "x0"], ["s0o"]), oh.make_node("Identity", ["s0o"], ["y"])],
                      [[2]], [[2]], [out("s0o", F, 1), out("y", F, 1)])
    node = oh.make_node("Scan", ["lens", "init", "xs"], ["final", "ys"], body=body, num_scan_inputs=1, name="scan8")
    graph = oh.make_graph([node], "g", [vi("init", F, [3, 2]), vi("xs", F, [3, 4, 2])],
                          [out("final", F, 2), out("ys", F, 3)],
                          [numpy_helper.from_array(np.array([4, 2, 3], np.int32), "lens")])
    ok, msg = _parse_errors(oh.make_model(graph, opset_imports=[oh.make_opsetid("", 8)]))
    assert not ok and "scan8" in msg and "sequence_lens" in msg
