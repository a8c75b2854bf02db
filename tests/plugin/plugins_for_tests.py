"""Plugins the plugin tests build with (imported by the tests and by their fresh loading subprocesses, which is how
a loading process registers its creators)."""
from __future__ import annotations

import numpy as np
import torch

import inferrt as trt
import inferrt.plugin as trtp


class ScaledPadPlugin(trt.IPluginV3, trt.IPluginV3OneCore, trt.IPluginV3OneBuild, trt.IPluginV3OneRuntime):
    """out = pad(x, last dim + 2 * pad, zeros) * scale: a V3 plugin with its own output shape, fields, tactics and a
    workspace, enqueued through TensorPointer buffers (TensorRT style)."""

    calls: list = []   # every (method, detail) the engine's plugins see, for the tests

    def __init__(self, scale=2.0, pad=1):
        self.plugin_name, self.plugin_version, self.plugin_namespace = "ScaledPad", "1", "tests"
        self.num_outputs = 1
        self.scale, self.pad = float(scale), int(pad)
        self.tactic = None

    def clone(self):
        c = ScaledPadPlugin(self.scale, self.pad)
        c.tactic = self.tactic
        return c

    def get_output_data_types(self, input_types):
        return [input_types[0]]

    def get_output_shapes(self, inputs, shape_inputs, expr_builder):
        dims = trt.DimsExprs(inputs[0])
        last = len(dims) - 1
        dims[last] = expr_builder.operation(trt.DimensionOperation.SUM, inputs[0][last],
                                            expr_builder.constant(2 * self.pad))
        return [dims]

    def supports_format_combination(self, pos, in_out, num_inputs):
        return in_out[pos].desc.type == trt.float32 and in_out[pos].desc.format == trt.TensorFormat.LINEAR

    def get_valid_tactics(self):
        ScaledPadPlugin.calls.append(("get_valid_tactics", None))
        return [7, 3]

    def get_workspace_size(self, inp, out):
        return 64

    def set_tactic(self, tactic):
        self.tactic = tactic
        ScaledPadPlugin.calls.append(("set_tactic", tactic))

    def on_shape_change(self, inp, out):
        ScaledPadPlugin.calls.append(("on_shape_change", inp[0].dims))

    def get_fields_to_serialize(self):
        return trt.PluginFieldCollection([
            trt.PluginField("scale", np.array([self.scale], np.float32), trt.PluginFieldType.FLOAT32),
            trt.PluginField("pad", np.array([self.pad], np.int32), trt.PluginFieldType.INT32)])

    def enqueue(self, input_desc, output_desc, inputs, outputs, workspace, stream):
        assert workspace != 0
        x = trtp.as_torch(inputs[0], input_desc[0])
        y = trtp.as_torch(outputs[0], output_desc[0])
        y.copy_(torch.nn.functional.pad(x, (self.pad, self.pad)) * self.scale)


class ScaledPadCreator(trt.IPluginCreatorV3One):
    def __init__(self):
        self.name, self.plugin_version, self.plugin_namespace = "ScaledPad", "1", "tests"
        self.field_names = trt.PluginFieldCollection([trt.PluginField("scale"), trt.PluginField("pad")])

    def create_plugin(self, name, fc, phase):
        scale = float(fc["scale"].data[0]) if "scale" in fc else 2.0
        pad = int(fc["pad"].data[0]) if "pad" in fc else 1
        return ScaledPadPlugin(scale, pad)


def register_scaled_pad() -> ScaledPadCreator:
    """Register the creator once per process (idempotent)."""
    reg = trt.get_plugin_registry()
    c = reg.get_creator("ScaledPad", "1", "tests")
    if c is None:
        c = ScaledPadCreator()
        assert reg.register_creator(c, "tests")
    return c


# ---------------------------------------------------------------------------------------------- decorator plugin
if "tests::clip_mul" not in trtp.QDP_REGISTRY:
    @trtp.register("tests::clip_mul")
    def _clip_mul_desc(x: trtp.TensorDesc, y: trtp.TensorDesc, limit: float, repeat: int) -> trtp.TensorDesc:
        """out = clip(x * y, -limit, limit), its last dim repeated ``repeat`` times."""
        if x.dtype != y.dtype:
            raise ValueError(f"x ({x.dtype.name}) and y ({y.dtype.name}) must have one type")
        shape = list(x.shape_expr)
        shape[-1] = shape[-1] * repeat
        return trtp.from_shape_expr(shape, x.dtype)

    @trtp.impl("tests::clip_mul")
    def _clip_mul_impl(x: trtp.Tensor, y: trtp.Tensor, limit: float, repeat: int, outputs, stream) -> None:
        out = torch.from_dlpack(outputs[0])
        v = (torch.from_dlpack(x) * torch.from_dlpack(y)).clamp(-limit, limit)
        out.copy_(v.repeat_interleave(1, dim=-1).repeat(*([1] * (v.dim() - 1)), repeat))


class RepeatRowsPlugin(trt.IPluginV3, trt.IPluginV3OneCore, trt.IPluginV3OneBuild, trt.IPluginV3OneRuntime):
    """out = x repeated along dim 0 by the value of its shape input (a 1-element INT32 shape tensor)."""

    def __init__(self):
        self.plugin_name, self.plugin_version, self.plugin_namespace = "RepeatRows", "1", "tests"
        self.num_outputs = 1

    def clone(self):
        return RepeatRowsPlugin()

    def get_output_data_types(self, input_types):
        return [input_types[0]]

    def get_output_shapes(self, inputs, shape_inputs, expr_builder):
        dims = trt.DimsExprs(inputs[0])
        dims[0] = expr_builder.operation(trt.DimensionOperation.PROD, inputs[0][0], shape_inputs[0][0])
        return [dims]

    def enqueue(self, input_desc, output_desc, inputs, outputs, workspace, stream):
        x, y = inputs[0].tensor, outputs[0].tensor
        y.copy_(x.repeat(y.shape[0] // x.shape[0], *([1] * (x.dim() - 1))))


class RepeatRowsCreator(trt.IPluginCreatorV3One):
    def __init__(self):
        self.name, self.plugin_version, self.plugin_namespace = "RepeatRows", "1", "tests"
        self.field_names = trt.PluginFieldCollection()

    def create_plugin(self, name, fc, phase):
        return RepeatRowsPlugin()


def register_repeat_rows() -> None:
    reg = trt.get_plugin_registry()
    if reg.get_creator("RepeatRows", "1", "tests") is None:
        assert reg.register_creator(RepeatRowsCreator(), "tests")
