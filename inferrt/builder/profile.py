"""IOptimizationProfile: min / opt / max shapes per dynamic input (and values of shape inputs)."""
from __future__ import annotations

from ..interface import ContextManaged
from ..ir.weights import Dims
from .profile_defaults import fill_defaults


def _input_name(input) -> str:  # noqa: A002 - TensorRT's name
    name = input if isinstance(input, str) else getattr(input, "name", None)
    if not isinstance(name, str):
        raise TypeError(f"an optimization profile's input is a network input's name or its ITensor, got "
                        f"{type(input).__name__} {str(input)[:40]}")
    return name


def _shapes(name: str, triple) -> tuple:
    """(min, opt, max) as tuples of ints; TypeError naming the input and the shape that is not one."""
    from ..runtime.arguments import shape_of

    out = []
    for what, s in zip(("min", "opt", "max"), triple):
        dims = shape_of(name, s)
        if isinstance(dims, str):
            raise TypeError(f"optimization profile, {what} of {dims}")
        out.append(dims)
    return tuple(out)


class IOptimizationProfile(ContextManaged):
    def __init__(self):
        self._shapes: dict[str, tuple[tuple, tuple, tuple]] = {}
        self._shape_values: dict[str, tuple[tuple, tuple, tuple]] = {}
        self.extra_memory_target = 1.0
        self._errors: list[str] = []

    def set_shape(self, input: str, min, opt, max) -> None:  # noqa: A002 - TensorRT's names
        name = _input_name(input)
        mn, op, mx = _shapes(name, (min, opt, max))
        if not len(mn) == len(op) == len(mx):
            self._errors.append(f"profile shapes of {name!r} have different ranks: min {mn}, opt {op}, max {mx}")
        elif any(d < 0 for d in mn) or not all(a <= b <= c for a, b, c in zip(mn, op, mx)):
            self._errors.append(f"profile shapes of {name!r} must satisfy 0 <= min <= opt <= max per dimension: "
                                f"min {mn}, opt {op}, max {mx}")
        self._shapes[name] = (mn, op, mx)

    def get_shape(self, input: str):  # noqa: A002
        name = _input_name(input)
        s = self._shapes.get(name)
        return [Dims(x) for x in s] if s else []

    def set_shape_input(self, input: str, min, opt, max) -> None:  # noqa: A002
        name = _input_name(input)
        self._shape_values[name] = _shapes(name, (min, opt, max))

    def get_shape_input(self, input: str):  # noqa: A002
        name = _input_name(input)
        return [list(x) for x in self._shape_values.get(name, ())]

    fill_defaults = fill_defaults  # TensorRT code meets it through Polygraphy's Profile.fill_defaults

    def __bool__(self):
        return not self._errors and bool(self._shapes or self._shape_values)

    def __repr__(self):
        return f"IOptimizationProfile({self._shapes})"
