"""Argument helpers shared by the Polygraphy-style subcommands (run, inspect, surgeon, debug, check): tolerance and
value-range specs, tensor specs ``name:shape:dtype``, device choice, and the common error exit."""
from __future__ import annotations

import re
import sys

from .exec_args import ExecArgError, parse_shape_spec  # noqa: F401 - re-exported for the subcommands

USAGE_EXIT = 2


def fail(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return USAGE_EXIT


def say(msg: str) -> None:
    print(f"[I] {msg}")


def warn(msg: str) -> None:
    print(f"[W] {msg}")


def add_input_args(p, load_help: str):
    """The ``inputs`` argument group of run / debug precision: dynamic shapes, generated data (value ranges, seed,
    iterations) and ``--load-inputs`` (described by ``load_help``); returns the group for further flags."""
    g = p.add_argument_group("inputs")
    g.add_argument("--input-shapes", help="shapes of dynamic inputs, name:1x3x224x224[,name2:...] (others: 1)")
    g.add_argument("--val-range", nargs="+", metavar="RANGE",
                   help="value ranges of generated data, [low,high] for all or name:[low,high] (default [0,1])")
    g.add_argument("--seed", type=int, default=1, help="seed of the generated data (default 1)")
    g.add_argument("--iterations", type=int, default=1, help="iterations of generated data (default 1)")
    g.add_argument("--load-inputs", help=load_help)
    return g


def parse_tolerances(flag: str, items) -> dict:
    """``['1e-5', 'out:1e-3']`` -> {'': 1e-5, 'out': 1e-3} (a bare number applies to every other output)."""
    out: dict = {}
    for item in items or []:
        name, _, value = item.rpartition(":")
        try:
            v = float(value)
        except ValueError:
            v = -1.0
        if v < 0:
            raise ExecArgError(f"{flag}: {item!r} is not a non-negative number or name:number")
        if name in out:
            raise ExecArgError(f"{flag}: {'output ' + repr(name) if name else 'the default'} is given twice")
        out[name] = v
    return out


_RANGE = re.compile(r"^\[\s*([^,\]]+)\s*,\s*([^,\]]+)\s*\]$")


def parse_val_ranges(items) -> dict:
    """``['[0,1]', 'x:[-1,1]']`` -> {'': (0.0, 1.0), 'x': (-1.0, 1.0)} (Polygraphy's --val-range)."""
    out: dict = {}
    for item in items or []:
        name, sep, rng = item.rpartition(":") if not item.startswith("[") else ("", "", item)
        m = _RANGE.match(rng.strip())
        lo = hi = None
        if m:
            try:
                lo, hi = float(m.group(1)), float(m.group(2))
            except ValueError:
                lo = hi = None
        if lo is None or lo > hi:
            raise ExecArgError(f"--val-range: {item!r} is not like [low,high] or name:[low,high] with low <= high")
        out[name] = (lo, hi)
    return out


def parse_dims(text: str, what: str):
    """'[1,3,224,224]', '1x3x224x224', '[batch,3]' or 'auto' (None) -> tuple of ints / dim_param names."""
    t = text.strip()
    if t == "auto":
        return None
    if t.startswith("[") and t.endswith("]"):
        parts = [p.strip() for p in t[1:-1].split(",")] if t[1:-1].strip() else []
    else:
        parts = t.split("x")
    dims = []
    for p in parts:
        if p.isdigit():
            dims.append(int(p))
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p):
            dims.append(p)
        else:
            raise ExecArgError(f"{what}: {text!r} is not a shape like [1,3,224,224], 1x3x224x224 or auto")
    return tuple(dims)


def parse_tensor_specs(flag: str, items, with_shape: bool) -> dict:
    """``name:shape:dtype`` (with_shape) or ``name[:dtype]`` items -> {name: (shape or None, dtype name or None)};
    'auto' leaves a field to shape inference."""
    out: dict = {}
    for item in items or []:
        if with_shape:
            parts = item.rsplit(":", 2)
            if len(parts) != 3 or not parts[0]:
                raise ExecArgError(f"{flag}: {item!r} is not like name:[1,3,224,224]:float32 (or name:auto:auto)")
            name, shape, dtype = parts[0], parse_dims(parts[1], flag), parts[2]
        else:
            name, sep, dtype = item.rpartition(":")
            if not sep:
                name, dtype = item, "auto"
            shape = None
        if name in out:
            raise ExecArgError(f"{flag}: tensor {name!r} is given twice")
        out[name] = (shape, None if dtype == "auto" else dtype)
    return out


def resolve(device: str | None, cpu: bool = False) -> str:
    """'cpu' / 'cuda' for --device / --cpu; ExecArgError naming the contradiction or the missing GPU. A
    ``cuda:N`` (or ``N``) request makes GPU N the process's current device, as trtexec's ``--device=N`` does."""
    from ..device import gpu_index, resolve_device, select_gpu

    if cpu:
        if device not in (None, "cpu"):
            raise ExecArgError(f"--cpu and --device={device} contradict each other")
        device = "cpu"
    try:
        kind = resolve_device(device)
        index = gpu_index(device, "--device") if kind == "cuda" and device is not None else None
    except (RuntimeError, ValueError) as e:
        raise ExecArgError(f"--device: {e}") from None
    if index is not None:
        select_gpu(index)
    return kind
