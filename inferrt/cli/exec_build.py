"""``inferrt exec``: build an engine (or load a plan) from the checked arguments, through inferrt's public API."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

from .exec_args import ExecArgError
from .exec_int8 import apply_int8
from .exec_layers import apply_layer_specs
from .exec_progress import build_progress, parse_progress
from .exec_shapes import build_profile_shapes, engine_run_shapes


@dataclass
class Built:
    engine: object
    run_shapes: dict
    device: str
    build_s: float | None = None
    plan_bytes: int | None = None


def pick_device(args) -> str:
    """'cpu' or 'cuda' for --device / --cpu; a GPU index N (or cuda:N) makes that GPU the current device, as
    trtexec's --device=N does: the engine is built or loaded there and every query runs there."""
    from ..device import gpu_index, resolve_device, select_gpu, split_device

    req = args.device
    try:
        kind, _ = split_device(req)
        if kind == "cuda":
            index = gpu_index(req, "--device")
            if index is not None:
                select_gpu(index)
        return resolve_device(req)
    except (RuntimeError, ValueError) as e:
        msg = str(e)
        raise ExecArgError(msg if msg.startswith("--device") else f"--device: {msg}") from None


def _reduced_precision_check(args, device: str) -> None:
    if device == "cpu":
        for flag, on in (("--best", args.best), ("--fp16", args.fp16), ("--bf16", args.bf16)):
            if on:
                raise ExecArgError(f"{flag} cannot be honoured on the CPU: inferrt's CPU layers run in FLOAT "
                                   f"(without TF32); drop {flag} or build for the GPU (--device=cuda)")
    if args.use_cuda_graph and device == "cpu":
        raise ExecArgError("--useCudaGraph needs a GPU engine; drop it or run on the GPU (--device=cuda)")


def build_or_load(args, trt, logger, info, warn=None) -> Built:
    """``info(msg)`` prints trtexec's [I] lines, ``warn(msg)`` its [W] lines (default: as info). Raises ExecArgError (bad flags), trt.PlanError / trt.BuildError."""
    device = pick_device(args)
    _reduced_precision_check(args, device)
    if args.load_engine:
        try:
            engine = trt.load_engine(args.load_engine, logger)
        except trt.PlanError as e:
            raise trt.PlanError(f"cannot load engine {args.load_engine!r}: {e}") from None
        kind = engine.device_kind
        if args.device not in (None, "auto") and (kind == "cpu") != (device == "cpu"):
            raise ExecArgError(f"--device={args.device} but {args.load_engine!r} is a {kind.upper()} plan; drop "
                               f"--device or rebuild the plan for that device")
        if args.use_cuda_graph and kind != "cuda":
            raise ExecArgError("--useCudaGraph needs a GPU engine and the loaded plan is a CPU plan")
        if args.use_profile >= engine.num_optimization_profiles:
            raise ExecArgError(f"--useProfile={args.use_profile}: {args.load_engine!r} has "
                               f"{engine.num_optimization_profiles} optimization profile(s); use 0.."
                               f"{engine.num_optimization_profiles - 1}")
        info(f"Loaded engine with size: {os.path.getsize(args.load_engine) / 2 ** 20:.4f} MiB")
        if args.onnx:
            refit_from_onnx(args, trt, engine, logger, info)
        return Built(engine, engine_run_shapes(args, engine, info), "cpu" if kind == "cpu" else "cuda")

    builder = trt.Builder(logger)
    config = builder.create_builder_config()
    config.device = device
    network = _network(args, trt, builder, logger)
    inputs = {network.get_input(i).name: tuple(network.get_input(i).shape) for i in range(network.num_inputs)}
    profiles, run_shapes = build_profile_shapes(args, inputs, info)
    for ranges in profiles:
        prof = builder.create_optimization_profile()
        for name, (mn, op, mx) in ranges.items():
            prof.set_shape(name, mn, op, mx)
        config.add_optimization_profile(prof)
    config.profiling_verbosity = getattr(trt.ProfilingVerbosity, args.verbosity_name)
    if args.fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    if args.bf16:
        config.set_flag(trt.BuilderFlag.BF16)
    if args.fp8:
        config.set_flag(trt.BuilderFlag.FP8)
    if args.no_tf32:
        config.clear_flag(trt.BuilderFlag.TF32)
    if args.refit:
        config.set_flag(trt.BuilderFlag.REFIT)
    if args.strip_weights:   # trtexec: weights identical to the model's unless --refit asks for a general refit
        config.set_flag(trt.BuilderFlag.STRIP_PLAN)
        if not args.refit:
            config.set_flag(trt.BuilderFlag.REFIT_IDENTICAL)
    if args.error_on_cache_miss:
        config.set_flag(trt.BuilderFlag.ERROR_ON_TIMING_CACHE_MISS)
    apply_layer_specs(args, trt, network, config, info)
    apply_int8(args, trt, network, config, info, warn or info)
    for pool, size in args.mem_pools.items():
        config.set_memory_pool_limit(getattr(trt.MemoryPoolType, pool), size)
    if args.opt_level is not None:
        config.builder_optimization_level = args.opt_level
    cache = None
    if args.timing_cache_file:
        data = b""
        if os.path.exists(args.timing_cache_file):
            with open(args.timing_cache_file, "rb") as f:
                data = f.read()
        try:
            cache = config.create_timing_cache(data)
        except (trt.InferrtError, ValueError) as e:
            raise ExecArgError(f"--timingCacheFile: {args.timing_cache_file!r} is not a timing cache: {e}") from None
        config.set_timing_cache(cache, ignore_mismatch=False)
        info(f"Loaded {len(cache)} timing cache entries from {args.timing_cache_file}" if data else
             f"Timing cache {args.timing_cache_file} does not exist yet; it is written after the build")
    t0 = time.perf_counter()
    with build_progress(args, config):
        plan = builder.build(network, config)
    build_s = time.perf_counter() - t0
    info(f"Engine built in {build_s:.3f} sec.")
    info(f"Created engine with size: {len(plan) / 2 ** 20:.4f} MiB")
    if cache is not None:
        with open(args.timing_cache_file, "wb") as f:
            f.write(bytes(cache.serialize()))
        info(f"Saved {len(cache)} timing cache entries to {args.timing_cache_file}")
    if args.save_engine:
        try:
            trt.save_plan(plan, args.save_engine)
        except OSError as e:
            raise ExecArgError(f"cannot save engine to {args.save_engine!r}: {e}") from None
        info(f"Engine saved to {args.save_engine}")
    engine = trt.load_engine(plan, logger)
    if args.refit or args.strip_weights:
        refit_from_onnx(args, trt, engine, logger, info)
    return Built(engine, run_shapes, device, build_s, len(plan))


def refit_from_onnx(args, trt, engine, logger, info) -> None:
    """Refit ``engine`` from the weights of ``args.onnx`` (trtexec's refit of a weight-stripped plan); raises
    ExecArgError when the engine is not refittable or the model does not fit it."""
    if not engine.refittable:
        raise ExecArgError(f"--onnx with --loadEngine refits the engine, but {args.load_engine!r} was built without "
                           f"--refit or --stripWeights; drop --onnx, or rebuild the plan with one of them")
    errors = []

    class _Collect(trt.ILogger):
        def log(self, severity, msg):
            if severity <= trt.Logger.ERROR:
                errors.append(msg)
            logger.log(severity, msg)

    t0 = time.perf_counter()
    refitter = trt.Refitter(engine, _Collect())
    if not (trt.OnnxParserRefitter(refitter, _Collect()).refit_from_file(args.onnx) and refitter.refit_cuda_engine()):
        raise ExecArgError(f"cannot refit the engine from {args.onnx!r}: " + ("; ".join(errors[-2:]) or "refit failed"))
    info(f"Engine refitted from {args.onnx} in {time.perf_counter() - t0:.3f} sec. "
         f"({len(refitter.get_all_weights())} weights set, {len(refitter.changed_weights)} changed)")


def _network(args, trt, builder, logger):
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if args.strongly_typed else 0
    network = builder.create_network(flags)
    if args.onnx:
        parser = trt.OnnxParser(network, logger)
        with parse_progress(args, os.path.basename(args.onnx)):
            parsed = parser.parse_from_file(args.onnx)
        if not parsed:
            raise trt.BuildError("; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
                                 or f"cannot parse {args.onnx!r}")
        return network
    from ..models.mnist import build_mnist_network

    return build_mnist_network(network)
