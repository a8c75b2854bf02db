"""``inferrt check lint MODEL.onnx``: static checks of an ONNX model (onnx.checker, shape inference, dangling and
unused tensors, ops inferrt cannot import), printed as text or written as Polygraphy's lint JSON; exits 1 when any
check reports an exception-level problem."""
from __future__ import annotations

import json

from .tool_args import fail, say, warn


def add_check_parser(sub) -> None:
    p = sub.add_parser("check", allow_abbrev=False, help="Polygraphy's check: lint an ONNX model")
    s = p.add_subparsers(dest="check_cmd", required=True)
    lint = s.add_parser("lint", allow_abbrev=False, help="static checks of an ONNX model, nothing is run")
    lint.add_argument("model", help="ONNX model")
    lint.add_argument("-o", "--output", help="write the report as JSON to this file")
    lint.add_argument("--json", action="store_true", help="print the JSON report instead of text")


def cmd_check(args) -> int:
    from ..errors import InferrtError
    from ..tools.lint import lint
    from ..tools.onnx_graph import load_model

    try:
        report = lint(load_model(args.model))
    except InferrtError as e:
        return fail(str(e))
    if args.output:
        try:
            with open(args.output, "w") as f:
                json.dump(report, f, indent=1)
        except OSError as e:
            return fail(f"cannot write {args.output!r}: {e.strerror}")
    entries = report["lint_entries"]
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        for e in entries:
            where = f" [nodes: {', '.join(e['nodes'])}]" if e["nodes"] else ""
            line = f"LINT | {e['source']} | {e['message']}{where}"
            (say if e["level"] == "info" else warn)(line) if e["level"] != "exception" else print(f"[E] {line}")
        s = report["summary"]
        say(f"Lint summary: {len(s['passing'])} node(s) passing, {len(s['failing'])} failing; "
            f"{sum(e['level'] == 'exception' for e in entries)} exception(s), "
            f"{sum(e['level'] == 'warning' for e in entries)} warning(s)")
    if args.output:
        say(f"Saved the lint report to {args.output}")
    failed = any(e["level"] == "exception" for e in entries)
    if not args.json:
        say("FAILED" if failed else "PASSED")
    return 1 if failed else 0
