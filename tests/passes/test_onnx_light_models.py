"""The pipeline on the ONNX package's light model-zoo graphs: every pass keeps the IR valid and every layer name
(debug_passes checks both), and the expected fusions happen. (Their outputs are checked end to end, with the
pipeline on, by tests/onnx/test_conformance.py.)"""
import collections
import os

import pytest

import inferrt as trt
from tests.passes.nets import optimize

onnx = pytest.importorskip("onnx")
LIGHT = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")


def _optimized(name):
    path = os.path.join(LIGHT, f"light_{name}.onnx")
    if not os.path.exists(path):
        pytest.skip(f"{path} is not shipped with this onnx version")
    model = onnx.load(path)
    logger = trt.Logger(trt.Logger.INTERNAL_ERROR)
    net = trt.Builder(logger).create_network(0)
    assert trt.OnnxParser(net, logger).parse(model.SerializeToString())
    g = optimize(net)
    ops = collections.Counter(n.op_type for n in model.graph.node)
    return ops, collections.Counter(n.kind for n in g.nodes if n.kind != "constant")


@pytest.mark.parametrize("name", ["resnet50", "vgg19", "squeezenet", "inception_v1"])
def test_one_layer_per_convolution_and_no_standalone_activations(name):
    ops, kinds = _optimized(name)
    if name != "inception_v1":   # there, 1x1 convolutions reading one input merge horizontally
        assert kinds["fused_conv"] + kinds["convolution"] == ops["Conv"]
    else:
        assert kinds["fused_conv"] < ops["Conv"] and kinds["slice"] > 0
    assert kinds["activation"] == 0 and kinds["elementwise"] == 0 and kinds["scale"] == 0, kinds
    assert kinds["fused_conv"] > 0
