"""TensorRT's INT8 calibration cache, the text file its calibrators read and write:

    TRT-101600-EntropyCalibration2
    input: 3c010a14
    conv1_output: 3d7e2d8c

The first line names the TensorRT version (major * 10000 + minor * 100 + patch) and the algorithm; each other line
is a tensor name and its scale, the IEEE float32 bits of amax / 127 in big-endian hex. A cache made with another
algorithm is not used (the build calibrates again, as TensorRT does); one from another version is used.
"""
from __future__ import annotations

import math
import struct

from ..enums import CalibrationAlgoType

#: the algorithm's name in the header, as TensorRT writes it
ALGO_NAMES = {
    CalibrationAlgoType.ENTROPY_CALIBRATION_2: "EntropyCalibration2",
    CalibrationAlgoType.ENTROPY_CALIBRATION: "EntropyCalibration",
    CalibrationAlgoType.MINMAX_CALIBRATION: "MinMaxCalibration",
    CalibrationAlgoType.LEGACY_CALIBRATION: "LegacyCalibration",
}
INT8_MAX = 127.0


class CacheError(ValueError):
    """The bytes are not a TensorRT calibration cache (the message says which line and why)."""


def version_number() -> int:
    """TensorRT's version as the header writes it (10.16.0 -> 101600)."""
    from .._version import TENSORRT_API_VERSION

    parts = [int(p) for p in TENSORRT_API_VERSION.split(".")[:3]] + [0, 0]
    return parts[0] * 10000 + parts[1] * 100 + parts[2]


def format_cache(algorithm, amax: dict) -> bytes:
    """The cache text for ranges ``amax`` {tensor: |x| range} measured with ``algorithm``."""
    lines = [f"TRT-{version_number()}-{ALGO_NAMES[CalibrationAlgoType.parse(algorithm)]}"]
    for name, a in amax.items():
        if "\n" in name or ": " in name:
            continue   # not representable in the text format (TensorRT's tensor names never hold these)
        lines.append(f"{name}: {struct.pack('>f', float(a) / INT8_MAX).hex()}")
    return ("\n".join(lines) + "\n").encode()


def parse_cache(data) -> tuple[str, int, dict]:
    """(algorithm name, TensorRT version number, {tensor: amax}) of a cache (bytes, a buffer or str); CacheError
    when malformed."""
    try:
        text = data if isinstance(data, str) else bytes(data).decode()
    except UnicodeDecodeError as e:
        raise CacheError(f"the calibration cache is not text ({e})") from None
    lines = text.splitlines()
    head = lines[0].strip() if lines else ""
    parts = head.split("-")
    if len(parts) != 3 or parts[0] != "TRT" or not parts[1].isdigit() or parts[2] not in ALGO_NAMES.values():
        raise CacheError(f"the first line {head[:80]!r} is not a TensorRT calibration cache header "
                         f"'TRT-<version>-<algorithm>' (algorithms: {', '.join(ALGO_NAMES.values())})")
    amax = {}
    for k, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        name, sep, hexval = line.rpartition(": ")
        try:
            if not sep or len(hexval.strip()) != 8:
                raise ValueError
            scale = struct.unpack(">f", bytes.fromhex(hexval.strip()))[0]
        except ValueError:
            raise CacheError(f"line {k} {line[:80]!r} is not '<tensor>: <8 hex digits>'") from None
        if not math.isfinite(scale) or scale < 0:
            raise CacheError(f"line {k}: tensor {name!r} has the scale {scale}, which is not a finite number >= 0")
        amax[name] = scale * INT8_MAX
    return parts[2], int(parts[1]), amax
