"""``inferrt`` command line. ``inferrt exec`` builds (or loads) an engine, runs it and reports as trtexec does.

Start-up imports only argparse: torch and the engine code are imported by the command that needs them.
"""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    from .exec_args import add_exec_arguments

    p = argparse.ArgumentParser(prog="inferrt", description="inferrt: build and run inference engines",
                                allow_abbrev=False)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("exec", allow_abbrev=False,
                       help="trtexec: build (or load) an engine, run it and report its performance "
                            "(without --onnx/--loadEngine: the built-in MNIST CNN)")
    add_exec_arguments(e)
    from .autocast_cmd import register as register_autocast
    register_autocast(sub)
    args = p.parse_args(argv)
    if getattr(args, "run", None) is not None:   # commands registered with set_defaults(run=...)
        return args.run(args)
    if args.cmd == "exec":
        from .exec_cmd import cmd_exec

        return cmd_exec(args)
    raise AssertionError(args.cmd)  # pragma: no cover - argparse allows only the commands above


if __name__ == "__main__":
    sys.exit(main())
