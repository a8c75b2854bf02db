"""``inferrt exec`` arguments: trtexec's flag names and meanings, parsed and checked before anything is built.

Shape specs are trtexec's ``name:AxBxC[,name2:DxE]``; ``--memPoolSize`` is ``pool:size[K|M|G]`` (MiB without a
suffix); ``--percentile`` is a comma-separated list. Contradictory flags are :class:`ExecArgError`s naming both flags.
``--profile=N`` opens optimization profile N: the ``--minShapes/--optShapes/--maxShapes`` after it (until the next
``--profile``) are that profile's, as in trtexec; the order of these flags is kept by :class:`_InOrder`.
"""
from __future__ import annotations

import argparse

#: trtexec's ``--memPoolSize`` pool names; inferrt builds for the GPU or the CPU and has no DLA
MEM_POOLS = {"workspace": "WORKSPACE", "dlaSRAM": None, "dlaLocalDRAM": None, "dlaGlobalDRAM": None,
             "tacticSharedMem": None}
_UNITS = {"": 1 << 20, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


class ExecArgError(ValueError):
    """A flag value or a combination of flags ``inferrt exec`` refuses (exit code 2, nothing built)."""


def spec_entries(spec: str | None):
    """(entry, name, value) for each comma-separated ``name:value`` entry of a trtexec spec; the last ':' splits
    (names may contain ':') and quotes around the name are dropped. Nothing for an empty or absent spec."""
    for part in spec.split(",") if spec else ():
        name, _, value = part.strip().rpartition(":")
        yield part, name.strip("'\""), value


def parse_shape_spec(flag: str, spec: str | None) -> dict:
    """'x:1x3x224x224,y:1x10' -> {'x': (1, 3, 224, 224), 'y': (1, 10)}. Names may contain ':' (the last one
    splits); a name given twice is an error."""
    out: dict = {}
    for part, name, dims in spec_entries(spec):
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


class _InOrder(argparse.Action):
    """Stores the value and appends (flag, value) to ``namespace.profile_flags``: --profile groups the shape flags
    that follow it, so their order matters."""

    def __call__(self, parser, namespace, values, option_string=None):
        seq = list(getattr(namespace, "profile_flags", None) or [])
        seq.append((self.option_strings[0], values))
        namespace.profile_flags = seq
        setattr(namespace, self.dest, values)


#: trtexec's --profilingVerbosity values (and its deprecated aliases) -> ProfilingVerbosity names
PROFILING_VERBOSITY = {"layer_names_only": "LAYER_NAMES_ONLY", "detailed": "DETAILED", "none": "NONE",
                       "default": "LAYER_NAMES_ONLY", "verbose": "DETAILED"}


def add_exec_arguments(e: argparse.ArgumentParser) -> None:
    g = e.add_argument_group("model and engine")
    g.add_argument("--onnx", help="ONNX model to build")
    g.add_argument("--loadEngine", dest="load_engine", help="plan file to load instead of building")
    g.add_argument("--saveEngine", dest="save_engine", help="write the built plan here")
    g.add_argument("--skipInference", dest="skip_inference", action="store_true",
                   help="build (and save) the engine, run nothing")
    g = e.add_argument_group("shapes (trtexec's name:AxBxC[,name2:...])")
    g.add_argument("--shapes", help="inference shapes; when building, also the one profile's min=opt=max")
    g.add_argument("--minShapes", dest="min_shapes", action=_InOrder,
                   help="the build profile's minimum shapes (default: --optShapes, else --maxShapes)")
    g.add_argument("--optShapes", dest="opt_shapes", action=_InOrder,
                   help="the build profile's optimal shapes (default: --maxShapes, else --minShapes)")
    g.add_argument("--maxShapes", dest="max_shapes", action=_InOrder,
                   help="the build profile's maximum shapes (default: --optShapes, else --minShapes)")
    g.add_argument("--profile", type=non_negative, action=_InOrder, metavar="N",
                   help="start optimization profile N: the --minShapes/--optShapes/--maxShapes after it are its "
                        "shapes (repeat for more profiles, numbered 0, 1, ...)")
    g.add_argument("--useProfile", dest="use_profile", type=non_negative, default=0, metavar="N",
                   help="run inference with optimization profile N (default 0)")
    g.add_argument("--batch", type=positive, default=None,
                   help="inferrt: the first dimension of every input whose first dimension is dynamic and not in "
                        "the shape flags (other dynamic dimensions get trtexec's default, 1)")
    g = e.add_argument_group("build")
    g.add_argument("--fp16", action="store_true", help="allow FP16 layers (GPU)")
    g.add_argument("--bf16", action="store_true", help="allow BF16 layers (GPU)")
    g.add_argument("--noTF32", dest="no_tf32", action="store_true", help="FLOAT layers without TF32 (GPU)")
    g.add_argument("--best", action="store_true",
                   help="every reduced precision inferrt builds: FP16 and BF16 (it has no INT8/FP8 kernels)")
    g.add_argument("--int8", action="store_true",
                   help="INT8 layers through Q/DQ (BuilderFlag.INT8): ranges from --calib's calibration cache, else "
                        "trtexec's placeholder ranges (speed only, outputs not accurate)")
    g.add_argument("--fp8", action="store_true",
                   help="enable FP8 precision (BuilderFlag.FP8): FP8 Q/DQ in the model run as FP8 products")
    g.add_argument("--precisionConstraints", dest="precision_constraints", choices=("none", "prefer", "obey"),
                   default=None, help="whether --layerPrecisions are preferred or obeyed (default: none; prefer "
                                      "when --layerPrecisions is given)")
    g.add_argument("--layerPrecisions", dest="layer_precisions",
                   help="per-layer precision, layerName:fp32[,name2:fp16]; a name may hold one '*' wildcard; a "
                        "reduced type needs its flag (--fp16 / --bf16)")
    g.add_argument("--layerOutputTypes", dest="layer_output_types",
                   help="per-layer output types, layerName:fp32[,name2:fp16+fp32] (one type per output, or one "
                        "for all); a name may hold one '*' wildcard")
    g.add_argument("--stronglyTyped", dest="strongly_typed", action="store_true",
                   help="build a strongly typed network (NetworkDefinitionCreationFlag.STRONGLY_TYPED): tensor "
                        "types follow the model; no precision flags")
    g.add_argument("--profilingVerbosity", dest="profiling_verbosity", choices=tuple(PROFILING_VERBOSITY),
                   default=None, help="what the plan records for --dumpLayerInfo/--exportLayerInfo and the "
                                      "inspector: layer_names_only (default), detailed or none")
    g.add_argument("--calib", help="TensorRT INT8 calibration cache (TRT-<version>-<algorithm> header) giving "
                                    "--int8's tensor ranges")
    g.add_argument("--refit", action="store_true", help="build a refittable engine (BuilderFlag.REFIT) and refit it "
                                                          "from --onnx after the build, timing the refit")
    g.add_argument("--stripWeights", dest="strip_weights", action="store_true",
                   help="strip the refittable weights from the plan (BuilderFlag.STRIP_PLAN, with REFIT_IDENTICAL, "
                        "or REFIT with --refit); the engine is refitted from --onnx before it runs. With "
                        "--loadEngine, --onnx names the model a stripped plan is refitted from")
    g.add_argument("--noProgress", dest="no_progress", action="store_true",
                   help="inferrt: no build progress bar (it is shown only when stderr is a terminal)")
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
                   help="'cpu', 'cuda', 'auto' or a CUDA device index N / cuda:N (trtexec's --device=N): the GPU "
                        "the engine is built or loaded on and runs on")
    g.add_argument("--cpu", action="store_true", help="inferrt: build and run on the CPU (same as --device=cpu)")
    g.add_argument("--cpuThreads", dest="cpu_threads", type=positive, default=None,
                   help="inferrt: CPU threads per execution context on the CPU (default: INFERRT_CPU_THREADS, else "
                        "automatic: min(usable cores, 4), fewer when other processes or contexts use the cores)")
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
    if args.onnx and args.load_engine and not (args.refit or args.strip_weights):
        raise ExecArgError("--onnx and --loadEngine contradict each other: build from the model or load a plan (with "
                           "--refit or --stripWeights, --onnx names the model a refittable plan is refitted from)")
    if (args.refit or args.strip_weights) and not args.onnx:
        raise ExecArgError(f"{'--refit' if args.refit else '--stripWeights'} needs --onnx: the engine is refitted from "
                           f"the model's weights")
    if args.load_engine:
        for flag, on in (("--saveEngine", args.save_engine), ("--minShapes", args.min_shapes),
                         ("--optShapes", args.opt_shapes), ("--maxShapes", args.max_shapes),
                         ("--fp16", args.fp16), ("--bf16", args.bf16), ("--fp8", args.fp8), ("--best", args.best),
                         ("--noTF32", args.no_tf32), ("--memPoolSize", args.mem_pool_size),
                         ("--builderOptimizationLevel", args.opt_level is not None),
                         ("--timingCacheFile", args.timing_cache_file),
                         ("--errorOnTimingCacheMiss", args.error_on_cache_miss),
                         ("--precisionConstraints", args.precision_constraints),
                         ("--layerPrecisions", args.layer_precisions),
                         ("--layerOutputTypes", args.layer_output_types), ("--profile", args.profile is not None),
                         ("--stronglyTyped", args.strongly_typed),
                         ("--profilingVerbosity", args.profiling_verbosity)):
            if on:
                raise ExecArgError(f"{flag} is a build flag and --loadEngine builds nothing; drop one of them")
    if args.skip_inference:
        for flag, on in (("--loadInputs", args.load_inputs), ("--dumpOutput", args.dump_output),
                         ("--exportOutput", args.export_output), ("--exportTimes", args.export_times),
                         ("--dumpProfile", args.dump_profile), ("--exportProfile", args.export_profile)):
            if on:
                raise ExecArgError(f"{flag} needs inference and --skipInference runs none; drop one of them")
    if args.calib and not args.int8:
        raise ExecArgError("--calib gives INT8 ranges and needs --int8; add --int8 or drop --calib")
    if args.strongly_typed:
        for flag, on in (("--best", args.best), ("--fp16", args.fp16), ("--bf16", args.bf16), ("--fp8", args.fp8),
                         ("--precisionConstraints", args.precision_constraints),
                         ("--layerPrecisions", args.layer_precisions),
                         ("--layerOutputTypes", args.layer_output_types)):
            if on:
                raise ExecArgError(f"{flag} and --stronglyTyped contradict each other: a strongly typed network takes "
                                   f"its types from the model (its casts and initializers), not from precision flags; "
                                   f"drop one of them")
    if args.cpu:
        if args.device not in (None, "cpu"):
            raise ExecArgError(f"--cpu and --device={args.device} contradict each other")
        args.device = "cpu"
    if args.device is not None:
        from ..device import split_device

        try:
            split_device(args.device)
        except ValueError:
            raise ExecArgError(f"--device={args.device!r}: use cpu, cuda, auto, a CUDA device index N or "
                               f"cuda:N") from None
    args.shape_dict = parse_shape_spec("--shapes", args.shapes)
    args.profile_dicts = group_profiles(getattr(args, "profile_flags", None) or [])
    if args.use_profile and not args.load_engine and args.use_profile >= max(len(args.profile_dicts), 1):
        raise ExecArgError(f"--useProfile={args.use_profile}: the engine is built with "
                           f"{max(len(args.profile_dicts), 1)} optimization profile(s); use 0.."
                           f"{max(len(args.profile_dicts), 1) - 1} or add --profile={args.use_profile} with its shapes")
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
    from .exec_layers import parse_layer_spec

    args.layer_precision_dict = parse_layer_spec("--layerPrecisions", args.layer_precisions)
    args.layer_output_dict = parse_layer_spec("--layerOutputTypes", args.layer_output_types, multi=True)
    for flag, given in (("--layerPrecisions", args.layer_precision_dict),
                        ("--layerOutputTypes", args.layer_output_dict)):
        if given and args.precision_constraints == "none":
            raise ExecArgError(f"{flag} and --precisionConstraints=none contradict each other: use prefer or obey")
    verbosity = args.profiling_verbosity or "layer_names_only"
    args.verbosity_name = PROFILING_VERBOSITY[verbosity]
    args.deprecations = []
    if verbosity in ("default", "verbose"):
        args.deprecations = [f"--profilingVerbosity={verbosity} is deprecated; use --profilingVerbosity="
                             f"{'layer_names_only' if verbosity == 'default' else 'detailed'}"]


_SHAPE_FLAGS = {"--minShapes": 0, "--optShapes": 1, "--maxShapes": 2}


def group_profiles(flags: list) -> list:
    """[(flag, value)] in command-line order -> one [min, opt, max] list of parsed specs ({} where a flag is
    absent) per profile, as trtexec groups them: without --profile, one profile from the shape flags (each at most
    once); with it, the shape flags after --profile=N (until the next --profile) are profile N's, and the profiles
    are numbered 0, 1, ... without gaps."""
    if not any(f == "--profile" for f, _ in flags):
        out, seen = [{}, {}, {}], set()
        for flag, value in flags:
            if flag in seen:
                raise ExecArgError(f"{flag} is given twice: several --minShapes/--optShapes/--maxShapes need "
                                   f"--profile=N before each profile's shapes")
            seen.add(flag)
            out[_SHAPE_FLAGS[flag]] = parse_shape_spec(flag, value)
        return [out] if any(out) else []
    if flags[0][0] != "--profile":
        raise ExecArgError(f"{flags[0][0]} comes before the first --profile: with --profile, give each profile's "
                           f"shapes after its --profile=N")
    profiles: dict = {}
    current = None
    for flag, value in flags:
        if flag == "--profile":
            if value in profiles:
                raise ExecArgError(f"--profile={value} is given twice (optimization profile indices must differ)")
            current = profiles[value] = [None, None, None]
            continue
        slot = _SHAPE_FLAGS[flag]
        if current[slot] is not None:
            raise ExecArgError(f"{flag} is given twice for the same --profile")
        current[slot] = parse_shape_spec(flag, value)
    for i in range(max(profiles) + 1):
        if i not in profiles or not any(s is not None for s in profiles[i]):
            raise ExecArgError(f"optimization profile {i} has no shapes: give --profile={i} followed by its "
                               f"--minShapes/--optShapes/--maxShapes (profiles are numbered 0, 1, ... without gaps)")
    return [[s if s is not None else {} for s in profiles[i]] for i in range(len(profiles))]

