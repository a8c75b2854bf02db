"""TensorRT 10's legacy IPluginV2DynamicExt through add_plugin_v2: built, run, and recreated from a plan with the
registered IPluginCreator's deserialize_plugin."""
from __future__ import annotations

import struct

import numpy as np
import torch
from helpers import assert_close

import inferrt as trt
import inferrt.plugin as trtp


class AffineV2(trt.IPluginV2DynamicExt):
    """y = a * x + b; (a, b) serialized as two doubles."""

    def __init__(self, a=1.0, b=0.0):
        self.plugin_type, self.plugin_version, self.plugin_namespace = "AffineV2", "1", "tests"
        self.num_outputs = 1
        self.a, self.b = a, b
        self.initialized = False

    def clone(self):
        return AffineV2(self.a, self.b)

    def initialize(self):
        self.initialized = True
        return 0

    def get_output_dimensions(self, output_index, inputs, expr_builder):
        return inputs[0]

    def serialize(self):
        return struct.pack("<dd", self.a, self.b)

    def enqueue(self, input_desc, output_desc, inputs, outputs, workspace, stream):
        assert self.initialized
        x = trtp.as_torch(inputs[0], input_desc[0])
        torch.add(x * self.a, self.b, out=trtp.as_torch(outputs[0], output_desc[0]))


class AffineV2Creator(trt.IPluginCreator):
    def __init__(self):
        self.name, self.plugin_version, self.plugin_namespace = "AffineV2", "1", "tests"
        self.field_names = trt.PluginFieldCollection()

    def create_plugin(self, name, fc):
        return AffineV2(float(fc["a"].data[0]), float(fc["b"].data[0]))

    def deserialize_plugin(self, name, data):
        return AffineV2(*struct.unpack("<dd", data))


def test_v2_plugin_builds_runs_and_deserializes():
    reg = trt.get_plugin_registry()
    if reg.get_creator("AffineV2", "1", "tests") is None:
        assert reg.register_creator(AffineV2Creator(), "tests")
    builder = trt.Builder(trt.Logger())
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, (-1, 5))
    layer = net.add_plugin_v2([x], AffineV2(3.0, -1.0))
    assert layer.type == trt.LayerType.PLUGIN_V2 and layer.plugin.a == 3.0
    net.mark_output(layer.get_output(0))
    engine = trt.build_engine(net, profiles={"x": ((1, 5), (2, 5), (4, 5))})   # loads the plan it built
    xv = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    out = list(engine.create_execution_context().infer({"x": xv}).values())[0]
    assert_close(out, 3.0 * xv.astype(np.float64) - 1.0)
    assert net.add_plugin_v2([x], object()) is None
