"""trtexec's ``--int8`` and ``--calib``: an INT8 build through TensorRT 10's calibration machinery
(``builder/calibrators.py``, ``builder/calibrate.py``).

- ``--int8 --calib=FILE``: the ranges come from a TensorRT calibration cache (``TRT-<version>-<algorithm>`` header,
  one ``tensor: <hex scale>`` line each): a calibrator of the cache's algorithm hands it to the build and has no
  batches, so a tensor the cache does not cover stays FLOAT (the build names it).
- ``--int8`` alone: trtexec's placeholder ranges, for performance only: every network input gets [-2, 2] and every
  other float tensor [-4, 4] (``ITensor.set_dynamic_range``). The outputs are not accurate and a warning says so.
"""
from __future__ import annotations

from .exec_args import ExecArgError

#: trtexec's placeholder dynamic ranges when --int8 has no --calib: (network inputs, all other tensors)
PLACEHOLDER_RANGES = (2.0, 4.0)


def _cache_calibrator(trt, data: bytes, path: str):
    from ..builder.calibrate_cache import ALGO_NAMES, CacheError, parse_cache

    try:
        algo_name, _, amax = parse_cache(data)
    except CacheError as e:
        raise ExecArgError(f"--calib: {path!r} is not a TensorRT calibration cache: {e}") from None
    algorithm = next(a for a, n in ALGO_NAMES.items() if n == algo_name)
    base = {trt.CalibrationAlgoType.ENTROPY_CALIBRATION_2: trt.IInt8EntropyCalibrator2,
            trt.CalibrationAlgoType.ENTROPY_CALIBRATION: trt.IInt8EntropyCalibrator,
            trt.CalibrationAlgoType.MINMAX_CALIBRATION: trt.IInt8MinMaxCalibrator,
            trt.CalibrationAlgoType.LEGACY_CALIBRATION: trt.IInt8LegacyCalibrator}[algorithm]

    class CacheCalibrator(base):
        """Hands the build the cache file; no batches (trtexec calibrates from a cache only)."""

        def get_batch(self, names):
            return None

        def read_calibration_cache(self):
            return data

    return CacheCalibrator(), len(amax), algo_name


def _float_tensors(trt, network):
    floats = (trt.DataType.FLOAT, trt.DataType.HALF, trt.DataType.BF16)
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        for j in range(layer.num_outputs):
            t = layer.get_output(j)
            if t is not None and t.dtype in floats:
                yield t


def apply_int8(args, trt, network, config, info, warn) -> None:
    """Set up the INT8 build ``--int8`` (and ``--calib``) ask for; ExecArgError for an unreadable cache."""
    if not args.int8:
        return
    config.set_flag(trt.BuilderFlag.INT8)
    if args.calib:
        try:
            with open(args.calib, "rb") as f:
                data = f.read()
        except OSError as e:
            raise ExecArgError(f"--calib: cannot read {args.calib!r}: {e.strerror}") from None
        calibrator, n, algo = _cache_calibrator(trt, data, args.calib)
        config.int8_calibrator = calibrator
        info(f"Calibration cache {args.calib}: {algo}, {n} tensor scale(s)")
        return
    inputs = {network.get_input(i).name for i in range(network.num_inputs)}
    r_in, r_other = PLACEHOLDER_RANGES
    for i in range(network.num_inputs):
        t = network.get_input(i)
        if t.dtype == trt.DataType.FLOAT:
            t.set_dynamic_range(-r_in, r_in)
    for t in _float_tensors(trt, network):
        if t.name not in inputs:
            t.set_dynamic_range(-r_other, r_other)
    warn(f"--int8 without --calib: placeholder dynamic ranges (inputs [-{r_in:g}, {r_in:g}], other tensors "
         f"[-{r_other:g}, {r_other:g}]), as trtexec sets them; the engine's speed is INT8's, its outputs are not "
         f"accurate. Give --calib=<calibration cache> for real ranges")
