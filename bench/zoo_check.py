"""The model zoo's checks for one (model, exporter): export once, build and compare at every batch.

    python -m bench.zoo_check --model resnet50 --exporter dynamo --device cuda --batches 1,64,dyn --json row.json

The model is exported once with a dynamic batch dimension (cached under ``--onnx-dir``) and the same file serves
every build: a static batch ``b`` is a profile with min = opt = max = b; ``dyn`` is ``--dyn-profile`` run at
``--dyn-batch``. For each batch:

- FP32: an engine built with BuilderFlag.TF32 cleared must match onnxruntime (CPU) on the same file and inputs
  within ``FP32_REL_L2`` relative L2 per output.
- FP16 (CUDA only; the CPU runs every layer in FLOAT, so there is nothing to compare there): an engine built with
  BuilderFlag.FP16 is compared with the PyTorch model in float64 on the same inputs, next to eager PyTorch FP16
  (``module.half()``) on the same inputs; the engine's relative L2 error may be at most ``FP16_RATIO`` times eager
  FP16's, and the engine's output must be finite wherever the float64 reference is finite.

Each engine runs twice through ``context.infer`` (with CUDA graphs on, the first call captures and the second
replays); both results are checked. Rows are written as JSON (see ``check``'s docstring) for bench/zoo.py.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import sys
import time
import traceback
import warnings

import numpy as np

#: FP32 (TF32 cleared) engine against onnxruntime, relative L2 per output
FP32_REL_L2 = 1e-4
#: FP16 engine error against float64 PyTorch, at most this times eager PyTorch FP16's error on the same inputs
FP16_RATIO = 1.5
#: the batch dimension's bounds in the exported file
EXPORT_MAX_BATCH = 1024


def rel_l2(actual, expected) -> float:
    """||actual - expected|| / ||expected|| in float64 (the same definition as tests/helpers.py)."""
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), np.finfo(np.float64).tiny))


@contextlib.contextmanager
def _no_mha_fastpath():
    """PyTorch's fused MultiheadAttention fast path (taken in eval mode without grad) exports as an op the ONNX
    exporters do not know; the plain path computes the same function."""
    import torch

    prev = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(prev)


def export(zm, exporter: str, path: str, example_batch: int = 2) -> str:
    """Export ``zm`` (a bench.zoo_models.ZooModel) to ``path`` with a dynamic batch dimension, with torch's
    ``dynamo`` (``torch.onnx.export(dynamo=True)``) or ``torchscript`` (``dynamo=False``, opset 17) exporter."""
    import torch

    feeds = zm.make_inputs(example_batch, 0)
    args = tuple(torch.from_numpy(feeds[n]) for n in zm.input_names)
    tmp = f"{path}.part{os.getpid()}"
    with torch.no_grad(), _no_mha_fastpath(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # the torchscript exporter's "legacy" notices
        if exporter == "torchscript":
            axes = {n: {0: "batch"} for n in zm.input_names + zm.output_names}
            torch.onnx.export(zm.module, args, tmp, input_names=zm.input_names, output_names=zm.output_names,
                              dynamic_axes=axes, opset_version=17, dynamo=False)
        elif exporter == "dynamo":
            batch = torch.export.Dim("batch", min=1, max=EXPORT_MAX_BATCH)
            prog = torch.onnx.export(zm.module, args, input_names=zm.input_names, output_names=zm.output_names,
                                     dynamic_shapes=(({0: batch},) * len(args),),  # forward(*args)
                                     dynamo=True, external_data=False)
            prog.save(tmp, external_data=False)
        else:
            raise ValueError(f"unknown exporter {exporter!r}: use dynamo or torchscript")
    os.replace(tmp, path)
    return path


def _batch_specs(batches: list[str], dyn_profile: tuple, dyn_batch: int) -> list[tuple[str, tuple, int]]:
    """(label, (min, opt, max) batch, batch run) per requested batch."""
    out = []
    for b in batches:
        if b == "dyn":
            lo, opt, hi = dyn_profile
            if not lo <= dyn_batch <= hi:
                raise ValueError(f"--dyn-batch {dyn_batch} is outside --dyn-profile {lo},{opt},{hi}")
            out.append((f"dyn{lo}-{opt}-{hi}@{dyn_batch}", (lo, opt, hi), dyn_batch))
        else:
            n = int(b)
            out.append((str(n), (n, n, n), n))
    return out


#: one timing cache for every build of this process (a job: one model, its exporters, batches and precisions), as
#: trtexec --timingCacheFile would share it: the second exporter's layers of the same shapes are not timed again
_TIMING_CACHE: list = []


def _build(onnx_path, zm, feeds, prof, device, fp16, calibration, opt_level=None):
    import inferrt

    logger = inferrt.Logger(inferrt.Logger.WARNING)
    config = inferrt.Builder(logger).create_builder_config()
    config.clear_flag(inferrt.BuilderFlag.TF32)
    if not _TIMING_CACHE:
        _TIMING_CACHE.append(config.create_timing_cache(b""))
    config.set_timing_cache(_TIMING_CACHE[0], ignore_mismatch=False)
    if opt_level is not None:
        config.builder_optimization_level = opt_level
    if fp16:
        config.set_flag(inferrt.BuilderFlag.FP16)
        config.calibration_data = calibration
    lo, opt, hi = prof
    profiles = {n: ((lo,) + feeds[n].shape[1:], (opt,) + feeds[n].shape[1:], (hi,) + feeds[n].shape[1:])
                for n in zm.input_names}
    return inferrt.build_engine(onnx_path, profiles=profiles, device=device, config=config, logger=logger)


def _run_twice(engine, feeds) -> list[dict[str, np.ndarray]]:
    """Outputs of two calls of one context (with CUDA graphs: capture, then replay), as float64-able numpy."""
    ctx = engine.create_execution_context()
    return [{k: np.array(v) for k, v in ctx.infer(feeds).items()} for _ in range(2)]


def _torch_outputs(module, feeds, names, device, dtype):
    import torch

    args = []
    for n in names:
        t = torch.from_numpy(feeds[n]).to(device)
        args.append(t.to(dtype) if t.is_floating_point() else t)
    with torch.no_grad():
        outs = module(*args)
    if device == "cuda":
        torch.cuda.synchronize()
    return [o.detach().double().cpu().numpy() for o in outs]


def check(name: str, exporter: str, device: str, batches: list[str], dyn_profile=(1, 8, 64), dyn_batch: int = 7,
          fp16: bool = True, onnx_dir: str = ".", threads: int | None = None, log=print, opt_level=None,
          on_row=None) -> list[dict]:
    """Rows for (``name``, ``exporter``), one per batch: ``model, exporter, batch, device, fp32_rel_l2`` (worst
    output, both runs), ``fp32_outputs`` ({output: rel L2}), ``fp16_rel_l2``, ``eager_fp16_rel_l2``, ``fp16_ratio``,
    ``fp16_finite``, ``fp16_note`` (why FP16 was not checked), ``passed``, ``error``, and timings in seconds.
    ``opt_level``: the builder optimization level (None: the builder's default); ``on_row(rows)`` is called after
    each row, so a job stopped part way keeps the rows it finished."""
    import onnxruntime as ort
    import torch

    from bench.zoo_models import make

    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    zm = make(name)
    os.makedirs(onnx_dir, exist_ok=True)
    path = os.path.join(onnx_dir, f"{name}.{exporter}.onnx")
    if os.path.exists(path):
        log(f"reusing {path}")
    else:
        export(zm, exporter, path)
    export_s = time.perf_counter() - t0
    log(f"exported {name} with {exporter} in {export_s:.1f} s ({os.path.getsize(path) / 1e6:.1f} MB)")
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    out_names = [o.name for o in sess.get_outputs()]
    do_fp16 = fp16 and device == "cuda"
    fp16_note = "" if do_fp16 else ("FP16 not requested (--no-fp16)" if not fp16 else
                                    "FP16 not checked on the CPU: inferrt runs every layer in FLOAT there")
    if do_fp16:
        ref64 = copy.deepcopy(zm.module).double().to(device)
        eager16 = copy.deepcopy(zm.module).half().to(device)
    big = max(int(b) if b != "dyn" else max(dyn_profile[2], dyn_batch) for b in batches)
    all_feeds = zm.make_inputs(max(big, dyn_batch), 1)
    calib_all = zm.make_inputs(max(big, dyn_batch), 2)
    rows = []
    for label, prof, run_batch in _batch_specs(batches, tuple(dyn_profile), dyn_batch):
        feeds = {k: v[:run_batch] for k, v in all_feeds.items()}
        row = {"model": name, "exporter": exporter, "batch": label, "device": device, "export_s": round(export_s, 1),
               "fp32_rel_l2": None, "fp32_outputs": {}, "fp16_rel_l2": None, "eager_fp16_rel_l2": None,
               "fp16_ratio": None, "fp16_finite": None, "fp16_note": fp16_note, "passed": False, "error": ""}
        try:
            t = time.perf_counter()
            ref = dict(zip(out_names, sess.run(out_names, feeds)))
            row["ort_s"] = round(time.perf_counter() - t, 1)
            t = time.perf_counter()
            engine = _build(path, zm, feeds, prof, device, False, None, opt_level)
            row["build_fp32_s"] = round(time.perf_counter() - t, 1)
            runs = _run_twice(engine, feeds)
            del engine
            for o in out_names:
                row["fp32_outputs"][o] = max(rel_l2(r[o], ref[o]) for r in runs)
            row["fp32_rel_l2"] = max(row["fp32_outputs"].values())
            ok = row["fp32_rel_l2"] <= FP32_REL_L2
            log(f"{name} {exporter} batch {label}: FP32 rel L2 vs onnxruntime {row['fp32_rel_l2']:.2e}")
            if do_fp16:
                ok = _check_fp16(row, zm, path, feeds, prof, device, ref64, eager16, calib_all, log,
                                 opt_level=opt_level) and ok
            row["passed"] = bool(ok)
        except Exception as e:  # noqa: BLE001 - one failing batch is a failing row; the next batch still runs
            row["error"] = f"{type(e).__name__}: {e}"[:2000]
            log(traceback.format_exc())
        rows.append(row)
        if on_row is not None:
            on_row(rows)
        if device == "cuda":
            torch.cuda.empty_cache()
    return rows


def _check_fp16(row, zm, path, feeds, prof, device, ref64, eager16, calib_all, log, eager_dtype=None,
                opt_level=None) -> bool:
    """Build the FP16 engine at ``prof``, run it on ``feeds`` and fill ``row``'s FP16 fields; True if it passes.
    ``ref64``/``eager16``: the model in float64 and in ``eager_dtype`` (float16 unless given) on ``device``."""
    import torch

    t = time.perf_counter()
    calibration = [{k: v[:prof[1]] for k, v in calib_all.items()}]
    engine = _build(path, zm, feeds, prof, device, True, calibration, opt_level)
    row["build_fp16_s"] = round(time.perf_counter() - t, 1)
    runs = _run_twice(engine, feeds)
    del engine
    ref = _torch_outputs(ref64, feeds, zm.input_names, device, torch.float64)
    eager = _torch_outputs(eager16, feeds, zm.input_names, device, eager_dtype or torch.float16)
    errs, eager_errs, ratios, finite = {}, {}, [], True
    for o, r, e in zip(zm.output_names, ref, eager):
        errs[o] = max(rel_l2(run[o], r) for run in runs)
        eager_errs[o] = rel_l2(e, r)
        if not np.isfinite(eager_errs[o]):   # eager FP16 overflowed: any finite engine result is the better one
            eager_errs[o] = float("inf")
            row["fp16_note"] = (row.get("fp16_note") or "") + f"eager FP16's {o} is not finite. "
        fin = np.isfinite(r)
        finite = finite and all(bool(np.isfinite(run[o][fin]).all()) for run in runs)
        ratios.append(errs[o] / eager_errs[o] if eager_errs[o] > 0 else (0.0 if errs[o] == 0 else float("inf")))
    worst = int(np.argmax(ratios))
    o = zm.output_names[worst]
    row.update(fp16_rel_l2=errs[o], eager_fp16_rel_l2=eager_errs[o], fp16_ratio=ratios[worst], fp16_finite=finite)
    log(f"  FP16 rel L2 vs float64 {errs[o]:.3e}, eager FP16 {eager_errs[o]:.3e}, ratio {ratios[worst]:.2f}, "
        f"finite {finite}")
    return finite and ratios[worst] <= FP16_RATIO


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--exporter", required=True, choices=["dynamo", "torchscript"])
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--batches", default="1,64,dyn")
    ap.add_argument("--dyn-profile", default="1,8,64")
    ap.add_argument("--dyn-batch", type=int, default=7)
    ap.add_argument("--fp16", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--onnx-dir", default=".")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--opt-level", type=int, default=None, help="builder optimization level (default: builder's)")
    ap.add_argument("--json", required=True, help="where to write the rows (rewritten after each row)")
    a = ap.parse_args(argv)
    dyn = tuple(int(x) for x in a.dyn_profile.split(","))
    if len(dyn) != 3:
        ap.error("--dyn-profile takes min,opt,max")
    def write(rows):
        with open(a.json + ".tmp", "w") as f:
            json.dump(rows, f, indent=1)
        os.replace(a.json + ".tmp", a.json)

    rows = check(a.model, a.exporter, a.device, a.batches.split(","), dyn, a.dyn_batch, a.fp16, a.onnx_dir,
                 a.threads, log=lambda s: print(s, flush=True), opt_level=a.opt_level, on_row=write)
    write(rows)
    return 0 if all(r["passed"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
