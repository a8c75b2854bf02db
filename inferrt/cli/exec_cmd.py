"""``inferrt exec``: trtexec's workflow - check the flags, build (or load) an engine, run it and report."""
from __future__ import annotations

import sys

import numpy as np

from . import exec_report as report
from .exec_args import ExecArgError, check_exec_arguments


def _say(msg: str) -> None:
    print(f"[I] {msg}")


def _warn(msg: str) -> None:
    print(f"[W] {msg}")


def _fail(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


def cmd_exec(args) -> int:
    try:
        check_exec_arguments(args)
    except ExecArgError as e:
        return _fail(str(e))
    import inferrt as trt

    from .exec_build import build_or_load

    for msg in args.deprecations:
        _warn(msg)

    logger = trt.Logger(trt.Logger.VERBOSE if args.verbose else trt.Logger.WARNING)
    try:
        built = build_or_load(args, trt, logger, _say, _warn)
    except ExecArgError as e:
        return _fail(str(e))
    except (trt.PlanError, trt.BuildError, trt.ShapeError) as e:
        return _fail(str(e))
    if built.build_s is not None:
        print(f"[build] {built.build_s:.3f} s, plan {built.plan_bytes} bytes")
    report.print_options(_say, args, built, trt)
    engine = built.engine
    ctxs = [engine.create_execution_context() for _ in range(1 if args.skip_inference else args.inf_streams)]
    ctx = ctxs[0]
    for c in ctxs:   # per context, around its executions; PyTorch's process setting is left alone
        c.cpu_threads = args.cpu_threads
    if args.cpu_threads and built.device == "cuda":
        _warn(f"--cpuThreads={args.cpu_threads} sets the threads of CPU engines; this engine runs on the GPU")
    report.print_device(_say, built, ctx.cpu_threads)
    for c in ctxs:
        if args.use_profile and not c.set_optimization_profile_async(args.use_profile, 0):
            return _fail(f"--useProfile={args.use_profile}: the execution context refused the profile")
    if built.device == "cuda":
        for c in ctxs:   # trtexec enqueues every query unless --useCudaGraph; inferrt's context captures by default
            c.cuda_graphs = bool(args.use_cuda_graph)
    try:
        if args.skip_inference:
            _say("Skipped inference phase since --skipInference is added.")
        else:
            _infer(args, trt, built, ctxs)
    except ExecArgError as e:
        return _fail(str(e))
    except trt.InferrtError as e:
        return _fail(f"inference failed: {e}")
    except OSError as e:
        return _fail(f"cannot write {e.filename!r}: {e.strerror}")
    if args.dump_layer_info:
        _say("Layer Information:")
        print(report.layer_info(trt, engine, ctx, as_json=False))
    if args.export_layer_info:
        with open(args.export_layer_info, "w") as f:
            f.write(report.layer_info(trt, engine, ctx, as_json=True))
        _say(f"Layer information exported to {args.export_layer_info}")
    return 0


def _infer(args, trt, built, ctxs) -> None:
    from .exec_run import make_inputs, run_profile, run_trace

    feeds = make_inputs(built.engine, built.run_shapes, args.input_files, trt)
    ctx = ctxs[0]
    outs = ctx.infer(feeds)
    for name, v in outs.items():
        flat = np.asarray(v).reshape(-1)
        first = np.array2string(flat[:10], precision=4, max_line_width=10 ** 6)
        print(f"[output] {name} shape={tuple(np.shape(v))} first values={first}")
    gpu = built.device == "cuda"
    transfers = not args.no_data_transfers
    trace = run_trace(ctxs, feeds, built.device, args)
    summary = report.summarize(trace, args.percentile)
    report.print_trace(_say, trace, args.avg_runs, gpu)
    report.print_summary(_say, summary, gpu, transfers)
    if args.verbose:
        report.print_explanations(_say, gpu)
    else:
        _say("Explanations of the performance metrics are printed in the verbose logs.")
    for w in report.warnings(summary, gpu, transfers, args.inf_streams):
        _warn(w)
    if args.dump_output:
        report.print_outputs(_say, outs)
    if args.export_output:
        report.export_output(args.export_output, outs)
        _say(f"Outputs exported to {args.export_output}")
    if args.export_times:
        report.export_times(args.export_times, trace)
        _say(f"Timing trace exported to {args.export_times}")
    if args.dump_profile or args.export_profile:
        prof, count = run_profile(ctx, feeds, len(trace.queries), args.threads)
        rows = report.profile_rows(prof.times, count)
        if args.dump_profile:
            report.print_profile(_say, prof.times, rows, count)
        if args.export_profile:
            report.export_profile(args.export_profile, rows, count)
            _say(f"Profile exported to {args.export_profile}")
