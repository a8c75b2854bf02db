"""An IPluginV3 written with PyTorch ops (TensorRT's Python plugin interface), built into a network, serialized and
run; its creator is registered so that a loading process can recreate it from the plan.

    python examples/plugins/torch_plugin.py
"""
from __future__ import annotations

import numpy as np
import torch

import inferrt as trt
import inferrt.plugin as trtp


class SoftClipPlugin(trt.IPluginV3, trt.IPluginV3OneCore, trt.IPluginV3OneBuild, trt.IPluginV3OneRuntime):
    """y = limit * tanh(x / limit), same shape and type as x."""

    def __init__(self, limit: float = 3.0):
        self.plugin_name, self.plugin_version, self.plugin_namespace = "SoftClip", "1", "example"
        self.num_outputs = 1
        self.limit = float(limit)

    def clone(self):
        return SoftClipPlugin(self.limit)

    def get_output_data_types(self, input_types):
        return [input_types[0]]

    def get_output_shapes(self, inputs, shape_inputs, expr_builder):
        return [inputs[0]]

    def supports_format_combination(self, pos, in_out, num_inputs):
        return in_out[pos].desc.type in (trt.float32, trt.float16) and in_out[pos].desc.type == in_out[0].desc.type

    def get_fields_to_serialize(self):
        return trt.PluginFieldCollection([trt.PluginField("limit", np.array([self.limit], np.float32))])

    def enqueue(self, input_desc, output_desc, inputs, outputs, workspace, stream):
        # TensorRT style: addresses plus descriptors, wrapped as tensors (no copy); on the GPU the work goes on
        # the engine's stream, which is PyTorch's current stream here
        x = trtp.as_torch(inputs[0], input_desc[0])
        y = trtp.as_torch(outputs[0], output_desc[0])
        torch.mul(torch.tanh(x / self.limit), self.limit, out=y)


class SoftClipCreator(trt.IPluginCreatorV3One):
    def __init__(self):
        self.name, self.plugin_version, self.plugin_namespace = "SoftClip", "1", "example"
        self.field_names = trt.PluginFieldCollection([trt.PluginField("limit")])

    def create_plugin(self, name, fc, phase):
        return SoftClipPlugin(float(fc["limit"].data[0]) if "limit" in fc else 3.0)


def register():
    reg = trt.get_plugin_registry()
    if reg.get_creator("SoftClip", "1", "example") is None:
        reg.register_creator(SoftClipCreator(), "example")


def main():
    register()
    builder = trt.Builder(trt.Logger())
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, (-1, 16))
    clip = net.add_plugin_v3([x], [], SoftClipPlugin(2.0))
    net.mark_output(clip.get_output(0))
    engine = trt.build_engine(net, profiles={"x": ((1, 16), (4, 16), (32, 16))})
    engine = trt.load_engine(bytes(engine.serialize()))   # recreated from the registered creator
    xv = np.random.default_rng(0).standard_normal((5, 16)).astype(np.float32) * 4
    out = list(engine.create_execution_context().infer({"x": xv}).values())[0]
    err = float(np.abs(np.asarray(out) - 2.0 * np.tanh(xv / 2.0)).max())
    print(f"SoftClip plugin: max error {err:.2e}")
    assert err < 1e-5


if __name__ == "__main__":
    main()
