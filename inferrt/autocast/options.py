"""AutoCast's knobs, named and defaulted as Model Optimizer's ``convert_to_mixed_precision`` names them, checked once.

    low_precision_type    "fp16" | "bf16" (also "float16", "bfloat16")
    nodes_to_exclude      node names or regular expressions (``re.match``, as Model Optimizer) kept in FP32
    op_types_to_exclude   op types kept in FP32
    nodes_to_include      node names or regular expressions forced to low precision (wins over the range and
    op_types_to_include   exclusion rules; never over what the op's schema cannot take)
    data_max              largest |value| a low precision node may read or write (512: the float16 ULP at 512 is 0.5)
    init_max              largest |value| of an initializer a low precision node may read (65504, float16's largest)
    max_depth_of_reduction  largest reduction depth (GEMM K, conv C*kernel, reduced axis) kept low (None: no limit)
    keep_io_types         graph inputs and outputs stay float32 (else they become the low precision type)
    keep_norm_variance    (inferrt) the variance path of decomposed LayerNorm/RMSNorm (x^2 -> ReduceMean -> +eps
                          -> Sqrt) stays FP32: small values underflow float16 there (``norm_variance.py``)
    init_conversion_max_bytes  initializers larger than this are cast by a Cast node at run time instead of being
                          converted in the file (None: every initializer is converted)
    opset                 the output's opset (None: the model's, raised to 13 for fp16 and 22 for bf16)
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import re

from onnx import TensorProto

LOW_TYPES = {"fp16": TensorProto.FLOAT16, "float16": TensorProto.FLOAT16, "bf16": TensorProto.BFLOAT16,
             "bfloat16": TensorProto.BFLOAT16}
SHORT_NAME = {TensorProto.FLOAT16: "fp16", TensorProto.BFLOAT16: "bf16", TensorProto.FLOAT: "fp32"}
#: the opset the low precision type needs for most ops to accept it (Model Optimizer's minimums)
MIN_OPSET = {TensorProto.FLOAT16: 13, TensorProto.BFLOAT16: 22}
DEFAULT_DATA_MAX = 512.0
DEFAULT_INIT_MAX = 65504.0


@dataclasses.dataclass
class AutocastOptions:
    low_precision_type: str = "fp16"
    nodes_to_exclude: list = dataclasses.field(default_factory=list)
    op_types_to_exclude: list = dataclasses.field(default_factory=list)
    nodes_to_include: list = dataclasses.field(default_factory=list)
    op_types_to_include: list = dataclasses.field(default_factory=list)
    data_max: float = DEFAULT_DATA_MAX
    init_max: float = DEFAULT_INIT_MAX
    max_depth_of_reduction: int | None = None
    keep_io_types: bool = False
    keep_norm_variance: bool = True
    init_conversion_max_bytes: int | None = None
    opset: int | None = None

    @property
    def low(self) -> int:
        """The low precision type as a TensorProto elem type."""
        return LOW_TYPES[self.low_precision_type]

    @property
    def low_name(self) -> str:
        return SHORT_NAME[self.low]


def _names(value, what) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    try:
        items = list(value)
    except TypeError:
        raise TypeError(f"{what} must be a list of strings, got {type(value).__name__}") from None
    bad = [v for v in items if not isinstance(v, str)]
    if bad:
        raise TypeError(f"{what} must be a list of strings; {bad[0]!r} is a {type(bad[0]).__name__}")
    return items


def _limit(value, what) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value) or value <= 0:
        raise ValueError(f"{what} must be a positive number (float('inf') turns the check off), got {value!r}")
    return float(value)


def _count(value, what):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{what} must be a positive integer or None, got {value!r}")
    return int(value)


def make_options(low_precision_type="fp16", nodes_to_exclude=None, op_types_to_exclude=None, nodes_to_include=None,
                 op_types_to_include=None, data_max=DEFAULT_DATA_MAX, init_max=DEFAULT_INIT_MAX,
                 max_depth_of_reduction=None, keep_io_types=False, init_conversion_max_bytes=None,
                 opset=None, keep_norm_variance=True) -> AutocastOptions:
    """Check every knob and return them as AutocastOptions; raises TypeError/ValueError naming the knob."""
    key = str(low_precision_type).lower() if isinstance(low_precision_type, str) else low_precision_type
    if key not in LOW_TYPES:
        raise ValueError(f"low_precision_type must be 'fp16' or 'bf16', got {low_precision_type!r}")
    opts = AutocastOptions(
        low_precision_type=SHORT_NAME[LOW_TYPES[key]],
        nodes_to_exclude=_names(nodes_to_exclude, "nodes_to_exclude"),
        op_types_to_exclude=_names(op_types_to_exclude, "op_types_to_exclude"),
        nodes_to_include=_names(nodes_to_include, "nodes_to_include"),
        op_types_to_include=_names(op_types_to_include, "op_types_to_include"),
        data_max=_limit(data_max, "data_max"), init_max=_limit(init_max, "init_max"),
        max_depth_of_reduction=_count(max_depth_of_reduction, "max_depth_of_reduction"),
        keep_io_types=bool(keep_io_types), keep_norm_variance=bool(keep_norm_variance),
        init_conversion_max_bytes=_count(init_conversion_max_bytes, "init_conversion_max_bytes"),
        opset=_count(opset, "opset"))
    return opts


def name_matches(pattern: str, name: str) -> bool:
    """A node name pattern matches: the exact name, or a regular expression matching from the name's start
    (``re.match``, as Model Optimizer; a pattern that is not a valid expression matches only its exact name)."""
    if pattern == name:
        return True
    try:
        return re.match(pattern, name) is not None
    except re.error:
        return False
