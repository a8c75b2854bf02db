"""``inferrt debug precision MODEL.onnx --fp16``: Polygraphy's ``debug precision``. Finds the layers that must stay in
FP32 for a reduced-precision build of an FP32 model to meet a tolerance, and reports the minimal set found.

    inferrt debug precision model.onnx --fp16                         # AutoCast node exclusion (strongly typed)
    inferrt debug precision model.onnx --fp16 --layer-precision --device cuda   # layer.precision (TensorRT 10)
    inferrt debug precision model.onnx --int8 --calibration-method entropy --mode linear
    inferrt debug precision model.onnx --bf16 --check "inferrt run {model} --reference onnxrt --atol 1e-2"

The built-in check builds each candidate on --device (TF32 off) and compares its outputs on the inputs (generated,
or --load-inputs) with the FP32 engine's: relative L2 error at most --max-rel-l2 per output, and with --atol/--rtol
no element over both. ``--check CMD`` runs a command on each candidate model instead ('{model}' is replaced by its
path; exit status 0 passes). The search (inferrt/tools/precision_search.py) bisects or walks the layer order, then
tries each layer of the set found back in reduced precision. Exit status 0 when a set was found (printed, and the
model with it saved with -o), 1 when even the all-FP32 model fails, 2 on a usage or build error.
"""
from __future__ import annotations

import os
import shlex
import subprocess

from .tool_args import ExecArgError, add_input_args, fail, parse_shape_spec, parse_val_ranges, resolve, say, warn

DEFAULT_ARTIFACT = "inferrt_debug_precision.onnx"


def add_precision_parser(s) -> None:
    p = s.add_parser("precision", allow_abbrev=False,
                     help="find the layers that must run in FP32 for a reduced-precision build to pass")
    p.add_argument("model", help="FP32 ONNX model")
    g = p.add_mutually_exclusive_group(required=True)
    for flag in ("fp16", "bf16", "int8", "fp8"):
        g.add_argument(f"--{flag}", dest="precision", action="store_const", const=flag,
                       help=f"reduce to {flag.upper()}")
    p.add_argument("--layer-precision", action="store_true",
                   help="fp16/bf16: keep layers FLOAT with layer.precision and BuilderFlag.FP16/BF16 (TensorRT 10; "
                        "GPU) instead of AutoCast node exclusion")
    p.add_argument("--calibration-method", choices=("max", "entropy", "percentile", "mse"), default=None,
                   help="int8/fp8 calibration method (default: entropy for int8, max for fp8)")
    p.add_argument("--mode", choices=("bisect", "linear"), default="bisect", help="search strategy (bisect)")
    p.add_argument("--direction", choices=("forward", "reverse"), default="forward",
                   help="forward: keep layers FP32 from the inputs on; reverse: from the outputs back")
    p.add_argument("--no-minimize", action="store_true",
                   help="report the bisect/linear prefix without trying its layers back in reduced precision")
    p.add_argument("--device", default=None, help="cpu, cuda or auto (default)")
    p.add_argument("--cpu", action="store_true", help="same as --device cpu")
    p.add_argument("--max-rel-l2", type=float, default=1e-2,
                   help="largest relative L2 error of an output against FP32 (default 1e-2)")
    p.add_argument("--atol", type=float, default=None, help="with --rtol: also fail an element over both")
    p.add_argument("--rtol", type=float, default=None, help="with --atol: also fail an element over both")
    p.add_argument("--check", default=None,
                   help="command run on each candidate model instead of the built-in comparison ('{model}' is "
                        "replaced by its path; exit 0 passes)")
    p.add_argument("--iter-artifact", default=DEFAULT_ARTIFACT,
                   help=f"where each candidate is written for --check (default {DEFAULT_ARTIFACT})")
    p.add_argument("--show-output", action="store_true", help="print each --check command's output")
    p.add_argument("-o", "--output", default=None, help="save the model with the set found kept in FP32")
    add_input_args(p, "inputs from a .json or .npz file instead of generated data")


def _target(args):
    from ..tools.precision_candidates import Target

    way = "quantize" if args.precision in ("int8", "fp8") else "autocast"
    if args.layer_precision:
        if way == "quantize":
            raise ExecArgError("--layer-precision applies to --fp16/--bf16; --int8/--fp8 exclude nodes from "
                               "quantization")
        if args.check:
            raise ExecArgError("--check runs a command on candidate ONNX models; with --layer-precision the "
                               "candidates are networks: drop one of them")
        way = "layer-precision"
    if args.calibration_method and way != "quantize":
        raise ExecArgError("--calibration-method applies to --int8/--fp8")
    if (args.atol is None) != (args.rtol is None):
        raise ExecArgError("--atol and --rtol go together (an element fails when over both)")
    device = resolve(args.device, args.cpu)
    if way == "layer-precision" and device == "cpu":
        raise ExecArgError("--layer-precision needs the GPU: inferrt's CPU layers run in FLOAT whatever the flags; "
                           "use --device cuda, or drop --layer-precision to use AutoCast (runs on the CPU)")
    return Target(args.precision, way, device, args.calibration_method)


def _feeds(args, model) -> list:
    from .run_cmd import _feeds as run_feeds

    if args.iterations < 1:
        raise ExecArgError("--iterations must be at least 1")
    args.range_spec = parse_val_ranges(args.val_range)
    args.shape_spec = parse_shape_spec("--input-shapes", args.input_shapes)
    return run_feeds(args, model)


def _command_passes(args, model_for):
    argv = shlex.split(args.check)
    if not argv:
        raise ExecArgError("--check: the command is empty")
    artifact = os.path.abspath(args.iter_artifact)

    def passes(fp32_nodes) -> bool:
        from ..tools.onnx_graph import save_model

        save_model(model_for(fp32_nodes), artifact)
        cmd = [a.replace("{model}", artifact) for a in argv]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True)
        except OSError as e:
            raise ExecArgError(f"--check: cannot run {cmd[0]!r}: {e.strerror}") from None
        if args.show_output:
            print(proc.stdout + proc.stderr, end="")
        return proc.returncode == 0

    return passes


def cmd_debug_precision(args) -> int:
    from ..builder.accuracy_check import AccuracyCheck
    from ..errors import InferrtError
    from ..tools import precision_candidates as pc
    from ..tools.onnx_graph import load_model, save_model
    from ..tools.precision_search import search

    try:
        target = _target(args)
        tolerance = AccuracyCheck(max_rel_l2=args.max_rel_l2, atol=args.atol, rtol=args.rtol)
    except ExecArgError as e:
        return fail(str(e))
    except ValueError as e:
        return fail(str(e).replace("AccuracyCheck.", "--").replace("_", "-"))
    try:
        model = load_model(args.model)
        feeds = _feeds(args, model)
        layers = pc.candidates(model, target, feeds)
        say(f"{len(layers)} candidate layer(s) for FP32 ({target.precision}, {target.way}, {target.device})")
        if args.check:
            passes = _command_passes(args, lambda s: pc.converted_model(model, target, feeds, s))
        else:
            want = pc.run(pc.build(model, None, feeds, device=target.device), feeds)

            def passes(fp32_nodes):
                got = pc.run(pc.build(model, target, feeds, fp32_nodes), feeds)
                return all(e.passed for e in pc.compare(got, want, tolerance))

        res = search(layers, passes, args.mode, args.direction, not args.no_minimize, log=say)
        if args.output and target.way != "layer-precision":
            save_model(pc.converted_model(model, target, feeds, res.fp32_layers), args.output)
            say(f"Saved the model with {len(res.fp32_layers)} layer(s) kept in FP32 to {args.output}")
        elif args.output:
            warn("-o: with --layer-precision there is no ONNX model to save; the layers are listed below")
    except ExecArgError as e:
        return fail(str(e))
    except (InferrtError, ValueError, TypeError) as e:
        return fail(str(e))
    say(f"{res.checks} check(s), {args.mode} mode ({args.direction}): the first {res.prefix} layer(s) in FP32 "
        f"passed" if res.all_fp32_passes else f"{res.checks} check(s)")
    if not res.all_fp32_passes:
        say(f"FAILED | even with every candidate layer in FP32 the check fails: loosen the tolerance "
            f"(--max-rel-l2 {args.max_rel_l2}) or check the model")
        return 1
    if not res.fp32_layers:
        say("PASSED | no layer needs FP32: the whole model passes in " + target.precision)
        return 0
    say(f"PASSED | Minimal set of layers to keep in FP32 ({len(res.fp32_layers)}): "
        f"{', '.join(res.fp32_layers)}")
    return 0
