"""Importer registry keyed by (domain, op_type, since_opset).

An importer is ``fn(ctx, node) -> list[ITensor | None]`` (one entry per ONNX output, in order). It only builds
network layers through ``ctx.network`` (TensorRT's API); it never runs math on tensors or touches devices.

    @importer("Softmax", since=13)
    def softmax_13(ctx, node):
        x = ctx.tensor(node.inputs[0])
        ...
        return [layer.get_output(0)]

For an op whose meaning changed across opsets, register one importer per ``since`` version; the parser picks the
one with the largest ``since`` <= the model's opset for that domain. Raise ``ImportFailure(code, message)`` for
unsupported attributes or inputs; the parser records it as a ParserError naming the node.
"""
from __future__ import annotations

import functools
from typing import Callable

from ..enums import ParserErrorCode
from ..package_modules import import_submodules

IMPORTERS: dict[tuple[str, str], list[tuple[int, Callable]]] = {}


class ImportFailure(Exception):
    def __init__(self, code: ParserErrorCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def importer(op_type: str, since: int = 1, domain: str = ""):
    """Register an importer for ``op_type`` from opset ``since`` on (domain "" = ai.onnx)."""
    domain = "" if domain in ("", "ai.onnx") else domain

    def deco(fn):
        lst = IMPORTERS.setdefault((domain, op_type), [])
        if any(s == since for s, _ in lst):
            raise RuntimeError(f"two importers for {domain or 'ai.onnx'}::{op_type} since opset {since}")
        lst.append((since, _with_node(fn)))
        lst.sort(key=lambda e: e[0])
        return fn

    return deco


def _with_node(fn):
    """``fn`` run with ``ctx.node`` set to the node it imports (the context's helpers name it in their errors),
    also when an importer is called without the parser."""

    @functools.wraps(fn)
    def run(ctx, node):
        saved = ctx.node
        ctx.node = node
        try:
            return fn(ctx, node)
        finally:
            ctx.node = saved

    return run


def lookup(domain: str, op_type: str, opset: int):
    """The importer for ``op_type`` at ``opset``, or None."""
    _load_all()
    domain = "" if domain in ("", "ai.onnx") else domain
    best = None
    for since, fn in IMPORTERS.get((domain, op_type), []):
        if since <= opset:
            best = fn
    return best


def supported_ops(domain: str = "") -> set[str]:
    _load_all()
    return {op for (d, op) in IMPORTERS if d == domain}


def _load_all():
    import_submodules(f"{__package__}.importers", lambda name: not name.startswith("_"))
