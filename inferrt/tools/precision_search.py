"""The search of ``inferrt debug precision`` (Polygraphy's ``debug precision``): which layers must stay in FP32 for a
reduced-precision model to pass a check.

    layers, in topological order (``direction="reverse"``: from the outputs back)
    bisect:  the smallest N such that the first N layers in FP32 pass, by binary search (log2(n) checks)
    linear:  N = 0, 1, 2, ... until the first N layers in FP32 pass (n checks at most)
    then:    each of those N layers is tried back in reduced precision, one at a time, and stays there when the
             check still passes: the set left is minimal (no single layer of it can go back)

``passes(fp32_layers)`` is the check: True when the model with those layers in FP32 (the others reduced) passes.
The search first checks that every layer in FP32 passes (else no set can: the tolerance is too tight or the check
fails for another reason) and that no layer in FP32 fails (else nothing needs FP32).
"""
from __future__ import annotations

import dataclasses

MODES = ("bisect", "linear")
DIRECTIONS = ("forward", "reverse")


@dataclasses.dataclass
class SearchResult:
    fp32_layers: list          # the minimal set found, in the candidates' order ([] when nothing needs FP32)
    prefix: int                # N: how many layers (in search order) the bisect / linear phase needed
    checks: int                # how many times the check ran
    history: list              # [(number of FP32 layers, passed)] in the order they ran
    all_fp32_passes: bool      # False: even the all-FP32 model fails (fp32_layers is then every layer)


class PrecisionSearchError(Exception):
    pass


def search(layers: list, passes, mode: str = "bisect", direction: str = "forward", minimize: bool = True,
           log=lambda msg: None) -> SearchResult:
    if mode not in MODES:
        raise PrecisionSearchError(f"mode must be one of {MODES}, got {mode!r}")
    if direction not in DIRECTIONS:
        raise PrecisionSearchError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    order = list(layers) if direction == "forward" else list(reversed(layers))
    history: list = []

    def check(fp32: list) -> bool:
        ok = bool(passes(list(fp32)))
        history.append((len(fp32), ok))
        log(f"    {len(fp32)} layer(s) in FP32 -> {'passed' if ok else 'FAILED'}")
        return ok

    def result(found, prefix, all_ok=True):
        keep = set(found)
        return SearchResult([n for n in layers if n in keep], prefix, len(history), history, all_ok)

    log(f"Checking with all {len(order)} candidate layer(s) in FP32")
    if not check(order):
        return result(order, len(order), all_ok=False)
    log("Checking with no layer in FP32")
    if check([]):
        return result([], 0)
    if mode == "bisect":
        lo, hi = 0, len(order)      # the first lo layers fail, the first hi pass
        while hi - lo > 1:
            mid = (lo + hi) // 2
            log(f"Bisecting: the first {mid} of {len(order)} layer(s) in FP32")
            if check(order[:mid]):
                hi = mid
            else:
                lo = mid
        prefix = hi
    else:
        prefix = len(order)
        for n in range(1, len(order)):
            log(f"Linear: the first {n} layer(s) in FP32 (adding {order[n - 1]!r})")
            if check(order[:n]):
                prefix = n
                break
    found = order[:prefix]
    if minimize:
        for name in list(found):
            if len(found) == 1:
                break       # the empty set is known to fail
            trial = [n for n in found if n != name]
            log(f"Minimizing: {name!r} back in reduced precision")
            if check(trial):
                found = trial
    return result(found, prefix)
