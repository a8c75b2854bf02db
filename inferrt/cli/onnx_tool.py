"""What the ONNX-to-ONNX commands (``inferrt autocast``, ``inferrt quantize``) share: Model Optimizer's option
spellings, the model argument given as MODEL or ``--onnx_path``, and writing the result with its report."""
from __future__ import annotations

import sys


def opt(*names):
    """``--a-b`` and Model Optimizer's ``--a_b`` spellings of one option."""
    out = []
    for n in names:
        out.append(n)
        if "-" in n[2:]:
            out.append("--" + n[2:].replace("-", "_"))
    return out


def fail(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


def model_path(args, command: str):
    """(path, None) from MODEL or ``--onnx_path``, or (None, exit status) after saying what is wrong."""
    model = args.model or args.onnx_path
    if not model:
        return None, fail(f"give the FP32 ONNX model: inferrt {command} MODEL.onnx")
    if args.model and args.onnx_path:
        return None, fail("give the model once: as MODEL or as --onnx_path, not both")
    return model, None


def write_result(result, output: str, args) -> int:
    """Save ``result`` (an object with ``save(path)`` and a ``report``) to ``output``, the JSON report to
    ``args.report`` if given, and print the report (``args.json``: as JSON)."""
    try:
        result.save(output)
        if args.report:
            with open(args.report, "w") as f:
                f.write(result.report.to_json())
    except OSError as e:
        return fail(f"cannot write {e.filename!r}: {e.strerror}")
    if args.json:
        print(result.report.to_json())
    else:
        print(result.report.format_text())
        print(f"[I] wrote {output}")
    return 0
