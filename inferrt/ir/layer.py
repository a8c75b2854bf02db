"""ILayer and the per-type layer classes (IConvolutionLayer, ...), generated from the op schemas.

Each layer type's TensorRT properties come from its OpDef's attribute schema; setting one validates the value,
and the network re-infers shapes lazily. Classes add the few derived properties TensorRT has (``padding_nd``).
"""
from __future__ import annotations

from ..enums import DataType, LayerType
from ..ops import get_op
from ..ops.base import AttrValueError
from .kinds import Kind
from .type_rules import strong_typing_refusal
from .weights import Weights, as_array

LAYER_CLASSES: dict[str, type] = {}


class ILayer:
    """A layer of the network: typed attributes, inputs, outputs, precision controls."""

    KIND = ""
    metadata = ""  # TensorRT's ILayer.metadata (set per layer); declared here so it reads as an ILayer member

    def __init__(self, network, kind: str, inputs, name: str, attrs=None):
        self._network = network
        self._op = get_op(kind)
        self._kind = kind
        self._inputs = list(inputs)
        self._attrs = self._op.default_attrs()
        if attrs:
            for k, v in attrs.items():
                self._attrs[k] = self._op.convert_attr(k, v)
        self._name = name
        self._outputs = []
        self._precision = None
        self._output_types: dict[int, DataType] = {}
        self.metadata = ""
        self._error = None

    # ------------------------------------------------------------------ identity
    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value):
        old, self._name = self._name, str(value)
        if self._error:  # an inference error logged under the old name now names the layer as the user knows it
            self._error = self._error.replace(f"layer {old!r}", f"layer {self._name!r}", 1)

    @property
    def type(self) -> LayerType:
        return self._op.layer_type

    def __repr__(self):
        return f"{type(self).__name__}({self._name!r})"

    def __dir__(self):
        # TensorRT's members only (tools such as Polygraphy list a layer's attributes with dir())
        return [a for a in super().__dir__() if not a.startswith("_") or a.startswith("__")]

    # ------------------------------------------------------------------ connectivity
    @property
    def num_inputs(self) -> int:
        return len(self._inputs)

    @property
    def num_outputs(self) -> int:
        return len(self._outputs)

    def get_input(self, index: int):
        if not 0 <= index < len(self._inputs):
            return None
        return self._inputs[index]

    def get_output(self, index: int):
        if not 0 <= index < len(self._outputs):
            return None
        return self._outputs[index]

    def set_input(self, index: int, tensor) -> None:
        limit = max(len(self._op.inputs), len(self._inputs))
        if self._kind == Kind.CONCATENATION:
            limit = len(self._inputs)
        if not 0 <= index < max(limit, 1):
            self._network._log_error(f"layer {self._name!r}: set_input index {index} is out of range "
                                     f"(this layer takes inputs {list(self._op.inputs)})")
            return
        while len(self._inputs) <= index:
            self._inputs.append(None)
        old = self._inputs[index]
        self._inputs[index] = tensor
        self._network._rewire(self, old, tensor)

    # ------------------------------------------------------------------ precision
    @property
    def precision(self) -> DataType:
        return self._precision if self._precision is not None else DataType.FLOAT

    @precision.setter
    def precision(self, dt):
        refused = strong_typing_refusal(self, "the precision")
        if refused:
            self._network._log_error(refused)
            return
        self._precision = DataType.parse(dt)

    @property
    def precision_is_set(self) -> bool:
        return self._precision is not None

    def reset_precision(self) -> None:
        self._precision = None

    def set_output_type(self, index: int, dtype) -> None:
        refused = strong_typing_refusal(self, f"the type of output {int(index)}")
        if refused:
            self._network._log_error(refused)
            return
        self._output_types[int(index)] = DataType.parse(dtype)
        self._network._invalidate(self)

    def get_output_type(self, index: int) -> DataType:
        if index in self._output_types:
            return self._output_types[index]
        out = self.get_output(index)
        return out.dtype if out is not None else DataType.FLOAT

    def output_type_is_set(self, index: int) -> bool:
        return index in self._output_types

    def reset_output_type(self, index: int) -> None:
        self._output_types.pop(index, None)

    # ------------------------------------------------------------------ attributes
    def _get_attr(self, key):
        v = self._attrs[key]
        if isinstance(v, tuple):
            from .weights import Dims

            return Dims(v)
        return v

    def _set_attr(self, key, value):
        try:
            self._attrs[key] = self._op.convert_attr(key, value)
        except AttrValueError as e:
            raise AttrValueError(f"layer {self._name!r}: {e}") from None
        except (TypeError, ValueError) as e:
            raise TypeError(f"layer {self._name!r}: bad value for {key}: {e}") from None
        self._network._invalidate(self)


def _attr_property(key):
    return property(lambda self: self._get_attr(key), lambda self, v: self._set_attr(key, v),
                    doc=f"Attribute ``{key}`` of the layer.")


def _weights_property(key):
    def get(self):
        arr = self._attrs.get(key)
        return Weights(arr) if arr is not None else Weights()

    def set_(self, value):
        self._attrs[key] = as_array(value)
        self._network._invalidate(self)

    return property(get, set_, doc=f"Weights ``{key}``.")


def layer_class(name: str, kind: str, **extra):
    """Create (once) the TensorRT-named layer class for ``kind`` with one property per attribute."""
    op = get_op(kind)
    ns = {"KIND": kind, "__doc__": f"TensorRT's {name} (op kind ``{kind}``)."}
    for key, (atype, _) in op.attrs.items():
        ns[key] = _weights_property(key) if atype.name == "array" else _attr_property(key)
    ns.update(extra)
    cls = type(name, (ILayer,), ns)
    LAYER_CLASSES[kind] = cls
    return cls


def _padding_nd():
    def get(self):
        from .weights import Dims

        return Dims(self._attrs["pre_padding"])

    def set_(self, v):
        self._set_attr("pre_padding", v)
        self._set_attr("post_padding", v)

    return property(get, set_, doc="Symmetric padding (sets pre_padding and post_padding).")


def _softmax_axes():
    def get(self):
        v = self._attrs["axes"]
        if v is None:
            shape = self.get_input(0).shape
            return 1 << max(len(shape) - 3, 0)
        return v

    return property(get, lambda self, v: self._set_attr("axes", v))


def _concat_axis():
    def get(self):
        v = self._attrs["axis"]
        if v is None:
            return max(len(self.get_input(0).shape) - 3, 0)
        return v

    return property(get, lambda self, v: self._set_attr("axis", v))


IActivationLayer = layer_class("IActivationLayer", "activation")
IParametricReLULayer = layer_class("IParametricReLULayer", "parametric_relu")
IElementWiseLayer = layer_class("IElementWiseLayer", "elementwise")
IUnaryLayer = layer_class("IUnaryLayer", "unary")
IConvolutionLayer = layer_class("IConvolutionLayer", "convolution", padding_nd=_padding_nd())
IDeconvolutionLayer = layer_class("IDeconvolutionLayer", "deconvolution", padding_nd=_padding_nd())
IPoolingLayer = layer_class("IPoolingLayer", "pooling", padding_nd=_padding_nd())
IMatrixMultiplyLayer = layer_class("IMatrixMultiplyLayer", "matrix_multiply")
IConstantLayer = layer_class("IConstantLayer", "constant")
IIdentityLayer = layer_class("IIdentityLayer", "identity")
ICastLayer = layer_class("ICastLayer", "cast")
IShapeLayer = layer_class("IShapeLayer", "shape")
IShuffleLayer = layer_class("IShuffleLayer", "shuffle")
IConcatenationLayer = layer_class("IConcatenationLayer", "concatenation", axis=_concat_axis())
ISliceLayer = layer_class("ISliceLayer", "slice")
IReduceLayer = layer_class("IReduceLayer", "reduce")
ISoftMaxLayer = layer_class("ISoftMaxLayer", "softmax", axes=_softmax_axes())
