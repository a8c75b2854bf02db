"""``inferrt debug reduce MODEL.onnx -o reduced.onnx``: bisect a failing model down to a small failing subgraph.
(``inferrt debug precision``, the layers that need FP32, is in debug_precision.py.)

The check is a command (``--check "inferrt run {model} --atol 1e-4"``; ``{model}`` is replaced by the candidate's
path, else the command reads ``--iter-artifact``) that fails (a non-zero exit, or ``--fail-code`` /
``--fail-regex``) while the failure reproduces, or a Python function (``--check-py checks.py:fails`` or
``package.module:fails``) taking an onnx.ModelProto and returning True while it reproduces.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess

from .tool_args import ExecArgError, fail, say

DEFAULT_ARTIFACT = "inferrt_debug.onnx"


def add_debug_parser(sub) -> None:
    p = sub.add_parser("debug", allow_abbrev=False,
                       help="Polygraphy's debug: reduce a failing model, find the layers that need FP32")
    s = p.add_subparsers(dest="debug_cmd", required=True)
    r = s.add_parser("reduce", allow_abbrev=False, help="bisect to the smallest failing subgraph")
    r.add_argument("model", help="ONNX model that fails the check")
    r.add_argument("-o", "--output", required=True, help="where to write the reduced model")
    g = r.add_mutually_exclusive_group(required=True)
    g.add_argument("--check", help="command run on each candidate; '{model}' is replaced by its path")
    g.add_argument("--check-py", help="FILE.py:FUNCTION or MODULE:FUNCTION, called with the candidate ModelProto; "
                                      "returns True when it fails")
    r.add_argument("--iter-artifact", default=DEFAULT_ARTIFACT,
                   help=f"where each candidate is written for --check (default {DEFAULT_ARTIFACT})")
    r.add_argument("--fail-code", type=int, default=None,
                   help="with --check: only this exit status counts as failing (default: any non-zero)")
    r.add_argument("--fail-regex", default=None,
                   help="with --check: the failure must also print a line matching this regular expression")
    r.add_argument("--mode", choices=("bisect",), default="bisect", help="reduction strategy (bisect)")
    r.add_argument("--show-output", action="store_true", help="print each check's output")
    from .debug_precision import add_precision_parser

    add_precision_parser(s)


def _command_check(args):
    argv = shlex.split(args.check)
    if not argv:
        raise ExecArgError("--check: the command is empty")
    try:
        regex = re.compile(args.fail_regex) if args.fail_regex else None
    except re.error as e:
        raise ExecArgError(f"--fail-regex: {e}") from None
    artifact = os.path.abspath(args.iter_artifact)
    if not any("{model}" in a for a in argv):
        say(f"The check command does not name '{{model}}': each candidate is written to {artifact}")

    def fails(model) -> bool:
        from ..tools.onnx_graph import save_model

        save_model(model, artifact)
        cmd = [a.replace("{model}", artifact) for a in argv]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True)
        except OSError as e:
            raise ExecArgError(f"--check: cannot run {cmd[0]!r}: {e.strerror}") from None
        out = proc.stdout + proc.stderr
        if args.show_output:
            print(out, end="")
        failed = proc.returncode != 0 if args.fail_code is None else proc.returncode == args.fail_code
        if failed and regex is not None:
            failed = any(regex.search(line) for line in out.splitlines())
        say(f"    check: exit status {proc.returncode} -> {'FAILED' if failed else 'passed'} "
            f"({len(model.graph.node)} node(s))")
        return failed

    return fails


def _python_check(spec: str):
    import importlib
    import importlib.util

    target, sep, func = spec.rpartition(":")
    if not sep or not target or not func:
        raise ExecArgError(f"--check-py: {spec!r} is not like checks.py:function or package.module:function")
    if target.endswith(".py"):
        if not os.path.isfile(target):
            raise ExecArgError(f"--check-py: no file {target!r}")
        mod_spec = importlib.util.spec_from_file_location("inferrt_reduce_check", target)
        module = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as e:
            raise ExecArgError(f"--check-py: cannot import {target!r}: {e}") from None
    fn = getattr(module, func, None)
    if not callable(fn):
        raise ExecArgError(f"--check-py: {target!r} has no function {func!r}")
    return fn


def cmd_debug(args) -> int:
    if args.debug_cmd == "precision":
        from .debug_precision import cmd_debug_precision

        return cmd_debug_precision(args)
    from ..errors import InferrtError
    from ..tools.onnx_graph import load_model, node_label, save_model
    from ..tools.reduce_model import reduce_model

    try:
        if args.check_py and (args.fail_code is not None or args.fail_regex):
            raise ExecArgError("--fail-code / --fail-regex apply to --check commands, not --check-py")
        fails = _command_check(args) if args.check else _python_check(args.check_py)
        model = load_model(args.model)
        say(f"Reducing {args.model} ({len(model.graph.node)} node(s)) by bisection")
        res = reduce_model(model, fails, log=say)
        save_model(res.model, args.output)
    except ExecArgError as e:
        return fail(str(e))
    except InferrtError as e:
        return fail(str(e))
    nodes = [f"{node_label(n, k)} ({n.op_type})" for k, n in enumerate(res.model.graph.node)]
    say(f"Reduced to {len(nodes)} node(s) after {res.checks} check(s): {', '.join(nodes)}")
    from ..tools.onnx_graph import graph_inputs

    say(f"Inputs: {[v.name for v in graph_inputs(res.model.graph)]} | Outputs: "
        f"{[o.name for o in res.model.graph.output]}")
    say(f"Saved the reduced model to {args.output}")
    return 0
