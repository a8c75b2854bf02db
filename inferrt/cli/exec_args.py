"""``inferrt exec`` arguments: trtexec's flag names and meanings, parsed and checked before anything is built.

Shape specs are trtexec's ``name:AxBxC[,name2:DxE]``; ``--memPoolSize`` is ``pool:size[K|M|G]`` (MiB without a
suffix); ``--percentile`` is a comma-separated list. Contradictory flags are :class:`ExecArgError`s naming both flags.
"""
from __future__ import annotations

import argparse

#: trtexec's ``--memPoolSize`` pool names; inferrt builds for the GPU or the CPU and has no DLA
MEM_POOLS = {"workspace": "WORKSPACE", "dlaSRAM": None, "dlaLocalDRAM": None, "dlaGlobalDRAM": None,
             "tacticSharedMem": None}
_UNITS = {"": 1 << 20, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


class ExecArgError(ValueError):
    """A flag value or a combination of flags ``inferrt exec`` refuses (exit code 2, nothing built)."""


def parse_shape_spec(flag: str, spec: str | None) -> dict:
    """'x:1x3x224x224,y:1x10' -> {'x': (1, 3, 224, 224), 'y': (1, 10)}. Names may contain ':' (the last one
    splits); a name given twice is an error."""
    out: dict = {}
    if not spec:
        return out
    for part in spec.split(","):
        name, _, dims = part.strip().rpartition(":")
        name = name.strip("'\"")
        try:
            shape = tuple(int(d) for d in dims.split("x")) if dims else None
        except ValueError:
            shape = None
        if not name or shape is None or any(d < 0 for d in shape):
            raise ExecArgError(f"{flag}: {part!r} is not like name:1x3x224x224 (dimensions are non-negative "
                               f"integers separated by 'x'; tensors separated by ',')")
        if name in out:
            raise ExecArgError(f"{flag}: tensor {name!r} is given twice")
        out[name] = shape
    return out


def parse_mem_pools(spec: str | None) -> dict:
    """'workspace:1024,tacticSharedMem:1K' -> {'WORKSPACE': bytes}; pools inferrt has no use for are errors."""
    out: dict = {}
    if not spec:
        return out
    for part in spec.split(","):
        pool, _, size = part.strip().partition(":")
        if pool not in MEM_POOLS:
            raise ExecArgError(f"--memPoolSize: unknown pool {pool!r}; trtexec's pools are {', '.join(MEM_POOLS)}")
        if MEM_POOLS[pool] is None:
            raise ExecArgError(f"--memPoolSize: pool {pool!r} is not used by inferrt (it has no DLA and no tactic "
                               f"shared-memory limit); only 'workspace' limits what its tactics may use")
        unit = size[-1:].upper() if size[-1:].isalpha() else ""
        number = size[:-1] if unit else size
        try:
            value = float(number)
        except ValueError:
            value = -1.0
        if unit not in _UNITS or value < 0:
            raise ExecArgError(f"--memPoolSize: {part!r} is not like workspace:1024 (MiB) or workspace:1G")
        out[MEM_POOLS[pool]] = int(value * _UNITS[unit])
    return out


def parse_percentiles(text: str) -> list:
    try:
        ps = [float(p) for p in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None
    if not ps or any(not 0 <= p <= 100 for p in ps):
        raise argparse.ArgumentTypeError(f"percentiles must be in [0, 100], got {text!r}")
    return ps


def _number(kind, low, what):
    def convert(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {text}")
        return v
    convert.__name__ = what
    return convert


positive = _number(int, 1, "positive integer")
non_negative = _number(int, 0, "non-negative integer")
non_negative_float = _number(float, 0, "non-negative number")


def add_exec_arguments(e: argparse.ArgumentParser) -> None:
    g = e.add_argument_group("model and engine")
    g.add_argument("--onnx", help="ONNX model to build")
    g.add_argument("--loadEngine", dest="load_engine", help="plan file to load instead of building")
    g.add_argument("--saveEngine", dest="save_engine", help="write the built plan here")
    g.add_argument("--skipInference", dest="skip_inference", action="store_true",
                   help="build (and save) the engine, run nothing")
    g = e.add_argument_group("shapes (trtexec's name:AxBxC[,name2:...])")
    g.add_argument("--shapes", help="inference shapes; when building, also the one profile's min=opt=max")
    g.add_argument("--minShapes", dest="min_shapes", help="the build profile's minimum shapes")
    g.add_argument("--optShapes", dest="opt_shapes", help="the build profile's optimal shapes (default: max)")
    g.add_argument("--maxShapes", dest="max_shapes", help="the build profile's maximum shapes")
    g.add_argument("--batch", type=positive, default=None,
                   help="inferrt: the first dimension of every input whose first dimension is dynamic and not in "
                        "the shape flags (other dynamic dimensions get trtexec's default, 1)")
    g = e.add_argument_group("build")
    g.add_argument("--fp16", action="store_true", help="allow FP16 layers (GPU)")
    g.add_argument("--bf16", action="store_true", help="allow BF16 layers (GPU)")
    g.add_argument("--noTF32", dest="no_tf32", action="store_true", help="FLOAT layers without TF32 (GPU)")
    g.add_argument("--best", action="store_true",
                   help="every reduced precision inferrt builds: FP16 and BF16 (it has no INT8/FP8 kernels)")
    g.add_argument("--int8", action="store_true", help="refused: inferrt has no INT8 kernels")
    g.add_argument("--fp8", action="store_true", help="refused: inferrt has no FP8 kernels")
    g.add_argument("--precisionConstraints", dest="precision_constraints", choices=("none", "prefer", "obey"),
                   default=None, help="whether --layerPrecisions are preferred or obeyed (default: none; prefer "
                                      "when --layerPrecisions is given)")
    g.add_argument("--layerPrecisions", dest="layer_precisions",
                   help="per-layer precision, layerName:fp32[,name2:fp16] ('*' for every layer); a reduced type "
                        "needs its flag (--fp16 / --bf16)")
    g.add_argument("--memPoolSize", dest="mem_pool_size", help="pool limits, e.g. workspace:1024 (MiB) or "
                                                                 "workspace:2G")
    g.add_argument("--builderOptimizationLevel", dest="opt_level", type=int, choices=range(0, 6), default=None,
                   metavar="0-5", help="0 skips tactic timing; default 3")
    g.add_argument("--timingCacheFile", dest="timing_cache_file",
                   help="timing cache read before the build (when it exists) and written after it")
    g.add_argument("--errorOnTimingCacheMiss", dest="error_on_cache_miss", action="store_true",
                   help="fail the build when a tactic is not in the timing cache")
    g = e.add_argument_group("inference")
    g.add_argument("--iterations", type=positive, default=10, help="run at least N queries (default 10)")
    g.add_argument("--duration", type=non_negative_float, default=3.0,
                   help="run for at least this many seconds (default 3; 0: just --iterations)")
    g.add_argument("--warmUp", dest="warm_up_ms", type=non_negative_float, default=200.0,
                   help="warm up for this many milliseconds before timing (default 200)")
    g.add_argument("--warmup", dest="warmup_runs", type=non_negative, default=0,
                   help="inferrt: also at least this many warm-up queries")
    g.add_argument("--avgRuns", dest="avg_runs", type=positive, default=10,
                   help="report trace averages over this many consecutive queries (default 10)")
    g.add_argument("--percentile", type=parse_percentiles, default=[90.0, 95.0, 99.0],
                   help="percentiles to report, e.g. 90,95,99 (the default)")
    g.add_argument("--useCudaGraph", dest="use_cuda_graph", action="store_true",
                   help="replay the engine as a CUDA graph (GPU); without it every query is enqueued")
    g.add_argument("--infStreams", dest="inf_streams", type=positive, default=1,
                   help="run this many inference streams at once, each with its own execution context (default 1)")
    g.add_argument("--threads", action="store_true",
                   help="drive each inference stream from its own worker thread, as trtexec does")
    g.add_argument("--noDataTransfers", dest="no_data_transfers", action="store_true",
                   help="no host-to-device / device-to-host copies per query")
    g.add_argument("--loadInputs", dest="load_inputs",
                   help="raw binary input files, name:file.bin[,name2:file2.bin] (default: seeded random data)")
    g.add_argument("--device", default=None,
                   help="'cpu', 'cuda', 'auto' or a CUDA device index N (trtexec's --device=N)")
    g.add_argument("--cpu", action="store_true", help="inferrt: build and run on the CPU (same as --device=cpu)")
    g.add_argument("--cpuThreads", dest="cpu_threads", type=positive, default=None,
                   help="inferrt: CPU threads PyTorch may use (torch.set_num_threads)")
    g = e.add_argument_group("reporting")
    g.add_argument("--verbose", action="store_true")
    g.add_argument("--dumpOutput", dest="dump_output", action="store_true", help="print every output value")
    g.add_argument("--exportOutput", dest="export_output", help="write the outputs to this JSON file")
    g.add_argument("--exportTimes", dest="export_times", help="write every query's timestamps to this JSON file")
    g.add_argument("--dumpProfile", dest="dump_profile", action="store_true", help="print per-layer times")
    g.add_argument("--exportProfile", dest="export_profile", help="write per-layer times to this JSON file")
    g.add_argument("--dumpLayerInfo", dest="dump_layer_info", action="store_true",
                   help="print the engine's layers (EngineInspector)")
    g.add_argument("--exportLayerInfo", dest="export_layer_info", help="write the engine's layers to this JSON file")


def check_exec_arguments(args) -> None:
    """Flag combinations trtexec refuses or inferrt cannot honour; fills parsed fields on ``args``."""
    if args.onnx and args.load_engine:
        raise ExecArgError("--onnx and --loadEngine contradict each other: build from the model or load a plan")
    if args.load_engine:
        for flag, on in (("--saveEngine", args.save_engine), ("--minShapes", args.min_shapes),
                         ("--optShapes", args.opt_shapes), ("--maxShapes", args.max_shapes),
                         ("--fp16", args.fp16), ("--bf16", args.bf16), ("--best", args.best),
                         ("--noTF32", args.no_tf32), ("--memPoolSize", args.mem_pool_size),
                         ("--builderOptimizationLevel", args.opt_level is not None),
                         ("--timingCacheFile", args.timing_cache_file),
                         ("--errorOnTimingCacheMiss", args.error_on_cache_miss),
                         ("--precisionConstraints", args.precision_constraints),
                         ("--layerPrecisions", args.layer_precisions)):
            if on:
                raise ExecArgError(f"{flag} is a build flag and --loadEngine builds nothing; drop one of them")
    if args.skip_inference:
        for flag, on in (("--loadInputs", args.load_inputs), ("--dumpOutput", args.dump_output),
                         ("--exportOutput", args.export_output), ("--exportTimes", args.export_times),
                         ("--dumpProfile", args.dump_profile), ("--exportProfile", args.export_profile)):
            if on:
                raise ExecArgError(f"{flag} needs inference and --skipInference runs none; drop one of them")
    for flag, on in (("--int8", args.int8), ("--fp8", args.fp8)):
        if on:
            raise ExecArgError(f"{flag} cannot be honoured: inferrt has no {flag[2:].upper()} kernels "
                               f"(BuilderFlag.{flag[2:].upper()} is not implemented); drop {flag}")
    if args.cpu:
        if args.device not in (None, "cpu"):
            raise ExecArgError(f"--cpu and --device={args.device} contradict each other")
        args.device = "cpu"
    if args.device is not None and args.device not in ("auto", "cpu", "cuda", "gpu") and not args.device.isdigit():
        raise ExecArgError(f"--device={args.device!r}: use cpu, cuda, auto or a CUDA device index")
    args.shape_dict = parse_shape_spec("--shapes", args.shapes)
    args.min_dict = parse_shape_spec("--minShapes", args.min_shapes)
    args.opt_dict = parse_shape_spec("--optShapes", args.opt_shapes)
    args.max_dict = parse_shape_spec("--maxShapes", args.max_shapes)
    args.mem_pools = parse_mem_pools(args.mem_pool_size)
    args.input_files = {}
    if args.load_inputs:
        for part in args.load_inputs.split(","):
            name, _, path = part.partition(":")
            if not name or not path:
                raise ExecArgError(f"--loadInputs: {part!r} is not like name:file.bin")
            args.input_files[name.strip("'\"")] = path
    if args.best:
        args.fp16 = args.bf16 = True
    args.layer_precision_dict = parse_layer_precisions(args.layer_precisions)
    if args.layer_precision_dict and args.precision_constraints == "none":
        raise ExecArgError("--layerPrecisions and --precisionConstraints=none contradict each other: use prefer "
                           "or obey")


#: trtexec's precision names -> inferrt DataType names, for the types inferrt builds
LAYER_PRECISIONS = {"fp32": "FLOAT", "fp16": "HALF", "bf16": "BF16"}


def parse_layer_precisions(spec: str | None) -> dict:
    """'conv1:fp32,*:fp16' -> {'conv1': 'FLOAT', '*': 'HALF'}."""
    out: dict = {}
    if not spec:
        return out
    for part in spec.split(","):
        name, _, prec = part.strip().rpartition(":")
        name = name.strip("'\"")
        if not name or not prec:
            raise ExecArgError(f"--layerPrecisions: {part!r} is not like layerName:fp16")
        if prec not in LAYER_PRECISIONS:
            raise ExecArgError(f"--layerPrecisions: layer {name!r}: precision {prec!r} is not one inferrt builds "
                               f"({', '.join(LAYER_PRECISIONS)})")
        if name in out:
            raise ExecArgError(f"--layerPrecisions: layer {name!r} is given twice")
        out[name] = LAYER_PRECISIONS[prec]
    return out
