"""Post-training quantization to explicit Q/DQ ONNX (TensorRT 11's way to INT8/FP8/INT4, as NVIDIA Model
Optimizer's ONNX PTQ, in the package).

    from inferrt.quantize import quantize
    result = quantize("model.onnx", "int8", calibration_method="entropy", calibration_data="inputs.npz",
                      calibration_cache="model.calib.json")
    result.save("model.int8.onnx"); print(result.report.format_text())

Modes: ``int8`` (per-channel weights, per-tensor activations), ``fp8`` (E4M3, per tensor, scale = amax/448),
``int4_rtn`` / ``int4_awq`` (weight-only, blocks of 128 along the input channels, round-to-nearest or AWQ-lite).
Calibration (max, entropy, percentile, mse) runs in inferrt's own engine on CUDA when torch sees a GPU, else in
onnxruntime on the CPU, with a progress bar. Q/DQ goes where TensorRT fuses it (``placement.py``). Command line:
``inferrt quantize``.
"""
from .options import METHODS, MODES, QuantizeOptions

_LAZY = {"quantize": "quantize_model", "QuantizeResult": "quantize_model", "QuantizeReport": "report",
         "CalibrationCache": "cache"}


def __getattr__(name):
    """numpy, onnx and torch load with the first use of the quantizer, not with the command line's start-up."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["quantize", "QuantizeResult", "QuantizeReport", "QuantizeOptions", "CalibrationCache", "MODES",
           "METHODS"]
