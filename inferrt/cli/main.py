"""``inferrt`` command line. ``inferrt exec`` builds (or loads) an engine, runs it and reports as trtexec does;
``run``, ``inspect``, ``surgeon``, ``debug reduce`` and ``check lint`` are Polygraphy's workflows on inferrt.

Start-up imports only argparse: torch and the engine code are imported by the command that needs them.
"""
from __future__ import annotations

import argparse
import sys


#: subcommands besides exec: name -> (module in inferrt/cli, function adding its parser); the module's
#: ``cmd_<name>(args)`` runs it. A new command adds one row here.
_TOOL_COMMANDS = {
    "run": ("run_cmd", "add_run_parser"),
    "surgeon": ("surgeon_cmd", "add_surgeon_parser"),
    "inspect": ("inspect_cmd", "add_inspect_parser"),
    "check": ("check_cmd", "add_check_parser"),
    "debug": ("debug_cmd", "add_debug_parser"),
    "autocast": ("autocast_cmd", "add_autocast_parser"),
    "quantize": ("quantize_cmd", "add_quantize_parser"),
    "report": ("report_cmd", "add_report_parser"),
    "serve": ("serve_cmd", "add_serve_parser"),
}


def _tool_module(name: str):
    import importlib

    return importlib.import_module(f"{__package__}.{name}")


def main(argv=None) -> int:
    from .exec_args import add_exec_arguments

    p = argparse.ArgumentParser(prog="inferrt", description="inferrt: build and run inference engines",
                                allow_abbrev=False)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("exec", allow_abbrev=False,
                       help="trtexec: build (or load) an engine, run it and report its performance "
                            "(without --onnx/--loadEngine: the built-in MNIST CNN)")
    add_exec_arguments(e)
    for module, adder in _TOOL_COMMANDS.values():
        getattr(_tool_module(module), adder)(sub)
    args = p.parse_args(argv)
    if args.cmd == "exec":
        from .exec_cmd import cmd_exec

        return cmd_exec(args)
    if args.cmd in _TOOL_COMMANDS:
        args.argv = list(sys.argv[1:] if argv is None else argv)   # echoed in the tools' PASSED/FAILED lines
        return getattr(_tool_module(_TOOL_COMMANDS[args.cmd][0]), f"cmd_{args.cmd}")(args)
    raise AssertionError(args.cmd)  # pragma: no cover - argparse allows only the commands above


if __name__ == "__main__":
    sys.exit(main())
