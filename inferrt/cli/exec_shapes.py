"""Build profiles and inference shapes from trtexec's shape flags, checked against the network's (or the loaded
engine's) inputs before anything is built or run."""
from __future__ import annotations

from .exec_args import ExecArgError

#: trtexec's value for a dynamic dimension no shape flag sets
DEFAULT_DIMENSION = 1


def _fmt(shape) -> str:
    return "x".join(str(d) for d in shape)


def _check_names(args, inputs: dict, what: str) -> None:
    for flag, given in (("--shapes", args.shape_dict), ("--minShapes", args.min_dict),
                        ("--optShapes", args.opt_dict), ("--maxShapes", args.max_dict),
                        ("--loadInputs", args.input_files)):
        for name in given:
            if name not in inputs:
                raise ExecArgError(f"{flag}: {what} has no input tensor {name!r}; its inputs are "
                                   f"{', '.join(repr(n) for n in inputs)}")


def _check_fits(flag: str, name: str, declared, shape) -> None:
    if len(shape) != len(declared):
        raise ExecArgError(f"{flag}: input {name!r} has rank {len(declared)} (shape {tuple(declared)}), but "
                           f"{_fmt(shape)} has rank {len(shape)}")
    for i, (d, s) in enumerate(zip(declared, shape)):
        if d >= 0 and d != s:
            raise ExecArgError(f"{flag}: input {name!r} has static dimension {i} = {d}, but {_fmt(shape)} sets it "
                               f"to {s}")


def build_profile_shapes(args, inputs: dict, log) -> tuple[dict, dict]:
    """``inputs``: {name: declared shape (-1 dynamic)} of the network. Returns ({name: (min, opt, max)} for the
    dynamic inputs, {name: inference shape} for all inputs)."""
    _check_names(args, inputs, "the network")
    ranges: dict = {}
    run: dict = {}
    for name, declared in inputs.items():
        declared = tuple(declared)
        mn, op, mx = (args.min_dict.get(name), args.opt_dict.get(name), args.max_dict.get(name))
        shp = args.shape_dict.get(name)
        for flag, s in (("--minShapes", mn), ("--optShapes", op), ("--maxShapes", mx), ("--shapes", shp)):
            if s is not None:
                _check_fits(flag, name, declared, s)
        if mn is not None or op is not None or mx is not None:
            if mn is None or mx is None:
                missing = "--minShapes" if mn is None else "--maxShapes"
                raise ExecArgError(f"{missing} does not name input {name!r}, which the other profile flags name; "
                                   f"give --minShapes and --maxShapes (and optionally --optShapes) for it")
            op = mx if op is None else op
            if not all(a <= b <= c for a, b, c in zip(mn, op, mx)):
                raise ExecArgError(f"input {name!r}: the profile must satisfy min <= opt <= max per dimension, got "
                                   f"min {_fmt(mn)}, opt {_fmt(op)}, max {_fmt(mx)}")
            if shp is not None and not all(a <= b <= c for a, b, c in zip(mn, shp, mx)):
                raise ExecArgError(f"--shapes: {name}:{_fmt(shp)} is outside the profile built for {name!r} "
                                   f"(min {_fmt(mn)}, max {_fmt(mx)})")
            ranges[name] = (mn, op, mx)
            run[name] = shp if shp is not None else op
        elif shp is not None:
            if any(d < 0 for d in declared):
                ranges[name] = (shp, shp, shp)
            run[name] = shp
        elif any(d < 0 for d in declared):
            shape = tuple(d if d >= 0 else (args.batch if i == 0 and args.batch else DEFAULT_DIMENSION)
                          for i, d in enumerate(declared))
            log(f"Dynamic dimensions required for input: {name}, but no shapes were given. Automatically "
                f"overriding shape to: {_fmt(shape)}")
            ranges[name] = (shape, shape, shape)
            run[name] = shape
        else:
            run[name] = declared
    return ranges, run


def engine_run_shapes(args, engine, log) -> dict:
    """Inference shapes for a loaded engine: --shapes, else the profile's opt shape (with --batch as the first
    dimension when it is dynamic)."""
    inputs = {n: tuple(engine.get_tensor_shape(n)) for n in engine.input_names}
    _check_names(args, inputs, "the engine")
    run = {}
    for name, declared in inputs.items():
        shp = args.shape_dict.get(name)
        if shp is not None:
            _check_fits("--shapes", name, declared, shp)
            run[name] = shp
        elif any(d < 0 for d in declared):
            prof = engine.get_tensor_profile_shape(name, 0)
            opt = tuple(prof[1]) if prof else tuple(DEFAULT_DIMENSION for _ in declared)
            shape = tuple(d if d >= 0 else (args.batch if i == 0 and args.batch else opt[i])
                          for i, d in enumerate(declared))
            log(f"Dynamic dimensions required for input: {name}, but no shapes were given. Automatically "
                f"overriding shape to: {_fmt(shape)}")
            run[name] = shape
        else:
            run[name] = declared
    return run
