"""Tuning spaces: the parameters a tactic is tuned over (tile sizes, warps, ...), declared by the tactic itself.

A tactic's ``space`` is a ``TuningSpace``: named parameters, each with its candidate values (the first value is the
default), and an optional ``constraint(point, node, specs) -> bool`` that prunes the points not worth timing for a
node's shapes and dtypes. A point is a ``{name: value}`` dict. ``points`` enumerates the cartesian product, keeps
what the constraint accepts, orders it default first and then by how many parameters differ from the default (so a
cap keeps the single-parameter variations before their combinations) and caps it by the builder optimization level
(``MAX_POINTS``). A tactic without parameters has one point, ``{}``, and is timed once, as before spaces existed.

The autotuner (tactics/select.py) times every point of every candidate tactic; the timing cache records the
chosen point with the tactic (``config``), and the plan records it on the node (``NodeInfo.tactic_point``), from
where ``Tactic.prepare`` takes it at load time.
"""
from __future__ import annotations

import itertools
import math
from typing import Any, Callable

#: builder_optimization_level -> the most points timed per tactic (None: all). Levels 0 and 1 keep every tactic at
#: its default point (level 0 times nothing at all); level 3 is the default.
MAX_POINTS = {0: 1, 1: 1, 2: 3, 3: 6, 4: 24, 5: None}

_SCALARS = (bool, int, float, str)


def max_points(level: int) -> int | None:
    """The cap on points per tactic at ``builder_optimization_level`` ``level``."""
    return MAX_POINTS[int(level)]


class TuningSpace:
    """Named parameters with their candidate values; ``constraint(point, node, specs)`` prunes points per node."""

    def __init__(self, params: dict[str, tuple] | None = None,
                 constraint: Callable[[dict, Any, dict], bool] | None = None):
        self.params: dict[str, tuple] = {}
        for name, values in (params or {}).items():
            values = tuple(values)
            if not (isinstance(name, str) and name.isidentifier()):
                raise ValueError(f"tuning parameter name {name!r} is not an identifier")
            if not values or not all(isinstance(v, _SCALARS) for v in values) or len(set(values)) != len(values):
                raise ValueError(f"tuning parameter {name!r}: candidate values {values!r} must be distinct "
                                 f"bool/int/float/str values, at least one")
            self.params[name] = values
        self.constraint = constraint

    @property
    def default(self) -> dict:
        """The first value of every parameter (``{}`` for a space without parameters)."""
        return {k: v[0] for k, v in self.params.items()}

    @property
    def size(self) -> int:
        """The number of points before the constraint and the cap."""
        return math.prod(len(v) for v in self.params.values())

    def points(self, node=None, specs=None, cap: int | None = None) -> list[dict]:
        """The points to time for ``node`` at ``specs``: the constraint's survivors, nearest the default first, at
        most ``cap``. Without specs (nothing known about shapes) the constraint is not applied."""
        names = list(self.params)
        base = self.default
        pts = [dict(zip(names, combo)) for combo in itertools.product(*self.params.values())]
        if self.constraint is not None and specs is not None:
            pts = [p for p in pts if self.constraint(p, node, specs)]
        pts = [p for _, p in sorted(enumerate(pts), key=lambda ip: (_distance(ip[1], base), ip[0]))]
        return pts if cap is None else pts[:cap]

    def check(self, point) -> str | None:
        """Why ``point`` is not a point of this space, or None when it is."""
        if not isinstance(point, dict):
            return f"a tuning point is a {{name: value}} object, got {type(point).__name__}"
        if set(point) != set(self.params):
            return f"its parameters {sorted(point)} are not the tactic's {sorted(self.params)}"
        for k, v in point.items():
            if not any(type(v) is type(c) and v == c for c in self.params[k]):
                return f"{k}={v!r} is not one of the candidates {list(self.params[k])}"
        return None

    def resolve(self, point, where: str) -> dict:
        """``point`` checked against the space (None: the default). Raises ValueError naming ``where``."""
        if point is None:
            return self.default
        why = self.check(point)
        if why is not None:
            raise ValueError(f"{where}: tuning point {point!r} does not fit the tactic's space: {why}; rebuild the "
                             f"plan with this inferrt")
        return dict(point)


def _distance(point: dict, base: dict) -> int:
    return sum(point[k] != base[k] for k in point)


def describe(point: dict | None) -> str:
    """``BLOCK=1024, num_warps=4``: a point for logs and the inspector (empty for ``{}`` or None)."""
    return ", ".join(f"{k}={v}" for k, v in (point or {}).items())


def label(tactic: str, point: dict | None) -> str:
    """``triton_pointwise(BLOCK=1024, num_warps=4)``, or the bare name for a tactic without parameters."""
    return f"{tactic}({describe(point)})" if point else tactic
