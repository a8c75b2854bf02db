"""TensorRT's enumerations, with TensorRT's names and member names.

Every enum is an ``IntEnum`` so values compare, hash and serialize cheaply; plans store
members by *name* (never by number) so reordering here never corrupts an old plan.
"""
from __future__ import annotations

import enum


class TrtEnum(enum.IntEnum):
    """IntEnum whose ``repr`` reads like TensorRT's (``ActivationType.RELU``)."""

    def __repr__(self) -> str:  # pragma: no cover - cosmetic
        return f"{type(self).__name__}.{self.name}"

    __str__ = __repr__

    def __eq__(self, other):
        # as TensorRT's enums: members of two different enumerations never compare equal (ActivationType.RELU is
        # not LayerType.CONVOLUTION, though both are 0), so dict and ``in`` lookups keyed by one enum are not
        # matched by another; a member still equals its plain integer value
        if isinstance(other, enum.Enum) and type(other) is not type(self):
            return False
        return int.__eq__(self, other)

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = int.__hash__

    @classmethod
    def parse(cls, value):
        """Accept a member, its name (any case) or its integer value; raise a clear error otherwise."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            try:
                return cls[value.upper()]
            except KeyError:
                pass
        elif isinstance(value, int) and not isinstance(value, bool):
            try:
                return cls(value)
            except ValueError:
                pass
        names = ", ".join(m.name for m in cls)
        raise ValueError(f"{value!r} is not a {cls.__name__}; expected one of: {names}")


def make_enum(name: str, members: str, start: int = 0, base: type = None) -> type:
    """A TensorRT-style enum ``name`` whose members (space-separated names) count up from ``start``; other packages
    define their TensorRT enums with it (plugin/)."""
    return (base or TrtEnum)(name, [(m, i + start) for i, m in enumerate(members.split())])


class _TypeEnum(TrtEnum):
    """DataType's base: as TensorRT's DataType, a member is not equal to a plain integer (DataType.HALF != 1), so a
    table keyed by another library's integer type codes (ONNX's TensorProto: 1 is FLOAT) never matches it. It still
    converts with ``int()`` and orders like its value."""

    def __eq__(self, other):
        if type(other) is not type(self):
            return False if isinstance(other, (int, enum.Enum)) else NotImplemented
        return int.__eq__(self, other)

    __hash__ = int.__hash__


#: TensorRT's members keep TensorRT's values (FP8 is E4M3FN, FP4 is E2M1, E8M0 is the MX scale type); UINT4 and
#: FP8_E5M2 are inferrt's own (ONNX's UINT4 and FLOAT8E5M2), numbered after them. How each is held in memory:
#: ``inferrt/dtypes.py``.
DataType = make_enum("DataType", "FLOAT HALF INT8 INT32 BOOL UINT8 FP8 BF16 INT64 INT4 FP4 E8M0 UINT4 FP8_E5M2",
                 base=_TypeEnum)
#: bytes per element by member name (FP8_E5M2 and UINT4 are inferrt's own members, for ONNX's types)
_ITEMSIZE = {"FLOAT": 4, "HALF": 2, "INT8": 1, "INT32": 4, "BOOL": 1, "UINT8": 1, "FP8": 1, "BF16": 2, "INT64": 8,
             "INT4": 0.5, "FP4": 0.5, "E8M0": 1, "FP8_E5M2": 1, "UINT4": 0.5}
DataType.itemsize = property(lambda self: _ITEMSIZE[self.name],
                             doc="Bytes per element, as TensorRT's DataType.itemsize (0.5 for the 4-bit INT4 and FP4)")
LayerType = make_enum(
    "LayerType",
    "CONVOLUTION GRID_SAMPLE NMS ACTIVATION POOLING LRN SCALE SOFTMAX DECONVOLUTION CONCATENATION "
    "ELEMENTWISE PLUGIN UNARY PADDING SHUFFLE REDUCE TOPK GATHER MATRIX_MULTIPLY RAGGED_SOFTMAX CONSTANT "
    "IDENTITY CAST PLUGIN_V2 SLICE SHAPE PARAMETRIC_RELU RESIZE TRIP_LIMIT RECURRENCE ITERATOR LOOP_OUTPUT "
    "SELECT ASSERTION FILL QUANTIZE DEQUANTIZE CONDITION CONDITIONAL_INPUT CONDITIONAL_OUTPUT SCATTER "
    "EINSUM ONE_HOT NON_ZERO REVERSE_SEQUENCE NORMALIZATION PLUGIN_V3 SQUEEZE UNSQUEEZE CUMULATIVE "
    "DYNAMIC_QUANTIZE ATTENTION_INPUT ATTENTION_OUTPUT ROTARY_EMBEDDING KV_CACHE_UPDATE MOE DIST_COLLECTIVE "
    # inferrt's own layer types (fused layers and ONNX-only operators); TensorRT code never sees them.
    "FUSED POINTWISE ATTENTION GENERIC_OP",
)
ActivationType = make_enum(
    "ActivationType",
    "RELU SIGMOID TANH LEAKY_RELU ELU SELU SOFTSIGN SOFTPLUS CLIP HARD_SIGMOID SCALED_TANH THRESHOLDED_RELU "
    "GELU_ERF GELU_TANH",
)
ElementWiseOperation = make_enum(
    "ElementWiseOperation", "SUM PROD MAX MIN SUB DIV POW FLOOR_DIV AND OR XOR EQUAL GREATER LESS"
)
UnaryOperation = make_enum(
    "UnaryOperation",
    "EXP LOG SQRT RECIP ABS NEG SIN COS TAN SINH COSH ASIN ACOS ATAN ASINH ACOSH ATANH CEIL FLOOR ERF NOT "
    "SIGN ROUND ISINF ISNAN",
)
ReduceOperation = make_enum("ReduceOperation", "SUM PROD MAX MIN AVG NONE")
PoolingType = make_enum("PoolingType", "MAX AVERAGE MAX_AVERAGE_BLEND")
ScaleMode = make_enum("ScaleMode", "UNIFORM CHANNEL ELEMENTWISE")
PaddingMode = make_enum("PaddingMode", "EXPLICIT_ROUND_DOWN EXPLICIT_ROUND_UP SAME_UPPER SAME_LOWER")
InterpolationMode = make_enum("InterpolationMode", "NEAREST LINEAR CUBIC")
ResizeMode = InterpolationMode
ResizeCoordinateTransformation = make_enum("ResizeCoordinateTransformation", "ALIGN_CORNERS ASYMMETRIC HALF_PIXEL")
ResizeSelector = make_enum("ResizeSelector", "FORMULA UPPER")
ResizeRoundMode = make_enum("ResizeRoundMode", "HALF_UP HALF_DOWN FLOOR CEIL")
MatrixOperation = make_enum("MatrixOperation", "NONE TRANSPOSE VECTOR")
TopKOperation = make_enum("TopKOperation", "MAX MIN")
GatherMode = make_enum("GatherMode", "DEFAULT ELEMENT ND")
ScatterMode = make_enum("ScatterMode", "ELEMENT ND")
SampleMode = make_enum("SampleMode", "STRICT_BOUNDS WRAP CLAMP FILL REFLECT")
FillOperation = make_enum("FillOperation", "LINSPACE RANDOM_UNIFORM RANDOM_NORMAL")
LoopOutput = make_enum("LoopOutput", "LAST_VALUE CONCATENATE REVERSE")
TripLimit = make_enum("TripLimit", "COUNT WHILE")
BoundingBoxFormat = make_enum("BoundingBoxFormat", "CORNER_PAIRS CENTER_SIZES")
CumulativeOperation = make_enum("CumulativeOperation", "SUM")
TensorFormat = make_enum(
    "TensorFormat", "LINEAR CHW2 HWC8 CHW4 CHW16 CHW32 DHWC8 CDHW32 HWC DLA_LINEAR DLA_HWC4 HWC16 DHWC"
)
TensorIOMode = make_enum("TensorIOMode", "NONE INPUT OUTPUT")
TensorLocation = make_enum("TensorLocation", "DEVICE HOST")
MemoryPoolType = make_enum(
    "MemoryPoolType",
    "WORKSPACE DLA_MANAGED_SRAM DLA_LOCAL_DRAM DLA_GLOBAL_DRAM TACTIC_DRAM TACTIC_SHARED_MEMORY",
)
SeekPosition = make_enum("SeekPosition", "SET CUR END")
LayerInformationFormat = make_enum("LayerInformationFormat", "ONELINE JSON")
ProfilingVerbosity = make_enum("ProfilingVerbosity", "LAYER_NAMES_ONLY NONE DETAILED")
BuilderFlag = make_enum(
    "BuilderFlag",
    "FP16 INT8 DEBUG GPU_FALLBACK REFIT DISABLE_TIMING_CACHE TF32 SPARSE_WEIGHTS SAFETY_SCOPE "
    "OBEY_PRECISION_CONSTRAINTS PREFER_PRECISION_CONSTRAINTS DIRECT_IO REJECT_EMPTY_ALGORITHMS "
    "VERSION_COMPATIBLE EXCLUDE_LEAN_RUNTIME FP8 ERROR_ON_TIMING_CACHE_MISS BF16 DISABLE_COMPILATION_CACHE "
    "STRIP_PLAN WEIGHTLESS REFIT_IDENTICAL WEIGHT_STREAMING INT4 REFIT_INDIVIDUAL STRICT_NANS MONITOR_MEMORY "
    "FP4 EDITABLE_TIMING_CACHE DISTRIBUTIVE_INDEPENDENCE",
)
NetworkDefinitionCreationFlag = make_enum(
    "NetworkDefinitionCreationFlag", "EXPLICIT_BATCH STRONGLY_TYPED PREFER_AOT_PYTHON_PLUGINS PREFER_JIT_PYTHON_PLUGINS"
)
DeviceType = make_enum("DeviceType", "GPU DLA")
EngineCapability = make_enum("EngineCapability", "STANDARD SAFETY DLA_STANDALONE")
HardwareCompatibilityLevel = make_enum("HardwareCompatibilityLevel", "NONE AMPERE_PLUS SAME_COMPUTE_CAPABILITY")
TacticSource = make_enum("TacticSource", "CUBLAS CUBLAS_LT CUDNN EDGE_MASK_CONVOLUTIONS JIT_CONVOLUTIONS")
PreviewFeature = make_enum(
    "PreviewFeature", "PROFILE_SHARING_0806 ALIASED_PLUGIN_IO_10_03 RUNTIME_ACTIVATION_RESIZE_10_10 MULTIDEVICE_RUNTIME_10_16"
)
ExecutionContextAllocationStrategy = make_enum("ExecutionContextAllocationStrategy", "STATIC ON_PROFILE_CHANGE USER_MANAGED")
ErrorCode = make_enum(
    "ErrorCode",
    "SUCCESS UNSPECIFIED_ERROR INTERNAL_ERROR INVALID_ARGUMENT INVALID_CONFIG FAILED_ALLOCATION "
    "FAILED_INITIALIZATION FAILED_EXECUTION FAILED_COMPUTATION INVALID_STATE UNSUPPORTED_STATE",
)
ErrorCodeTRT = ErrorCode
QuantizationFlag = make_enum("QuantizationFlag", "CALIBRATE_BEFORE_FUSION")
SerializationFlag = make_enum("SerializationFlag", "EXCLUDE_WEIGHTS EXCLUDE_LEAN_RUNTIME INCLUDE_REFIT")
WeightsRole = make_enum("WeightsRole", "KERNEL BIAS SHIFT SCALE CONSTANT ANY")
TilingOptimizationLevel = make_enum("TilingOptimizationLevel", "NONE FAST MODERATE FULL")
OnnxParserFlag = make_enum(
    "OnnxParserFlag",
    "NATIVE_INSTANCENORM ENABLE_UINT8_AND_ASYMMETRIC_QUANTIZATION_DLA REPORT_CAPABILITY_DLA "
    "ENABLE_PLUGIN_OVERRIDE ADJUST_FOR_DLA",
)
ParserErrorCode = make_enum(
    "ErrorCode",
    "SUCCESS INTERNAL_ERROR MEM_ALLOC_FAILED MODEL_DESERIALIZE_FAILED INVALID_VALUE INVALID_GRAPH INVALID_NODE "
    "UNSUPPORTED_GRAPH UNSUPPORTED_NODE UNSUPPORTED_NODE_ATTR UNSUPPORTED_NODE_INPUT UNSUPPORTED_NODE_DATATYPE "
    "UNSUPPORTED_NODE_DYNAMIC UNSUPPORTED_NODE_SHAPE REFIT_FAILED",
)
CalibrationAlgoType = make_enum(
    "CalibrationAlgoType", "LEGACY_CALIBRATION ENTROPY_CALIBRATION ENTROPY_CALIBRATION_2 MINMAX_CALIBRATION"
)
AttentionNormalizationOp = make_enum("AttentionNormalizationOp", "NONE SOFTMAX")

# ``from inferrt.enums import *`` (how inferrt exposes TensorRT's enums at module level) gives the enums only, not the
# helpers that define them
__all__ = [n for n, v in list(globals().items())
           if isinstance(v, type) and issubclass(v, TrtEnum) and v is not TrtEnum and not n.startswith("_")]
