"""TensorRT 10's INT8 calibrators (``IInt8Calibrator`` and its four kinds), deprecated since TensorRT 10.1 and
removed in 11: subclass one, set it as ``config.int8_calibrator`` with ``BuilderFlag.INT8``, and the build calibrates
the network and inserts Q/DQ layers (``builder/calibrate.py``).

    class MyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            trt.IInt8EntropyCalibrator2.__init__(self)
        def get_batch_size(self):           return 8
        def get_batch(self, names):         return [device pointer or array per name] or None when done
        def read_calibration_cache(self):   return bytes of a cache, or None to calibrate
        def write_calibration_cache(self, cache):   save bytes(cache)

``get_batch`` may return device addresses (ints, read at the calibration profile's opt shapes, else the first
profile's), torch tensors or numpy arrays. The range each kind measures (``get_algorithm``), with the
``inferrt.quantize`` method that computes it:

    IInt8EntropyCalibrator2   ENTROPY_CALIBRATION_2   entropy (KL divergence over a 2048-bin |x| histogram)
    IInt8EntropyCalibrator    ENTROPY_CALIBRATION     entropy (the same method)
    IInt8MinMaxCalibrator     MINMAX_CALIBRATION      max (largest |x|)
    IInt8LegacyCalibrator     LEGACY_CALIBRATION      percentile: the ``get_quantile()`` quantile of |x|, raised to
                                                      at least ``get_regression_cutoff()`` x the largest |x|

The strongly typed way (TensorRT 11): ``inferrt.quantize`` writes a Q/DQ ONNX model, built with
``NetworkDefinitionCreationFlag.STRONGLY_TYPED``.
"""
from __future__ import annotations

from ..enums import CalibrationAlgoType


class IInt8Calibrator:
    """The calibrator interface; ``get_algorithm()`` says which range it measures (ENTROPY_CALIBRATION_2 unless a
    subclass overrides it)."""

    def __init__(self):
        pass

    def get_batch_size(self) -> int:
        """The batch size of the batches ``get_batch`` returns. Explicit-batch networks (all of TensorRT 10's and
        inferrt's) take the batch from the input shapes, so the build only logs it."""
        return 1

    def get_batch(self, names: list):
        """One buffer per name in ``names`` (the network inputs), or None when the data is exhausted."""
        raise NotImplementedError(f"{type(self).__name__}.get_batch(names) is not implemented: return one device "
                                  f"pointer, torch tensor or numpy array per input name, or None when done")

    def read_calibration_cache(self):
        """The bytes of a calibration cache to use instead of calibrating, or None."""
        return None

    def write_calibration_cache(self, cache) -> None:
        """Receives the cache (a memoryview of its bytes) after calibrating."""
        return None

    def get_algorithm(self):
        return CalibrationAlgoType.ENTROPY_CALIBRATION_2


class IInt8EntropyCalibrator2(IInt8Calibrator):
    def get_algorithm(self):
        return CalibrationAlgoType.ENTROPY_CALIBRATION_2


class IInt8EntropyCalibrator(IInt8Calibrator):
    def get_algorithm(self):
        return CalibrationAlgoType.ENTROPY_CALIBRATION


class IInt8MinMaxCalibrator(IInt8Calibrator):
    def get_algorithm(self):
        return CalibrationAlgoType.MINMAX_CALIBRATION


class IInt8LegacyCalibrator(IInt8Calibrator):
    """Percentile calibration: ``get_quantile()`` (in (0, 1]) picks the quantile of |x|; the range is at least
    ``get_regression_cutoff()`` (in [0, 1]) times the largest |x|."""

    def get_algorithm(self):
        return CalibrationAlgoType.LEGACY_CALIBRATION

    def get_quantile(self) -> float:
        return 0.9999

    def get_regression_cutoff(self) -> float:
        return 0.0

    def read_histogram_cache(self, length: int):
        """TensorRT's histogram cache: inferrt keeps no histogram cache (the calibration cache holds the ranges)."""
        return None

    def write_histogram_cache(self, ptr, length: int) -> None:
        return None
