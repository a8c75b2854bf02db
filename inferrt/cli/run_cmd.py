"""``inferrt run MODEL.onnx``: Polygraphy's ``run`` on inferrt. Runs the model in inferrt and in a reference
(onnxruntime, or inferrt in another configuration) on the same generated or loaded inputs, prints per-output error
statistics and PASSED / FAILED lines, and exits 1 when an output is over tolerance (2 on a usage or build error).

    inferrt run model.onnx                                     # inferrt (default device) vs onnxruntime
    inferrt run model.onnx --fp16 --reference inferrt          # FP16 vs FP32 inferrt
    inferrt run model.onnx --device cuda --reference inferrt --reference-device cpu
    inferrt run model.onnx --mark-all --atol 1e-4              # name the first layer that diverges
"""
from __future__ import annotations

import shlex
import time

from .tool_args import (ExecArgError, add_input_args, fail, parse_shape_spec, parse_tolerances, parse_val_ranges,
                        resolve, say, warn)


#: with --mark-all, how many diverging intermediate tensors are reported in full
MAX_INTERMEDIATES_SHOWN = 10


def add_run_parser(sub) -> None:
    p = sub.add_parser("run", allow_abbrev=False, help="Polygraphy's run: compare inferrt with onnxruntime or with "
                                                       "another inferrt configuration")
    p.add_argument("model", help="ONNX model")
    g = p.add_argument_group("inferrt runner (the one tested)")
    g.add_argument("--device", default=None, help="cpu, cuda or auto (default)")
    g.add_argument("--cpu", action="store_true", help="same as --device cpu")
    g.add_argument("--fp16", action="store_true", help="allow FP16 layers (GPU)")
    g.add_argument("--bf16", action="store_true", help="allow BF16 layers (GPU)")
    g.add_argument("--tf32", action="store_true", help="allow TF32 for FLOAT layers (GPU; off by default here)")
    g.add_argument("--opt-level", type=int, choices=range(0, 6), metavar="0-5", default=None,
                   help="builder optimization level")
    g = p.add_argument_group("reference runner")
    g.add_argument("--reference", choices=("onnxrt", "inferrt"), default="onnxrt",
                   help="onnxrt (default): onnxruntime; inferrt: inferrt in FP32 without TF32")
    g.add_argument("--onnxrt-providers", default="CPUExecutionProvider",
                   help="onnxruntime execution providers, comma-separated (default CPUExecutionProvider)")
    g.add_argument("--reference-device", default=None,
                   help="with --reference inferrt: its device (default: the tested runner's)")
    g.add_argument("--reference-opt-level", type=int, choices=range(0, 6), metavar="0-5", default=None,
                   help="with --reference inferrt: its builder optimization level")
    g = add_input_args(p, "inputs from a .json (Polygraphy's layout, any number of iterations) or .npz file, "
                          "instead of generated data")
    g.add_argument("--save-inputs", help="write the inputs used to this .json / .npz file")
    g = p.add_argument_group("comparison")
    g.add_argument("--atol", nargs="+", default=["1e-5"], metavar="TOL",
                   help="absolute tolerance: a number and/or output:number entries (default 1e-5)")
    g.add_argument("--rtol", nargs="+", default=["1e-5"], metavar="TOL",
                   help="relative tolerance: a number and/or output:number entries (default 1e-5)")
    g.add_argument("--check-error-stat", choices=("elemwise", "max", "mean", "median"), default="elemwise",
                   help="elemwise (default): every element within atol or rtol; else that statistic of the errors")
    g.add_argument("--error-hist", action="store_true", help="print a histogram of each output's absolute error")
    g.add_argument("--mark-all", action="store_true",
                   help="mark every intermediate tensor as an output in both runners and name the first layer, in "
                        "topological order, whose outputs diverge")
    g.add_argument("--validate", action="store_true",
                   help="also fail when any runner's output holds NaN or inf (Polygraphy's --validate)")
    g.add_argument("--save-outputs", help="write both runners' outputs to this .json (Polygraphy's RunResults) or "
                                          ".npz file")
    p.add_argument("--verbose", action="store_true", help="print inferrt's build log")


def _check(args) -> None:
    if args.iterations < 1:
        raise ExecArgError("--iterations must be at least 1")
    if args.reference != "inferrt":
        for flag, on in (("--reference-device", args.reference_device),
                         ("--reference-opt-level", args.reference_opt_level is not None)):
            if on:
                raise ExecArgError(f"{flag} configures the inferrt reference; add --reference inferrt or drop it")
    if args.load_inputs:
        for flag, on in (("--input-shapes", args.input_shapes), ("--val-range", args.val_range),
                         ("--iterations", args.iterations != 1)):
            if on:
                raise ExecArgError(f"{flag} shapes generated data and --load-inputs loads it; drop one of them")
    args.atol_spec = parse_tolerances("--atol", args.atol)
    args.rtol_spec = parse_tolerances("--rtol", args.rtol)
    args.range_spec = parse_val_ranges(args.val_range)
    args.shape_spec = parse_shape_spec("--input-shapes", args.input_shapes)
    args.device = resolve(args.device, args.cpu)
    for flag, on in (("--fp16", args.fp16), ("--bf16", args.bf16)):
        if on and args.device == "cpu":
            raise ExecArgError(f"{flag} cannot be honoured on the CPU: inferrt's CPU layers run in FLOAT; drop "
                               f"{flag} or run on the GPU (--device cuda)")
    if args.reference == "inferrt":
        args.reference_device = resolve(args.reference_device) if args.reference_device else args.device


def _feeds(args, model) -> list:
    from ..tools import data_io, make_inputs

    meta = make_inputs.input_metadata(model)
    if args.load_inputs:
        feeds = data_io.load_inputs(args.load_inputs)
        make_inputs.check_feeds(meta, feeds)
        say(f"Loaded {len(feeds)} iteration(s) of inputs from {args.load_inputs}")
        for n, (dt, _) in meta.items():
            got = {str(it[n].dtype) for it in feeds} - {dt.name}
            if got:
                warn(f"--load-inputs: input {n!r} is {', '.join(sorted(got))} in the file and {dt.name} in the "
                     f"model; it is converted")
        return [{n: it[n].astype(meta[n][0], copy=False) for n in meta} for it in feeds]
    for name in args.range_spec:
        if name and name not in meta:
            raise ExecArgError(f"--val-range: the model has no input {name!r}; its inputs are {list(meta)}")
    shapes = _input_shapes(meta, args.shape_spec)
    return make_inputs.generate(meta, shapes, args.range_spec, args.seed, args.iterations)


def _input_shapes(meta: dict, given: dict) -> dict:
    """--input-shapes checked against the declared shapes as exec checks --shapes; unset dynamic dimensions get
    trtexec's default (exec_shapes.DEFAULT_DIMENSION), with a warning."""
    from .exec_shapes import DEFAULT_DIMENSION, _check_fits

    for name in given:
        if name not in meta:
            raise ExecArgError(f"--input-shapes: the model has no input {name!r}; its inputs are "
                               f"{', '.join(repr(n) for n in meta)}")
    out = {}
    for name, (_, dims) in meta.items():
        declared = tuple(d if isinstance(d, int) else -1 for d in dims)
        if name in given:
            _check_fits("--input-shapes", name, declared, given[name])
            out[name] = tuple(given[name])
        else:
            out[name] = tuple(d if d >= 0 else DEFAULT_DIMENSION for d in declared)
            if out[name] != declared:
                warn(f"Input {name!r} has dynamic shape {dims}; using {out[name]} (set it with --input-shapes)")
    return out


def cmd_run(args) -> int:
    t0 = time.perf_counter()
    try:
        _check(args)
    except ExecArgError as e:
        return fail(str(e))
    import inferrt as trt

    from ..tools import data_io
    from ..tools.onnx_graph import load_model
    from ..tools.run_compare import compare_runners
    from ..tools.runners import InferrtConfig, InferrtRunner, OnnxrtRunner

    logger = trt.Logger(trt.Logger.VERBOSE if args.verbose else trt.Logger.ERROR)
    tested = InferrtConfig(args.device, args.fp16, args.bf16, args.tf32, args.opt_level)

    def make_a(model, feeds):
        say(f"Building {tested.label()}")
        return InferrtRunner(model, tested, feeds, logger=logger)

    def make_b(model, feeds):
        if args.reference == "onnxrt":
            return OnnxrtRunner(model, [p for p in args.onnxrt_providers.split(",") if p])
        ref = InferrtConfig(args.reference_device, opt_level=args.reference_opt_level)
        name = ref.label() if ref != tested else ref.label() + "-reference"
        say(f"Building {name}")
        return InferrtRunner(model, ref, feeds, name=name, logger=logger)

    try:
        model = load_model(args.model)
        feeds = _feeds(args, model)
        if args.save_inputs:
            data_io.save_inputs(feeds, args.save_inputs)
            say(f"Saved inputs to {args.save_inputs}")
        res = compare_runners(model, make_a, make_b, feeds, args.atol_spec, args.rtol_spec,
                              mark_all_tensors=args.mark_all, check_stat=args.check_error_stat,
                              with_histogram=args.error_hist, log=say)
    except ExecArgError as e:
        return fail(str(e))
    except ImportError as e:
        return fail(str(e))
    except trt.InferrtError as e:
        return fail(str(e))
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own types (bad model, failed kernel)
        if type(e).__module__.startswith("onnxruntime"):
            return fail(f"onnxruntime failed on {args.model!r}: {e}")
        raise
    if args.save_outputs:
        try:
            data_io.save_outputs(res.results, args.save_outputs)
        except trt.InferrtError as e:
            return fail(str(e))
        say(f"Saved outputs to {args.save_outputs}")
    _report(args, res)
    passed = res.passed
    if args.validate:
        from ..tools.run_compare import nonfinite

        bad = nonfinite(res.results)
        for runner, k, name, n_nan, n_inf in bad:
            say(f"FAILED | {runner} | iteration {k} | Output: '{name}' holds {n_nan} NaN and {n_inf} inf value(s)")
        if not bad:
            say("Validation: no NaN or inf in any output")
        passed = passed and not bad
    status = "PASSED" if passed else "FAILED"
    say(f"{status} | Runtime: {time.perf_counter() - t0:.3f}s | Command: inferrt "
        f"{' '.join(shlex.quote(a) for a in getattr(args, 'argv', ['run', args.model]))}")
    return 0 if passed else 1


def _report(args, res) -> None:
    from ..tools.compare import format_comparison

    for name, secs in res.runtimes.items():
        say(f"{name} | Inference time: {secs * 1e3:.3f} ms per iteration")
    n_pass = 0
    for k, it in enumerate(res.iterations):
        say(f"Accuracy Comparison | {res.runner_a} vs. {res.runner_b} | iteration {k}")
        shown = it.comparisons
        if args.mark_all:
            failing = [c for c in it.comparisons if c.name not in res.outputs and not c.passed]
            shown = [c for c in it.comparisons if c.name in res.outputs] + failing[:MAX_INTERMEDIATES_SHOWN]
            if len(failing) > MAX_INTERMEDIATES_SHOWN:
                say(f"    {len(failing)} intermediate tensors diverge; the first {MAX_INTERMEDIATES_SHOWN} in "
                    f"topological order are listed")
        for c in shown:
            for line in format_comparison(c, res.runner_a, res.runner_b):
                say("    " + line)
        if args.mark_all:
            ok = sum(c.passed for c in it.comparisons)
            say(f"    {ok}/{len(it.comparisons)} marked tensors match "
                f"(passing intermediate tensors are not listed)")
            if it.divergence is not None:
                layer, op, bad = it.divergence
                worst = max(bad, key=lambda c: c.abs_err.max if c.abs_err else float("inf"))
                detail = worst.problem or f"max abs error {worst.abs_err.max:.5g}, max rel error " \
                                          f"{worst.rel_err.max:.5g}"
                say(f"    First divergent layer: '{layer}' ({op}) | output(s) "
                    f"{[c.name for c in bad]} | {detail}")
        if it.passed:
            n_pass += 1
            say(f"    PASSED | All outputs matched | Outputs: {res.outputs}")
        else:
            failed = [c.name for c in it.comparisons if not c.passed]
            say(f"    FAILED | Mismatched outputs: {failed}")
    total = len(res.iterations)
    say(f"Accuracy Summary | {res.runner_a} vs. {res.runner_b} | Passed: {n_pass}/{total} iterations | "
        f"Pass Rate: {100.0 * n_pass / max(total, 1):.1f}%")
