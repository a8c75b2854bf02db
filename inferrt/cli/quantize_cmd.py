"""``inferrt quantize MODEL``: post-training quantization to explicit Q/DQ ONNX (Model Optimizer's ``python -m
modelopt.onnx.quantization``: its option names, with underscores, are accepted too), printing what was quantized.

    inferrt quantize model.onnx --mode int8 --calibration-method entropy --calibration-data cal.npz \\
        --calibration-cache model.calib.json -o model.int8.onnx
    inferrt quantize llm.onnx --mode int4_awq --block-size 128 --calibration-data cal.npz
"""
from __future__ import annotations

from .onnx_tool import fail, model_path, opt, write_result


def _percent(text):
    v = float(text)
    if not 50 < v <= 100:
        raise ValueError(text)
    return v


def add_quantize_arguments(p) -> None:
    from ..quantize.options import METHODS, MODES

    p.add_argument("model", nargs="?", help="the FP32 ONNX model")
    p.add_argument("--onnx_path", dest="onnx_path", help="the FP32 ONNX model (Model Optimizer's spelling)")
    p.add_argument(*opt("--output", "--output-path"), "-o", dest="output",
                   help="where to write the quantized model (default: next to the model, <name>.<mode>.onnx)")
    p.add_argument("--mode", *opt("--quantize-mode"), dest="mode", choices=MODES, default="int8",
                   help="int8 (per-channel weights, per-tensor activations), fp8 (E4M3, per tensor), int4_rtn or "
                        "int4_awq (weight-only, blocks along the input channels); default int8")
    p.add_argument(*opt("--calibration-method"), dest="calibration_method", choices=METHODS, default=None,
                   help="activation ranges: max, entropy (TensorRT's KL method), percentile or mse (default: "
                        "entropy for int8, max for fp8)")
    p.add_argument(*opt("--calibration-data"), dest="calibration_data",
                   help=".npz of the model's inputs ({input name: array}, many samples split into batches along "
                        "axis 0); without it, random inputs (a warning)")
    p.add_argument(*opt("--calibration-cache"), dest="calibration_cache", metavar="PATH",
                   help="JSON calibration cache: reused when it exists (refused if made for another model or other "
                        "options), else written")
    p.add_argument(*opt("--batch-size"), dest="batch_size", type=int, default=None,
                   help="rows of the calibration data per batch (default: the model's fixed batch, else all)")
    p.add_argument("--percentile", type=_percent, default=99.99,
                   help="percent of |x| kept by --calibration-method percentile (default 99.99)")
    p.add_argument(*opt("--num-bins"), dest="num_bins", type=int, default=2048,
                   help="histogram bins for entropy / percentile / mse (default 2048)")
    p.add_argument("--smoothquant", action="store_true",
                   help="SmoothQuant the MatMuls with constant weights before int8/fp8 quantization")
    p.add_argument(*opt("--smoothquant-alpha"), dest="smoothquant_alpha", type=float, default=0.5,
                   help="SmoothQuant's migration strength in [0, 1] (default 0.5)")
    p.add_argument(*opt("--block-size"), dest="block_size", type=int, default=128,
                   help="INT4 block size along the input channels (default 128)")
    p.add_argument(*opt("--awq-alpha-grid"), dest="awq_alpha_grid", type=int, default=21,
                   help="points of AWQ-lite's scale search in [0, 1] (default 21)")
    p.add_argument(*opt("--weights-qdq"), dest="weights_qdq", action="store_true",
                   help="keep int8/fp8 weights float under Q/DQ instead of storing them quantized with a DQ")
    p.add_argument(*opt("--nodes-to-exclude"), dest="nodes_to_exclude", nargs="+", default=[], metavar="NAME",
                   help="node names or regular expressions (matched from the start) left unquantized")
    p.add_argument(*opt("--op-types-to-exclude"), dest="op_types_to_exclude", nargs="+", default=[],
                   metavar="OP", help="op types left unquantized")
    p.add_argument("--opset", type=int, default=None,
                   help="the output's opset (default: the model's, at least 13 int8 / 19 fp8 / 21 int4)")
    p.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto",
                   help="calibrate in inferrt's engine on CUDA (cuda), in onnxruntime on the CPU (cpu), or on CUDA "
                        "when there is a GPU (auto, the default)")
    p.add_argument(*opt("--no-progress"), dest="progress", action="store_false",
                   help="no progress bar over the calibration batches")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of text")
    p.add_argument("--report", metavar="PATH", help="also write the JSON report to PATH")


def add_quantize_parser(subparsers) -> None:
    """Add ``inferrt quantize`` to the command line's subcommands."""
    p = subparsers.add_parser("quantize", allow_abbrev=False,
                              help="post-training quantization: FP32 ONNX to INT8/FP8/INT4 Q/DQ ONNX")
    add_quantize_arguments(p)


def cmd_quantize(args) -> int:
    import os
    import warnings

    model, status = model_path(args, "quantize")
    if model is None:
        return status
    from ..errors import InferrtError
    from ..quantize import quantize

    output = args.output or f"{os.path.splitext(model)[0]}.{args.mode}.onnx"
    with warnings.catch_warnings(record=True):   # the report lists them; printed once below
        warnings.simplefilter("always")
        try:
            result = quantize(model, args.mode, args.calibration_method, args.calibration_data,
                              args.calibration_cache, percentile=args.percentile, num_bins=args.num_bins,
                              smoothquant=args.smoothquant, smoothquant_alpha=args.smoothquant_alpha,
                              block_size=args.block_size, awq_alpha_grid=args.awq_alpha_grid,
                              weights_dq_only=not args.weights_qdq, nodes_to_exclude=args.nodes_to_exclude,
                              op_types_to_exclude=args.op_types_to_exclude, opset=args.opset, device=args.device,
                              batch_size=args.batch_size, progress=args.progress)
        except (InferrtError, ValueError, TypeError) as e:
            return fail(str(e))
    return write_result(result, output, args)
