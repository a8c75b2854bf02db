"""Build profiles and inference shapes from trtexec's shape flags, checked against the network's (or the loaded
engine's) inputs before anything is built or run."""
from __future__ import annotations

from .exec_args import ExecArgError

#: trtexec's value for a dynamic dimension no shape flag sets
DEFAULT_DIMENSION = 1


def _fmt(shape) -> str:
    return "x".join(str(d) for d in shape)


_FLAGS = ("--minShapes", "--optShapes", "--maxShapes")


def _check_names(args, inputs: dict, what: str) -> None:
    given = [("--shapes", args.shape_dict), ("--loadInputs", args.input_files)]
    for prof in getattr(args, "profile_dicts", []):
        given += list(zip(_FLAGS, prof))
    for flag, names in given:
        for name in names:
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


def _broadcast(prof: list, log) -> list:
    """trtexec's rule for a shape flag a profile lacks entirely: min <- opt, else max; opt <- max, else min;
    max <- opt, else min (each with trtexec's warning)."""
    mins, opts, maxs = prof
    names = {n for d in prof for n in d}
    src = {"min": "opt" if opts else "max", "opt": "max" if maxs else "min", "max": "opt" if opts else "min"}
    out = {"min": dict(mins), "opt": dict(opts), "max": dict(maxs)}
    have = {"min": bool(mins), "opt": bool(opts), "max": bool(maxs)}
    for which in ("min", "opt", "max"):
        if have[which]:
            continue
        frm = src[which] if have[src[which]] else next(k for k in ("min", "opt", "max") if have[k])
        for n in sorted(names):
            log(f"{frm}Shapes is being broadcasted to {which}Shapes for tensor {n}")
        out[which] = dict(out[frm])
        have[which] = True
    return [out["min"], out["opt"], out["max"]]


def build_profile_shapes(args, inputs: dict, log) -> tuple[list, dict]:
    """``inputs``: {name: declared shape (-1 dynamic)} of the network. Returns ([{name: (min, opt, max)} of the
    dynamic inputs, per optimization profile], {name: inference shape} for all inputs, in the --useProfile one)."""
    _check_names(args, inputs, "the network")
    given = args.profile_dicts or [[{}, {}, {}]]
    use = getattr(args, "use_profile", 0)
    profiles: list = []
    run: dict = {}
    for pi, prof in enumerate(given):
        where = f" (optimization profile {pi})" if len(given) > 1 else ""
        named = {n for d in prof for n in d}
        mins, opts, maxs = _broadcast(prof, log) if named else prof
        ranges: dict = {}
        for name, declared in inputs.items():
            declared = tuple(declared)
            mn, op, mx = mins.get(name), opts.get(name), maxs.get(name)
            shp = args.shape_dict.get(name)
            for flag, s in (("--minShapes", mn), ("--optShapes", op), ("--maxShapes", mx), ("--shapes", shp)):
                if s is not None:
                    _check_fits(flag, name, declared, s)
            if name in named:
                missing = [f for f, s in zip(_FLAGS, (mn, op, mx)) if s is None]
                if missing:
                    raise ExecArgError(f"{missing[0]} does not name input {name!r}, which the other profile flags "
                                       f"name{where}; give it in {' and '.join(missing)} too")
                if not all(a <= b <= c for a, b, c in zip(mn, op, mx)):
                    raise ExecArgError(f"input {name!r}: the profile must satisfy min <= opt <= max per dimension"
                                       f"{where}, got min {_fmt(mn)}, opt {_fmt(op)}, max {_fmt(mx)}")
                if pi == use and shp is not None and not all(a <= b <= c for a, b, c in zip(mn, shp, mx)):
                    raise ExecArgError(f"--shapes: {name}:{_fmt(shp)} is outside the profile built for {name!r}"
                                       f"{where} (min {_fmt(mn)}, max {_fmt(mx)})")
                ranges[name] = (mn, op, mx)
                shape = shp if shp is not None else op
            elif shp is not None and len(given) == 1:
                if any(d < 0 for d in declared):
                    ranges[name] = (shp, shp, shp)
                shape = shp
            elif any(d < 0 for d in declared):
                shape = tuple(d if d >= 0 else (args.batch if i == 0 and args.batch else DEFAULT_DIMENSION)
                              for i, d in enumerate(declared))
                if pi == use:
                    log(f"Dynamic dimensions required for input: {name}, but no shapes were given. Automatically "
                        f"overriding shape to: {_fmt(shape)}")
                ranges[name] = (shape, shape, shape)
                if shp is not None and pi == use:
                    raise ExecArgError(f"--shapes: {name}:{_fmt(shp)} is outside optimization profile {pi}, which "
                                       f"does not name {name!r} and so fixes it to {_fmt(shape)}; give {name!r} "
                                       f"in that profile's shape flags")
            else:
                shape = shp if shp is not None else declared
            if pi == use:
                run[name] = shape
        profiles.append(ranges)
    return (profiles if any(profiles) else []), run


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
            prof = engine.get_tensor_profile_shape(name, getattr(args, "use_profile", 0))
            opt = tuple(prof[1]) if prof else tuple(DEFAULT_DIMENSION for _ in declared)
            shape = tuple(d if d >= 0 else (args.batch if i == 0 and args.batch else opt[i])
                          for i, d in enumerate(declared))
            log(f"Dynamic dimensions required for input: {name}, but no shapes were given. Automatically "
                f"overriding shape to: {_fmt(shape)}")
            run[name] = shape
        else:
            run[name] = declared
    return run
