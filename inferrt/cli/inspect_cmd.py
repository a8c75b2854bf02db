"""``inferrt inspect``: Polygraphy's inspect on inferrt.

    inferrt inspect model model.onnx [--show layers attrs weights] [--json]
    inferrt inspect model model.plan [--json]        # optimized layers, origins, tactics, precisions, memory plan
    inferrt inspect data outputs.json [--show-values]
    inferrt inspect tactics timing.cache
"""
from __future__ import annotations

import json

from .tool_args import fail


def add_inspect_parser(sub) -> None:
    p = sub.add_parser("inspect", allow_abbrev=False, help="Polygraphy's inspect: models, plans, data, tactics")
    s = p.add_subparsers(dest="inspect_cmd", required=True)
    m = s.add_parser("model", allow_abbrev=False, help="an ONNX model or an inferrt plan (told apart by content)")
    m.add_argument("path")
    m.add_argument("--show", nargs="+", choices=("layers", "attrs", "weights"), default=(),
                   help="ONNX: also list nodes (layers), their attributes (attrs) and initializers (weights)")
    m.add_argument("--json", action="store_true", help="print the description as JSON")
    d = s.add_parser("data", allow_abbrev=False, help="inputs or outputs saved by run (.json / .npz)")
    d.add_argument("path")
    d.add_argument("--show-values", action="store_true", help="print the values, not only statistics")
    d.add_argument("--json", action="store_true")
    t = s.add_parser("tactics", allow_abbrev=False, help="a timing cache (--timingCacheFile of exec)")
    t.add_argument("path")
    t.add_argument("--json", action="store_true")


def _is_onnx(path: str) -> bool:
    """A plan starts with inferrt's plan magic; anything else named *.onnx (or not a plan) is read as ONNX."""
    from ..plan.format import MAGIC

    try:
        with open(path, "rb") as f:
            head = f.read(len(MAGIC))
    except OSError:
        return path.lower().endswith(".onnx")
    return head != MAGIC and (path.lower().endswith(".onnx") or not head.startswith(b"INFERRT"))


def cmd_inspect(args) -> int:
    from ..errors import InferrtError

    try:
        d, lines = {"model": _model, "data": _data, "tactics": _tactics}[args.inspect_cmd](args)
    except InferrtError as e:
        return fail(str(e))
    if args.json:
        print(json.dumps(d, indent=1, default=str))
    else:
        print("\n".join(lines))
    return 0


def _model(args):
    if _is_onnx(args.path):
        from ..tools.inspect_onnx import describe_onnx, format_onnx
        from ..tools.onnx_graph import load_model, tensor_types

        model = load_model(args.path)
        d = describe_onnx(model, tensor_types(model) if "layers" in args.show or args.json else None)
        return d, format_onnx(d, set(args.show))
    if args.show:
        from ..errors import PlanError

        raise PlanError("--show applies to ONNX models; a plan always shows its layers")
    import inferrt as trt

    from ..tools.inspect_plan import describe_plan, format_plan

    engine = trt.load_engine(args.path, trt.Logger(trt.Logger.ERROR))
    d = describe_plan(engine)
    return d, format_plan(d)


def _data(args):
    from ..tools.data_io import load_data
    from ..tools.inspect_data import describe_data, format_data

    kind, content = load_data(args.path)
    d = describe_data(kind, content)
    return d, format_data(d, content, args.show_values)


def _tactics(args):
    from ..errors import PlanError
    from ..tactics.timing_cache import ITimingCache
    from ..tools.inspect_data import describe_tactics, format_tactics

    try:
        with open(args.path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise PlanError(f"cannot read timing cache {args.path!r}: {e.strerror}") from None
    if not raw:
        raise PlanError(f"{args.path!r} is empty, not a timing cache")
    try:
        cache = ITimingCache.deserialize(raw)
    except ValueError as e:
        raise PlanError(f"{args.path!r}: {e}") from None
    d = describe_tactics(cache)
    return d, format_tactics(d)
