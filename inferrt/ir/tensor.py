"""ITensor: a named value of the network."""
from __future__ import annotations

from ..enums import DataType, TensorFormat, TensorLocation
from .weights import Dims


class ITensor:
    """A tensor of an INetworkDefinition. Shape and dtype of layer outputs are inferred (``-1`` = dynamic)."""

    def __init__(self, network, name: str, producer=None, index: int = 0):
        self._network = network
        self._name = name
        self._producer = producer  # (ILayer) or None for network inputs
        self._index = index
        self._input_shape = None  # network inputs only
        self._input_dtype = None
        self._dynamic_range = None
        self.location = TensorLocation.DEVICE
        self.allowed_formats = 1 << TensorFormat.LINEAR
        self._dim_names: dict[int, str] = {}

    # ------------------------------------------------------------------ identity
    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str):
        self._network._rename_tensor(self, str(value))

    def __repr__(self):
        return f"ITensor({self._name!r}, shape={self.shape}, dtype={self.dtype.name})"

    # ------------------------------------------------------------------ spec
    @property
    def shape(self) -> Dims:
        if self._producer is None:
            return Dims(self._input_shape)
        spec = self._network._spec(self)
        return Dims(spec.shape) if spec.shape is not None else Dims(())

    @shape.setter
    def shape(self, value):
        if self._producer is not None:
            raise AttributeError(f"tensor {self._name!r} is a layer output; only network inputs have a settable shape")
        self._input_shape = tuple(int(d) for d in value)
        self._network._invalidate(tensor=self)

    @property
    def dtype(self) -> DataType:
        if self._producer is None:
            return self._input_dtype
        return self._network._spec(self).dtype

    @dtype.setter
    def dtype(self, value):
        value = DataType.parse(value)
        if self._producer is None:
            self._input_dtype = value
            self._network._invalidate(tensor=self)
        else:
            self._producer.set_output_type(self._index, value)
            self._network._invalidate(self._producer)

    def _value(self):
        return None if self._producer is None else self._network._spec(self).value

    # ------------------------------------------------------------------ flags
    @property
    def is_network_input(self) -> bool:
        return self._producer is None and self in self._network._inputs

    @property
    def is_network_output(self) -> bool:
        return self in self._network._outputs

    @property
    def is_shape_tensor(self) -> bool:
        return self._network._is_shape_tensor(self)

    @property
    def is_execution_tensor(self) -> bool:
        return not self.is_shape_tensor or self.is_network_output

    @property
    def broadcast_across_batch(self) -> bool:
        return False

    # ------------------------------------------------------------------ INT8 dynamic range (deprecated in TRT 10.1)
    @property
    def dynamic_range(self):
        return self._dynamic_range

    def set_dynamic_range(self, min: float, max: float) -> bool:  # noqa: A002 - TensorRT's parameter names
        if not min <= max:
            return False
        self._dynamic_range = (float(min), float(max))
        return True

    def reset_dynamic_range(self) -> None:
        self._dynamic_range = None

    def set_dimension_name(self, index: int, name: str) -> None:
        self._dim_names[int(index)] = str(name)

    def get_dimension_name(self, index: int):
        return self._dim_names.get(int(index))
