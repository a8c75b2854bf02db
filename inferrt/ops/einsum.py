"""Einsum (IEinsumLayer): torch.einsum with the equation checked against the inputs' ranks at build time."""
from __future__ import annotations

import torch

from ..dtypes import FLOAT_TYPES as _FLOATS
from ..enums import LayerType
from .base import STR, OpDef, OpError, Spec, register


def parse_equation(equation: str, ranks: list[int]):
    """Split ``equation`` into per-input subscripts and the output subscripts (explicit or implicit).

    Each subscript is a list of letters and "..." (at most one per term). Raises OpError naming the problem.
    """
    eq = equation.replace(" ", "")
    if not eq:
        raise OpError("the equation is empty; write it like 'ij,jk->ik'")
    if eq.count("->") > 1:
        raise OpError(f"equation {equation!r} has more than one '->'")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise OpError(f"equation {equation!r} has {len(terms)} input term(s) but the layer has {len(ranks)} "
                      f"input(s); give one comma-separated term per input")

    def split(term, where):
        if term.count("...") > 1 or "." in term.replace("...", ""):
            raise OpError(f"{where} {term!r} of equation {equation!r} has a malformed ellipsis")
        out = []
        i = 0
        while i < len(term):
            if term.startswith("...", i):
                out.append("...")
                i += 3
                continue
            ch = term[i]
            if not ch.isalpha() or not ch.isascii():
                raise OpError(f"{where} {term!r} of equation {equation!r} holds {ch!r}; subscripts must be letters")
            out.append(ch)
            i += 1
        return out

    subs = [split(t, f"term {k}") for k, t in enumerate(terms)]
    ell_ranks = []
    for k, (s, r) in enumerate(zip(subs, ranks)):
        letters = len([c for c in s if c != "..."])
        if "..." in s:
            if letters > r:
                raise OpError(f"term {k} {terms[k]!r} names {letters} dims but input {k} has rank {r}")
            ell_ranks.append(r - letters)
        elif letters != r:
            raise OpError(f"term {k} {terms[k]!r} names {letters} dims but input {k} has rank {r}; "
                          f"use one letter per dimension")
    if arrow:
        out = split(rhs, "output")
        seen = set()
        for c in out:
            if c != "..." and c in seen:
                raise OpError(f"output {rhs!r} of equation {equation!r} repeats {c!r}")
            seen.add(c)
            if c != "..." and not any(c in s for s in subs):
                raise OpError(f"output {rhs!r} of equation {equation!r} names {c!r}, which no input term has")
        if "..." in out and not any("..." in s for s in subs):
            raise OpError(f"output {rhs!r} of equation {equation!r} has '...' but no input term has")
    else:
        counts = {}
        for s in subs:
            for c in s:
                if c != "...":
                    counts[c] = counts.get(c, 0) + 1
        out = (["..."] if any("..." in s for s in subs) else []) + sorted(c for c, n in counts.items() if n == 1)
    return subs, out, ell_ranks


@register
class Einsum(OpDef):
    kind = "einsum"
    layer_type = LayerType.EINSUM
    attrs = {"equation": (STR, "")}
    inputs = ("inputs",)

    def infer(self, a, ins):
        if not ins or any(i is None for i in ins):
            raise OpError("needs at least one input")
        for k, s in enumerate(ins):
            if s.dtype != ins[0].dtype:
                raise OpError(f"input {k} has type {s.dtype.name} but input 0 has {ins[0].dtype.name}; "
                              f"add cast layers so all inputs have one type")
        if ins[0].dtype not in _FLOATS:
            raise OpError(f"input type {ins[0].dtype.name} is not supported; einsum takes FLOAT, HALF or BF16")
        ranks = [s.rank for s in ins]
        subs, out, ell_ranks = parse_equation(a.equation, ranks)
        sizes: dict[str, int] = {}
        ell = []
        for k, (s, spec) in enumerate(zip(subs, ins)):
            dims = list(spec.shape)
            if "..." in s:
                p = s.index("...")
                n = ranks[k] - (len(s) - 1)
                e = dims[p:p + n]
                ell.append(e)
                dims = dims[:p] + [None] + dims[p + n:]
            for c, d in zip(s, dims):
                if c == "...":
                    continue
                old = sizes.get(c, -1)
                if d >= 0 and old >= 0 and d != old and 1 not in (d, old):
                    raise OpError(f"subscript {c!r} has size {old} in one place and {d} in input {k} "
                                  f"{tuple(spec.shape)} (equation {a.equation!r})")
                if old < 0 or old == 1:
                    sizes[c] = d
        shape = []
        for c in out:
            if c == "...":
                n = max(ell_ranks) if ell_ranks else 0
                padded = [[1] * (n - len(e)) + list(e) for e in ell]
                for i in range(n):
                    col = [p[i] for p in padded]
                    known = {v for v in col if v not in (1, -1)}
                    if len(known) > 1:
                        raise OpError(f"the '...' dims {[tuple(e) for e in ell]} cannot be broadcast")
                    shape.append(known.pop() if known else (-1 if -1 in col else 1))
            else:
                shape.append(sizes[c])
        return [Spec(ins[0].dtype, tuple(shape))]

    def run(self, a, ins, outs):
        return [torch.einsum(a.equation.replace(" ", ""), *ins)]
