"""Top-1 agreement of reduced-precision builds with the FP32 engine, for every precision path inferrt has.

Each path turns the FP32 ONNX model into an engine (or, where noted, a reference evaluator) and returns its logits on
the held-out inputs; ``agreement`` is the fraction of held-out predictions (rows, or rows x positions) whose argmax
matches the FP32 engine's (built with TF32 off, on the same device).

    path             how
    fp16 / bf16      inferrt.autocast (strongly typed ONNX) -> inferrt build (TensorRT 11's way)
    fp16-flag / ...  the FP32 model built with BuilderFlag.FP16 / BF16 (TensorRT 10's way)
    int8-<method>    inferrt.quantize int8 with calibration method max / entropy / percentile / mse -> inferrt build
    fp8              inferrt.quantize fp8 (E4M3, max calibration) -> inferrt build
    int4-rtn / -awq  inferrt.quantize INT4 weight-only (block-wise) -> inferrt build
    int8-flag-<cal>  the FP32 model built with BuilderFlag.INT8 and a TensorRT 10 calibrator (IInt8EntropyCalibrator2
                     "entropy2", IInt8MinMaxCalibrator "minmax") fed the calibration rows

The calibration data is the training split's first rows (never the held-out split).
"""
from __future__ import annotations

import numpy as np

PATHS = ("fp16", "bf16", "fp16-flag", "bf16-flag", "int8-max", "int8-entropy", "int8-percentile", "int8-mse", "fp8",
         "int4-rtn", "int4-awq", "int8-flag-entropy2", "int8-flag-minmax")
#: TensorRT 10 calibrator class per int8-flag path
CALIBRATORS = {"int8-flag-entropy2": "IInt8EntropyCalibrator2", "int8-flag-minmax": "IInt8MinMaxCalibrator"}
#: held-out rows run per engine call (the engines are built for this batch)
BATCH = 64
#: INT4 block size: the models' GEMMs reduce over 32..512 channels, so blocks of 32 fit every one
INT4_BLOCK = 32


def _profile(model, input_name: str, rows: np.ndarray) -> dict:
    shape = (BATCH,) + tuple(rows.shape[1:])
    return {input_name: (shape, shape, shape)}


def has_calibrators() -> bool:
    """Whether this inferrt has TensorRT 10's INT8 calibrators (BuilderFlag.INT8 with ``config.int8_calibrator``)."""
    import inferrt as trt

    return all(hasattr(trt, c) for c in CALIBRATORS.values())


def calibrator(kind: str, rows: np.ndarray, input_name: str):
    """A TensorRT 10 calibrator of class ``kind`` handing out ``rows`` in batches of BATCH (numpy arrays)."""
    import inferrt as trt

    base = getattr(trt, kind)

    class RowsCalibrator(base):
        def __init__(self):
            base.__init__(self)
            self.batches = [np.ascontiguousarray(rows[i:i + BATCH]) for i in range(0, len(rows) - BATCH + 1, BATCH)]

        def get_batch_size(self):
            return BATCH

        def get_batch(self, names):
            if names != [input_name]:
                raise ValueError(f"calibrator asked for {names}, expected [{input_name!r}]")
            return [self.batches.pop(0)] if self.batches else None

        def read_calibration_cache(self):
            return None

        def write_calibration_cache(self, cache):
            return None

    return RowsCalibrator()


def run_engine(model, input_name: str, rows: np.ndarray, device: str, *, fp16=False, bf16=False,
               int8_calibrator=None) -> np.ndarray:
    """Logits of ``model`` (ONNX bytes or ModelProto) built by inferrt on ``device`` (TF32 off) for every row."""
    import inferrt as trt
    from inferrt.api import build_engine

    logger = trt.Logger(trt.Logger.ERROR)
    config = trt.Builder(logger).create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)
    if int8_calibrator is not None:
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = int8_calibrator
    engine = build_engine(model, device=device, fp16=fp16, bf16=bf16, logger=logger, config=config,
                          profiles=_profile(model, input_name, rows))
    ctx = engine.create_execution_context()
    out = []
    for i in range(0, len(rows), BATCH):
        chunk = rows[i:i + BATCH]
        pad = BATCH - len(chunk)
        if pad:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, axis=0)])
        got = np.asarray(ctx.infer({input_name: np.ascontiguousarray(chunk)})["logits"], np.float32)
        out.append(got[:BATCH - pad] if pad else got)
    return np.concatenate(out)


def convert(trained, path: str):
    """The model ``path`` builds (ONNX ModelProto or bytes) and the builder settings it needs:
    (model, {"fp16": ..., "bf16": ..., "int8_calibrator": ...})."""
    model, fp16, bf16 = _convert(trained, path)
    cal = calibrator(CALIBRATORS[path], trained.calib, trained.input_name) if path in CALIBRATORS else None
    return model, {"fp16": fp16, "bf16": bf16, "int8_calibrator": cal}


def _convert(trained, path: str):
    if path in ("fp16", "bf16"):
        from inferrt.autocast import autocast

        r = autocast(trained.onnx, low_precision_type=path, keep_io_types=True,
                     calibration_data={trained.input_name: trained.calib})
        return r.model, False, False
    if path in ("fp16-flag", "bf16-flag"):
        return trained.onnx, path == "fp16-flag", path == "bf16-flag"
    if path in CALIBRATORS:
        return trained.onnx, False, False
    from inferrt.quantize import quantize

    calib = {trained.input_name: trained.calib}
    if path.startswith("int8-"):
        r = quantize(trained.onnx, "int8", path[5:], calibration_data=calib, progress=False)
    elif path == "fp8":
        r = quantize(trained.onnx, "fp8", "max", calibration_data=calib, progress=False)
    elif path in ("int4-rtn", "int4-awq"):
        r = quantize(trained.onnx, "int4_" + path[5:], calibration_data=calib, block_size=INT4_BLOCK,
                     progress=False)
    else:
        raise ValueError(f"unknown precision path {path!r}; the paths are {PATHS}")
    return r.model, False, False


def agreement(logits: np.ndarray, reference: np.ndarray) -> float:
    """Fraction of predictions (argmax over the last axis) equal to the reference's."""
    return float(np.mean(logits.argmax(-1) == reference.argmax(-1)))


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(logits.argmax(-1) == labels))


def measure(trained, paths=PATHS, device: str = "cpu") -> dict:
    """{"fp32": {...}, path: {"agreement", "accuracy"}} for ``trained`` (a TrainedModel) on ``device``."""
    ref = run_engine(trained.onnx, trained.input_name, trained.held_out, device)
    table = {"fp32": {"agreement": 1.0, "accuracy": accuracy(ref, trained.labels)}}
    for path in paths:
        if path in CALIBRATORS and not has_calibrators():
            continue
        model, settings = convert(trained, path)
        got = run_engine(model, trained.input_name, trained.held_out, device, **settings)
        table[path] = {"agreement": agreement(got, ref), "accuracy": accuracy(got, trained.labels)}
    return table
