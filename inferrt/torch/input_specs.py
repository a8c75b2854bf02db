"""Input specs of a graph (or of one engine's piece of it): dtype and per-dim (min, opt, max), taken from the FX
metadata. Symbolic dims (``torch.export.Dim``) take their range from the shape environment and their opt value
from the example input; derived dims (``2 * batch``) are evaluated at the range ends."""
from __future__ import annotations

import dataclasses

import torch

from inferrt.errors import BindingError, BuildError, ShapeError


@dataclasses.dataclass
class InputSpec:
    name: str
    kind: str                 # "tensor" or "int" (a symbolic size passed as a 1-element INT64 tensor)
    dtype: str                # torch dtype name ("float32"); "int64" for kind "int"
    dims: list                # per dim: [min, opt, max] (equal for a static dim)
    exprs: list               # per dim: the symbolic expression as text ("s0"), or None when static

    @property
    def dynamic(self) -> bool:
        return any(mn != mx for mn, _, mx in self.dims)

    def profile(self):
        return tuple(tuple(d[i] for d in self.dims) for i in range(3))

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d) -> "InputSpec":
        if not isinstance(d, dict) or set(d) != {f.name for f in dataclasses.fields(cls)}:
            raise ValueError(f"bad input spec {str(d)[:100]}")
        return cls(**d)

    def check(self, value, where: str):
        """Raise BindingError / ShapeError naming the input when ``value`` does not fit this spec."""
        if self.kind == "int":
            if not isinstance(value, int):
                raise BindingError(f"{where}: input {self.name!r} must be an int, got {type(value).__name__}")
            mn, _, mx = self.dims[0]
            if not mn <= value <= mx:
                raise ShapeError(f"{where}: input {self.name!r} = {value} is outside the compiled range [{mn}, {mx}]")
            return
        if not isinstance(value, torch.Tensor):
            raise BindingError(f"{where}: input {self.name!r} must be a torch.Tensor, got {type(value).__name__}")
        if str(value.dtype).replace("torch.", "") != self.dtype:
            raise BindingError(f"{where}: input {self.name!r} has dtype {value.dtype} but was compiled for "
                               f"torch.{self.dtype}; cast it or compile again with an example of that dtype")
        if value.dim() != len(self.dims):
            raise ShapeError(f"{where}: input {self.name!r} has rank {value.dim()} ({tuple(value.shape)}) but was "
                             f"compiled for rank {len(self.dims)}")
        for i, (d, (mn, _, mx)) in enumerate(zip(value.shape, self.dims)):
            if not mn <= d <= mx:
                allowed = f"{mn}" if mn == mx else f"[{mn}, {mx}]"
                how = ("mark it dynamic with torch.export.Dim in dynamic_shapes" if mn == mx else
                       "compile again with a wider torch.export.Dim range")
                raise ShapeError(f"{where}: input {self.name!r} dim {i} is {d}, outside the compiled profile "
                                 f"{allowed} (shape {tuple(value.shape)}); {how}")


def _eval(expr, env):
    import sympy

    v = expr.xreplace({s: sympy.Integer(env[s]) for s in expr.free_symbols if s in env})
    return int(v)


def _sym_range(sym_int, name, i, ranges):
    node = sym_int.node
    expr, env = node.expr, node.shape_env
    lo, hi, hint = {}, {}, {}
    vals = getattr(env, "backed_var_to_val", None) or env.var_to_val
    for s in expr.free_symbols:
        vr = (ranges or {}).get(s) or env.var_to_range.get(s)
        lower, upper = (int(vr.lower), vr.upper) if vr is not None else (0, None)
        try:
            upper = None if upper is None or getattr(upper, "is_finite", True) is False else int(upper)
        except (TypeError, ValueError, OverflowError, AttributeError):
            upper = None
        if upper is None or upper > 2 ** 31:
            raise BuildError(f"input {name!r} dim {i} ({expr}) has no upper bound; give its torch.export.Dim a max "
                             f"(e.g. Dim('batch', min=1, max=64)) so the engine's optimization profile has one")
        lo[s], hi[s] = max(lower, 1), upper
        hint[s] = int(vals.get(s, lower))
    return [_eval(expr, lo), _eval(expr, hint), _eval(expr, hi)], str(expr)


def spec_of(name: str, val, ranges=None) -> InputSpec:
    """The InputSpec of a placeholder whose FX ``meta['val']`` is ``val`` (a (fake) tensor or a SymInt);
    ``ranges``: the exported program's range_constraints {symbol: ValueRanges} (the user's Dim ranges)."""
    if isinstance(val, torch.SymInt):
        rng, expr = _sym_range(val, name, 0, ranges)
        return InputSpec(name, "int", "int64", [rng], [expr])
    if isinstance(val, int) and not isinstance(val, bool):
        return InputSpec(name, "int", "int64", [[val, val, val]], [None])
    if not isinstance(val, torch.Tensor):
        raise BuildError(f"input {name!r} is a {type(val).__name__}; inferrt engines take tensors and ints only")
    dims, exprs = [], []
    for i, d in enumerate(val.shape):
        if isinstance(d, torch.SymInt):
            rng, expr = _sym_range(d, name, i, ranges)
            dims.append(rng)
            exprs.append(expr)
        else:
            dims.append([int(d)] * 3)
            exprs.append(None)
    return InputSpec(name, "tensor", str(val.dtype).replace("torch.", ""), dims, exprs)
