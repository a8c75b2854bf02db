"""AutoCast: FP32 ONNX in, mixed FP16 or BF16 ONNX out (TensorRT 11's way to mixed precision, as NVIDIA Model
Optimizer's ``convert_to_mixed_precision``, in the package).

    from inferrt.autocast import autocast
    result = autocast("model.onnx", low_precision_type="fp16", calibration_data="inputs.npz", keep_io_types=True)
    result.save("model.fp16.onnx"); print(result.report.format_text())

The FP32 model runs in onnxruntime on the calibration data; nodes whose values exceed ``data_max``, whose
initializers exceed ``init_max``, that the user excludes, or that their op's schema cannot take in the low type stay
FP32; the rest is converted, with Casts only where precision changes. Command line: ``inferrt autocast``.
"""
from .convert import AutocastResult, autocast, convert_to_mixed_precision
from .report import AutocastReport, NodeReport

__all__ = ["autocast", "convert_to_mixed_precision", "AutocastResult", "AutocastReport", "NodeReport"]
