"""Network API: explicit quantization (IQuantizeLayer / IDequantizeLayer, TensorRT 10)."""
from __future__ import annotations

from ..enums import DataType
from .layer import layer_class
from .network import network_method

def _set_block_shape(self, block_shape) -> bool:
    """TensorRT's setBlockShape: block quantization with one block size per input dimension."""
    self.block_shape = tuple(block_shape)
    return True


def _get_block_shape(self):
    return self.block_shape


_BLOCK = {"set_block_shape": _set_block_shape, "get_block_shape": _get_block_shape}
IQuantizeLayer = layer_class("IQuantizeLayer", "quantize", **_BLOCK)
IDequantizeLayer = layer_class("IDequantizeLayer", "dequantize", **_BLOCK)


@network_method
def add_quantize(self, input, scale, output_type=DataType.INT8):  # noqa: A002 - TensorRT's names
    """q = saturate(round_half_even(input / scale) + zero_point); a zero point may be given with set_input(2)."""
    return self._add("quantize", [input, scale], {"to_type": DataType.parse(output_type)})


@network_method
def add_dequantize(self, input, scale, output_type=DataType.FLOAT):  # noqa: A002
    """out = (input - zero_point) * scale; a zero point may be given with set_input(2)."""
    return self._add("dequantize", [input, scale], {"to_type": DataType.parse(output_type)})
