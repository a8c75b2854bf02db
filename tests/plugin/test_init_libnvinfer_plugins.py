"""init_libnvinfer_plugins: TensorRT's call before parsing; inferrt has no plugin library to register."""
from __future__ import annotations

import pytest

import inferrt as trt
from tests.helpers import CaptureLogger, lowest_ir


def test_returns_true_and_says_what_it_did():
    logger = CaptureLogger()
    assert trt.init_libnvinfer_plugins(logger, "") is True
    assert trt.init_libnvinfer_plugins(logger, "my_ns") is True
    (s0, m0), (s1, m1) = logger.messages
    assert s0 == s1 == trt.Logger.INFO
    assert "default namespace" in m0 and "no plugin library" in m0 and "'my_ns'" in m1
    assert trt.init_libnvinfer_plugins(None, "") is True


@pytest.mark.parametrize("args, what", [((object(), ""), "logger must be an ILogger"),
                                        ((None, 3), "namespace must be a str")])
def test_bad_arguments_are_named(args, what):
    with pytest.raises(TypeError, match=what):
        trt.init_libnvinfer_plugins(*args)


def test_the_onnx_parser_works_after_it():
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4])],
                          [helper.make_tensor("s", TensorProto.FLOAT, [2], [1.0, 2.0]),
                           helper.make_tensor("b", TensorProto.FLOAT, [2], [0.0, 1.0])])
    model = lowest_ir(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    logger = trt.Logger(trt.Logger.ERROR)
    assert trt.init_libnvinfer_plugins(logger, "")
    builder = trt.Builder(logger)
    network = builder.create_network()
    parser = trt.OnnxParser(network, logger)
    assert parser.parse(model.SerializeToString()), [str(parser.get_error(i)) for i in range(parser.num_errors)]
    assert network.num_outputs == 1
