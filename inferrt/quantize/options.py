"""The quantizer's knobs, named as Model Optimizer's ONNX PTQ names them where it has them, checked once.

    quantize_mode        "int8" | "fp8" | "int4_rtn" | "int4_awq"
    calibration_method   "max" | "entropy" | "percentile" | "mse" (int8 / fp8 activations; int4 needs none)
    percentile           the percentile of |x| kept by "percentile" (99.99)
    num_bins             histogram bins of |x| for entropy / percentile / mse (2048, as TensorRT)
    smoothquant          migrate activation outliers into the weights of MatMuls with constant weights (int8/fp8)
    smoothquant_alpha    SmoothQuant's migration strength (0.5)
    block_size           INT4 block size along the reduction (input channel) axis (128)
    awq_alpha_grid       points of AWQ-lite's search over the scale exponent in [0, 1] (21: 0, 0.05, ..., 1)
    weights_dq_only      weights stored quantized (INT8/FP8/INT4 initializer + DequantizeLinear) rather than as a
                         float initializer under QuantizeLinear + DequantizeLinear
    nodes_to_exclude     node names or regular expressions (``re.match``) left unquantized
    op_types_to_exclude  op types left unquantized
    opset                the output's opset (None: the model's, raised to 13 for int8, 19 for fp8, 21 for int4)
    device               where calibration runs: "auto" (inferrt's engine on CUDA when torch sees a GPU, else
                         onnxruntime on the CPU), "cuda" or "cpu"
"""
from __future__ import annotations

import dataclasses
import math
import numbers

MODES = ("int8", "fp8", "int4_rtn", "int4_awq")
METHODS = ("max", "entropy", "percentile", "mse")
#: the lowest opset whose Q/DQ carry the mode's types: per-axis INT8 (13), FLOAT8E4M3FN (19), blocked INT4 (21)
MIN_OPSET = {"int8": 13, "fp8": 19, "int4_rtn": 21, "int4_awq": 21}


@dataclasses.dataclass
class QuantizeOptions:
    quantize_mode: str = "int8"
    calibration_method: str = "entropy"
    percentile: float = 99.99
    num_bins: int = 2048
    smoothquant: bool = False
    smoothquant_alpha: float = 0.5
    block_size: int = 128
    awq_alpha_grid: int = 21
    weights_dq_only: bool = True
    nodes_to_exclude: list = dataclasses.field(default_factory=list)
    op_types_to_exclude: list = dataclasses.field(default_factory=list)
    opset: int | None = None
    device: str = "auto"

    @property
    def int4(self) -> bool:
        return self.quantize_mode.startswith("int4")

    def range_key(self) -> dict:
        """The options a calibration cache's ranges depend on (a cache made with other values is refused)."""
        key = {"quantize_mode": self.quantize_mode}
        if not self.int4:
            key["calibration_method"] = self.calibration_method
            if self.calibration_method == "percentile":
                key["percentile"] = self.percentile
            if self.calibration_method != "max":
                key["num_bins"] = self.num_bins
            key["smoothquant_alpha"] = self.smoothquant_alpha if self.smoothquant else None
        if self.quantize_mode == "int4_awq":
            key["block_size"] = self.block_size
            key["awq_alpha_grid"] = self.awq_alpha_grid
        return key


def _names(value, what) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    items = list(value)
    bad = [v for v in items if not isinstance(v, str)]
    if bad:
        raise TypeError(f"{what} must be a list of strings; {bad[0]!r} is a {type(bad[0]).__name__}")
    return items


def _int(value, what, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{what} must be an integer >= {low}, got {value!r}")
    return int(value)


def make_options(quantize_mode="int8", calibration_method=None, *, percentile=99.99, num_bins=2048,
                 smoothquant=False, smoothquant_alpha=0.5, block_size=128, awq_alpha_grid=21, weights_dq_only=True,
                 nodes_to_exclude=None, op_types_to_exclude=None, opset=None, device="auto") -> QuantizeOptions:
    """Check every knob; raises ValueError/TypeError naming it. ``calibration_method`` None: entropy for int8 (as
    TensorRT's IInt8EntropyCalibrator2), max for fp8 (as Model Optimizer)."""
    mode = str(quantize_mode).lower()
    if mode not in MODES:
        raise ValueError(f"quantize_mode must be one of {', '.join(MODES)}, got {quantize_mode!r}")
    if calibration_method is None:
        calibration_method = "max" if mode == "fp8" else "entropy"
    method = str(calibration_method).lower()
    if method not in METHODS:
        raise ValueError(f"calibration_method must be one of {', '.join(METHODS)}, got {calibration_method!r}")
    if isinstance(percentile, bool) or not isinstance(percentile, numbers.Real) or not 50 < percentile <= 100:
        raise ValueError(f"percentile must be a number in (50, 100], got {percentile!r}")
    a = smoothquant_alpha
    if isinstance(a, bool) or not isinstance(a, numbers.Real) or math.isnan(a) or not 0 <= a <= 1:
        raise ValueError(f"smoothquant_alpha must be in [0, 1], got {a!r}")
    if smoothquant and mode.startswith("int4"):
        raise ValueError("smoothquant applies to int8 and fp8 (activations are quantized); int4 is weight-only: "
                         "use quantize_mode='int4_awq' to scale weights by activation magnitudes")
    if device not in ("auto", "cuda", "cpu"):
        raise ValueError(f"device must be 'auto', 'cuda' or 'cpu', got {device!r}")
    return QuantizeOptions(
        quantize_mode=mode, calibration_method=method, percentile=float(percentile),
        num_bins=_int(num_bins, "num_bins", 256), smoothquant=bool(smoothquant), smoothquant_alpha=float(a),
        block_size=_int(block_size, "block_size", 2), awq_alpha_grid=_int(awq_alpha_grid, "awq_alpha_grid", 2),
        weights_dq_only=bool(weights_dq_only), nodes_to_exclude=_names(nodes_to_exclude, "nodes_to_exclude"),
        op_types_to_exclude=_names(op_types_to_exclude, "op_types_to_exclude"),
        opset=None if opset is None else _int(opset, "opset", 1), device=device)
