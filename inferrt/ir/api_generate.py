"""Network API for the generator family (ops/generate.py): ``add_fill`` (TensorRT 10)."""
from __future__ import annotations

from ..enums import DataType, FillOperation
from .layer import layer_class
from .network import network_method


def _is_alpha_beta_int64(self) -> bool:
    return False


IFillLayer = layer_class("IFillLayer", "fill", is_alpha_beta_int64=_is_alpha_beta_int64)


@network_method
def add_fill(self, shape, op, output_type=DataType.FLOAT):
    """A tensor of ``shape`` filled by ``op`` (FillOperation). Inputs via set_input: 0 = shape tensor,
    1 = alpha, 2 = beta. RANDOM_* are reproducible from the layer's ``seed`` (an inferrt extension)."""
    return self._add("fill", [], {"shape": tuple(int(d) for d in shape), "operation": FillOperation.parse(op),
                                  "to_type": DataType.parse(output_type)})
