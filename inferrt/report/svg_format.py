"""Small text helpers shared by the report's SVG and HTML writers."""
from __future__ import annotations

from html import escape


def esc(v) -> str:
    return escape(str(v), quote=True)


def fmt_bytes(n) -> str:
    if n is None:
        return "-"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"


def fmt_ms(ms) -> str:
    return "-" if ms is None else f"{ms:.4g} ms"


def clip(text: str, n: int) -> str:
    """``text`` cut to ``n`` characters with an ellipsis (SVG text does not wrap)."""
    return text if len(text) <= n else text[:n - 1] + "\u2026"


def num(v: float) -> str:
    """A coordinate for SVG: at most one decimal."""
    return f"{v:.1f}".rstrip("0").rstrip(".")
