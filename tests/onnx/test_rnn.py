"""ONNX RNN / GRU / LSTM importers against onnxruntime: directions, sequence_lens, initial states, activations,
clip, layout=1, linear_before_reset, input_forget, peepholes, opset variants."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP, helper as oh, numpy_helper

import inferrt
from tests.helpers import lowest_ir

RNG = np.random.default_rng(7)
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def run_both(node, feeds: dict, inits: dict, n_out: int, opset: int, reference=True, device="cpu"):
    """Build a one-node model; return (inferrt outputs, onnxruntime outputs) as lists."""
    import onnxruntime as ort

    ins = [oh.make_tensor_value_info(k, TP.INT32 if v.dtype == np.int32 else TP.FLOAT, list(v.shape))
           for k, v in feeds.items()]
    names = [o for o in node.output[:n_out] if o]
    graph = oh.make_graph([node], "g", ins, [], [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", opset)])
    model.ir_version = 8
    x, h = feeds["X"], [a.i for a in node.attribute if a.name == "hidden_size"] or [inits["R"].shape[2]]
    layout = ([a.i for a in node.attribute if a.name == "layout"] or [0])[0]
    nd, (t, b) = inits["W"].shape[0], (x.shape[:2] if layout == 0 else x.shape[1::-1])
    shapes = [(t, nd, b, h[0]), (nd, b, h[0]), (nd, b, h[0])] if layout == 0 else \
        [(b, t, nd, h[0]), (b, nd, h[0]), (b, nd, h[0])]
    model.graph.output.extend(oh.make_tensor_value_info(n, TP.FLOAT, list(shp)) for n, shp in zip(names, shapes))
    onnx.checker.check_model(model)
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(names, feeds) \
        if reference else None
    builder = inferrt.Builder(inferrt.Logger(inferrt.Logger.WARNING))
    config = builder.create_builder_config()
    config.clear_flag(inferrt.BuilderFlag.TF32)  # IEEE float32 on the GPU: compared with onnxruntime at 1e-4
    engine = inferrt.build_engine(model, device=device, config=config)
    got = engine.create_execution_context().infer(feeds)
    return [got[n] for n in names], ref


def make_case(mode, direction="forward", t=5, b=3, i=4, h=6, seq=False, init_h=False, init_c=False, peep=False,
              bias=True, layout=0, **attrs):
    nd = 2 if direction == "bidirectional" else 1
    g = GATES[mode]
    x = RNG.standard_normal((t, b, i) if layout == 0 else (b, t, i)).astype(np.float32)
    inits = {"W": (RNG.standard_normal((nd, g * h, i)) * 0.5).astype(np.float32),
             "R": (RNG.standard_normal((nd, g * h, h)) * 0.5).astype(np.float32)}
    names = ["X", "W", "R", "", "", "", "", ""]
    feeds = {"X": x}
    if bias:
        inits["B"] = (RNG.standard_normal((nd, 2 * g * h)) * 0.3).astype(np.float32)
        names[3] = "B"
    if seq:
        feeds["seq"] = RNG.integers(1, t + 1, size=b).astype(np.int32)
        feeds["seq"][0] = t
        names[4] = "seq"
    hshape = (nd, b, h) if layout == 0 else (b, nd, h)
    if init_h:
        feeds["h0"] = RNG.standard_normal(hshape).astype(np.float32)
        names[5] = "h0"
    if init_c:
        feeds["c0"] = RNG.standard_normal(hshape).astype(np.float32)
        names[6] = "c0"
    if peep:
        inits["P"] = (RNG.standard_normal((nd, 3 * h)) * 0.3).astype(np.float32)
        names[7] = "P"
    while names and names[-1] == "":
        names.pop()
    n_out = 3 if mode == "LSTM" else 2
    if layout:
        attrs["layout"] = layout
    node = oh.make_node(mode, names, ["Y", "Y_h", "Y_c"][:n_out], direction=direction, hidden_size=h, **attrs)
    return node, feeds, inits, n_out


def check(mode, opset=14, rtol=1e-4, atol=1e-5, device="cpu", **kw):
    node, feeds, inits, n_out = make_case(mode, **kw)
    got, ref = run_both(node, feeds, inits, n_out, opset, device=device)
    for name, g, r in zip(("Y", "Y_h", "Y_c"), got, ref):
        assert g.shape == r.shape, f"{mode} {name}: shape {g.shape} != onnxruntime {r.shape}"
        np.testing.assert_allclose(g, r, rtol=rtol, atol=atol, err_msg=f"{mode} {name} {kw}")


@pytest.mark.parametrize("mode", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_directions(mode, direction, device):
    check(mode, direction=direction, device=device)


@pytest.mark.parametrize("mode", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("direction", ["forward", "bidirectional"])
def test_sequence_lens_and_initial_states(mode, direction):
    check(mode, direction=direction, seq=True, init_h=True, init_c=mode == "LSTM")


@pytest.mark.parametrize("mode", ["RNN", "GRU", "LSTM"])
def test_layout_1(mode):
    """onnxruntime has no layout=1: compare with its layout=0 result on transposed inputs."""
    node, feeds, inits, n_out = make_case(mode, direction="bidirectional", layout=1, init_h=True,
                                          init_c=mode == "LSTM", seq=True)
    got, _ = run_both(node, feeds, inits, n_out, 14, reference=False)
    node0 = oh.make_node(mode, list(node.input), list(node.output), direction="bidirectional", hidden_size=6)
    feeds0 = {k: (v.transpose(1, 0, 2) if k != "seq" else v) for k, v in feeds.items()}
    _, ref = run_both(node0, feeds0, inits, n_out, 14)
    np.testing.assert_allclose(got[0], ref[0].transpose(2, 0, 1, 3), rtol=1e-4, atol=1e-5)
    for g, r in zip(got[1:], ref[1:]):
        np.testing.assert_allclose(g, r.transpose(1, 0, 2), rtol=1e-4, atol=1e-5)


def test_no_bias():
    check("GRU", bias=False)


@pytest.mark.parametrize("lbr", [0, 1])
def test_gru_linear_before_reset(lbr):
    check("GRU", direction="bidirectional", linear_before_reset=lbr, init_h=True)


def test_lstm_peepholes_and_clip():
    check("LSTM", direction="bidirectional", peep=True, init_h=True, init_c=True, clip=0.7)


def test_lstm_input_forget():
    check("LSTM", input_forget=1, init_c=True)


ACTIVATION_SETS = {
    "RNN": [(["Relu"], {}), (["Sigmoid"], {}), (["LeakyRelu"], {"activation_alpha": [0.2]}),
            (["HardSigmoid"], {"activation_alpha": [0.3], "activation_beta": [0.4]}),
            (["Softsign"], {}), (["Softplus"], {}), (["Affine"], {"activation_alpha": [0.5], "activation_beta": [0.1]}),
            (["ScaledTanh"], {"activation_alpha": [1.5], "activation_beta": [0.7]}),
            (["ThresholdedRelu"], {"activation_alpha": [0.1]}), (["Elu"], {"activation_alpha": [0.9]})],
    "GRU": [(["Sigmoid", "Relu"], {}), (["HardSigmoid", "Tanh"], {"activation_alpha": [0.25],
                                                                  "activation_beta": [0.45]})],
    "LSTM": [(["Sigmoid", "Relu", "Tanh"], {}), (["HardSigmoid", "Tanh", "Softsign"], {}),
             (["Sigmoid", "LeakyRelu", "Elu"], {"activation_alpha": [0.3, 0.8]})],
}


@pytest.mark.parametrize("mode,acts,params", [(m, a, p) for m, lst in ACTIVATION_SETS.items() for a, p in lst],
                         ids=lambda v: v if isinstance(v, str) else "-".join(v) if isinstance(v, list) else "")
def test_activation_sets(mode, acts, params):
    check(mode, activations=acts, **params)


def test_bidirectional_distinct_activations():
    check("RNN", direction="bidirectional", activations=["Tanh", "Relu"])


@pytest.mark.parametrize("mode,opset", [("RNN", 7), ("GRU", 7), ("LSTM", 7), ("RNN", 22), ("GRU", 22), ("LSTM", 22)])
def test_opset_versions(mode, opset):
    check(mode, opset=opset, init_h=True)


def test_missing_hidden_size_taken_from_r():
    node, feeds, inits, n_out = make_case("GRU")
    _, ref = run_both(node, feeds, inits, n_out, 14)
    del node.attribute[[a.name for a in node.attribute].index("hidden_size")]
    got, _ = run_both(node, feeds, inits, n_out, 14, reference=False)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-5)


def test_bad_activation_is_reported():
    node, feeds, inits, n_out = make_case("RNN", activations=["Swish"])
    graph = oh.make_graph([node], "g", [oh.make_tensor_value_info("X", TP.FLOAT, list(feeds["X"].shape))],
                          [oh.make_tensor_value_info("Y", TP.FLOAT, [5, 1, 3, 6])],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = lowest_ir(oh.make_model(graph, opset_imports=[oh.make_opsetid("", 14)]))
    logger = inferrt.Logger(inferrt.Logger.ERROR)
    network = inferrt.Builder(logger).create_network(0)
    parser = inferrt.OnnxParser(network, logger)
    assert not parser.parse(model.SerializeToString())
    msg = " ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
    assert "Swish" in msg and "unsupported activation" in msg


@pytest.mark.gpu
@pytest.mark.parametrize("mode", ["GRU", "LSTM"])
def test_fp16_build_on_gpu(mode):
    node, feeds, inits, n_out = make_case(mode, direction="bidirectional", init_h=True, seq=True)
    _, ref = run_both(node, feeds, inits, n_out, 14)
    names = list(node.output[:n_out])
    graph = oh.make_graph([node], "g", [oh.make_tensor_value_info(k, TP.INT32 if v.dtype == np.int32 else TP.FLOAT,
                                                                  list(v.shape)) for k, v in feeds.items()],
                          [oh.make_tensor_value_info(n, TP.FLOAT, list(r.shape)) for n, r in zip(names, ref)],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 14)])
    model.ir_version = 8
    got = inferrt.build_engine(model, device="cuda", fp16=True).create_execution_context().infer(feeds)
    for n, r in zip(names, ref):
        np.testing.assert_allclose(got[n], r, rtol=2e-2, atol=2e-2, err_msg=n)
