"""IOptimizationProfile: min / opt / max shapes per dynamic input (and values of shape inputs)."""
from __future__ import annotations

from ..interface import ContextManaged
from ..ir.weights import Dims
from .profile_defaults import fill_defaults


class IOptimizationProfile(ContextManaged):
    def __init__(self):
        self._shapes: dict[str, tuple[tuple, tuple, tuple]] = {}
        self._shape_values: dict[str, tuple[tuple, tuple, tuple]] = {}
        self.extra_memory_target = 1.0
        self._errors: list[str] = []

    def set_shape(self, input: str, min, opt, max) -> None:  # noqa: A002 - TensorRT's names
        name = input if isinstance(input, str) else input.name
        mn, op, mx = (tuple(int(d) for d in s) for s in (min, opt, max))
        if not len(mn) == len(op) == len(mx):
            self._errors.append(f"profile shapes of {name!r} have different ranks: min {mn}, opt {op}, max {mx}")
        elif any(d < 0 for d in mn) or not all(a <= b <= c for a, b, c in zip(mn, op, mx)):
            self._errors.append(f"profile shapes of {name!r} must satisfy 0 <= min <= opt <= max per dimension: "
                                f"min {mn}, opt {op}, max {mx}")
        self._shapes[name] = (mn, op, mx)

    def get_shape(self, input: str):  # noqa: A002
        name = input if isinstance(input, str) else input.name
        s = self._shapes.get(name)
        return [Dims(x) for x in s] if s else []

    def set_shape_input(self, input: str, min, opt, max) -> None:  # noqa: A002
        name = input if isinstance(input, str) else input.name
        self._shape_values[name] = tuple(tuple(int(v) for v in s) for s in (min, opt, max))

    def get_shape_input(self, input: str):  # noqa: A002
        name = input if isinstance(input, str) else input.name
        return [list(x) for x in self._shape_values.get(name, ())]

    fill_defaults = fill_defaults  # TensorRT code meets it through Polygraphy's Profile.fill_defaults

    def __bool__(self):
        return not self._errors and bool(self._shapes or self._shape_values)

    def __repr__(self):
        return f"IOptimizationProfile({self._shapes})"
