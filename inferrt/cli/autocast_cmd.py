"""``inferrt autocast MODEL``: convert an FP32 ONNX model to mixed FP16/BF16 (Model Optimizer's ``python -m
modelopt.onnx.autocast``: its option names, with underscores, are accepted too) and print what stayed FP32 and why.

    inferrt autocast model.onnx -o model.fp16.onnx --calibration-data inputs.npz --keep-io-types
    inferrt autocast model.onnx --low-precision-type bf16 --op-types-to-exclude Resize --json
"""
from __future__ import annotations

import argparse
import os

from .onnx_tool import fail, model_path, opt, write_result


def _number(text):
    v = float(text)    # accepts "inf", as Model Optimizer's --data_max inf
    if not v > 0:
        raise ValueError(text)
    return v


def add_autocast_arguments(p) -> None:
    p.add_argument("model", nargs="?", help="the FP32 ONNX model")
    p.add_argument("--onnx_path", dest="onnx_path", help="the FP32 ONNX model (Model Optimizer's spelling)")
    p.add_argument(*opt("--output", "--output-path"), "-o", dest="output",
                   help="where to write the converted model (default: next to the model, <name>.<fp16|bf16>.onnx)")
    p.add_argument(*opt("--low-precision-type"), dest="low_precision_type", choices=["fp16", "bf16"],
                   default="fp16", help="the low precision type (default fp16)")
    p.add_argument(*opt("--calibration-data"), dest="calibration_data",
                   help=".npz of the model's inputs ({input name: array}); without it, random inputs (a warning)")
    p.add_argument(*opt("--nodes-to-exclude"), dest="nodes_to_exclude", nargs="+", default=[], metavar="NAME",
                   help="node names or regular expressions (matched from the start) kept in FP32")
    p.add_argument(*opt("--op-types-to-exclude"), dest="op_types_to_exclude", nargs="+", default=[],
                   metavar="OP", help="op types kept in FP32")
    p.add_argument(*opt("--nodes-to-include"), dest="nodes_to_include", nargs="+", default=[], metavar="NAME",
                   help="node names or regular expressions forced to low precision (over the range rules)")
    p.add_argument(*opt("--op-types-to-include"), dest="op_types_to_include", nargs="+", default=[],
                   metavar="OP", help="op types forced to low precision (over the range rules)")
    p.add_argument(*opt("--data-max"), dest="data_max", type=_number, default=512.0,
                   help="largest |value| a low precision node may read or write (default 512; inf: no check)")
    p.add_argument(*opt("--init-max"), dest="init_max", type=_number, default=65504.0,
                   help="largest |initializer value| a low precision node may read (default 65504)")
    p.add_argument(*opt("--max-depth-of-reduction"), dest="max_depth_of_reduction", type=int, default=None,
                   help="largest reduction depth (GEMM K, conv C x kernel, reduced axes) kept in low precision")
    p.add_argument(*opt("--init-conversion-max-bytes"), dest="init_conversion_max_bytes", type=int,
                   default=None, help="initializers larger than this get a Cast node instead of being converted")
    p.add_argument(*opt("--keep-io-types"), dest="keep_io_types", action="store_true",
                   help="keep the graph's inputs and outputs float32")
    p.add_argument("--keep-norm-variance", dest="keep_norm_variance", action=argparse.BooleanOptionalAction,
                   default=True, help="keep the variance path of decomposed LayerNorm/RMSNorm (x^2 -> ReduceMean -> "
                                      "Sqrt) in FP32 (default: on)")
    p.add_argument("--opset", type=int, default=None,
                   help="the output's opset (default: the model's, at least 13 for fp16 and 22 for bf16)")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of text")
    p.add_argument("--report", metavar="PATH", help="also write the JSON report to PATH")


def add_autocast_parser(subparsers) -> None:
    """Add ``inferrt autocast`` to the command line's subcommands."""
    p = subparsers.add_parser("autocast", allow_abbrev=False,
                              help="AutoCast: FP32 ONNX to mixed FP16/BF16 ONNX, with a report of what stayed FP32")
    add_autocast_arguments(p)


def default_output(model: str, low: str) -> str:
    stem, _ = os.path.splitext(model)
    return f"{stem}.{low}.onnx"


def cmd_autocast(args) -> int:
    import warnings

    model, status = model_path(args, "autocast")
    if model is None:
        return status
    from ..errors import InferrtError
    from ..autocast import autocast

    output = args.output or default_output(model, args.low_precision_type)
    with warnings.catch_warnings(record=True):   # the report lists them; printed once below
        warnings.simplefilter("always")
        try:
            result = autocast(model, low_precision_type=args.low_precision_type,
                              nodes_to_exclude=args.nodes_to_exclude, op_types_to_exclude=args.op_types_to_exclude,
                              nodes_to_include=args.nodes_to_include, op_types_to_include=args.op_types_to_include,
                              data_max=args.data_max, init_max=args.init_max, keep_io_types=args.keep_io_types,
                              calibration_data=args.calibration_data,
                              max_depth_of_reduction=args.max_depth_of_reduction,
                              init_conversion_max_bytes=args.init_conversion_max_bytes, opset=args.opset,
                              keep_norm_variance=args.keep_norm_variance)
        except (InferrtError, ValueError, TypeError) as e:
            return fail(str(e))
    return write_result(result, output, args)
