"""``inferrt surgeon``: Polygraphy's ONNX surgery written back as ONNX.

    inferrt surgeon sanitize model.onnx -o clean.onnx --fold-constants --override-input-shapes x:[1,3,224,224]
    inferrt surgeon extract model.onnx --inputs conv1_out:[1,64,112,112]:float32 --outputs relu3_out -o part.onnx
"""
from __future__ import annotations

from .tool_args import ExecArgError, fail, parse_dims, parse_tensor_specs, say


def add_surgeon_parser(sub) -> None:
    p = sub.add_parser("surgeon", allow_abbrev=False, help="Polygraphy's surgeon: sanitize or extract ONNX models")
    s = p.add_subparsers(dest="surgeon_cmd", required=True)
    a = s.add_parser("sanitize", allow_abbrev=False,
                     help="fold constants, remove unused nodes and initializers, override input shapes")
    a.add_argument("model", help="ONNX model")
    a.add_argument("-o", "--output", required=True, help="where to write the sanitized model")
    a.add_argument("--fold-constants", action="store_true",
                   help="evaluate nodes whose inputs are all constant (and Shape of static shapes) into "
                        "initializers; implies --cleanup")
    a.add_argument("--fold-size-threshold", type=int, default=None, metavar="BYTES",
                   help="do not store folded tensors larger than this; their nodes stay")
    a.add_argument("--fold-qdq", action="store_true",
                   help="also fold QuantizeLinear / DequantizeLinear of constants (kept by default: they carry the "
                        "model's explicit quantization)")
    a.add_argument("--cleanup", action="store_true",
                   help="remove nodes no output depends on and initializers nothing reads")
    a.add_argument("--remove-unused-inputs", action="store_true",
                   help="with the clean-up, also remove graph inputs nothing reads")
    a.add_argument("--override-input-shapes", nargs="+", metavar="NAME:SHAPE",
                   help="new input shapes, name:[1,3,224,224] or name:1x3x224x224 (dims may be names)")
    e = s.add_parser("extract", allow_abbrev=False, help="extract the subgraph between tensors")
    e.add_argument("model", help="ONNX model")
    e.add_argument("-o", "--output", required=True, help="where to write the subgraph")
    e.add_argument("--inputs", nargs="+", metavar="NAME:SHAPE:DTYPE",
                   help="the subgraph's inputs, name:[1,3,224,224]:float32 ('auto' for either from shape "
                        "inference; default: the model's inputs)")
    e.add_argument("--outputs", nargs="+", metavar="NAME[:DTYPE]",
                   help="the subgraph's outputs, name or name:dtype (default: the model's outputs)")


def _override_shapes(items) -> dict:
    out = {}
    for item in items or []:
        name, sep, shape = item.rpartition(":")
        if not sep or not name:
            raise ExecArgError(f"--override-input-shapes: {item!r} is not like name:[1,3,224,224]")
        dims = parse_dims(shape, "--override-input-shapes")
        if dims is None:
            raise ExecArgError(f"--override-input-shapes: {item!r} needs a shape, not auto")
        if name in out:
            raise ExecArgError(f"--override-input-shapes: input {name!r} is given twice")
        out[name] = dims
    return out


def cmd_surgeon(args) -> int:
    try:
        shapes = _override_shapes(getattr(args, "override_input_shapes", None))
        ins = parse_tensor_specs("--inputs", getattr(args, "inputs", None), with_shape=True)
        outs = parse_tensor_specs("--outputs", getattr(args, "outputs", None), with_shape=False)
    except ExecArgError as e:
        return fail(str(e))
    from ..errors import InferrtError
    from ..tools.onnx_graph import load_model, save_model

    try:
        model = load_model(args.model)
        if args.surgeon_cmd == "sanitize":
            result = _sanitize(args, model, shapes)
        else:
            result = _extract(model, ins, outs)
        save_model(result, args.output)
    except (InferrtError, ExecArgError) as e:
        return fail(str(e))
    except ImportError as e:
        return fail(str(e))
    except OSError as e:
        return fail(f"cannot write {args.output!r}: {e.strerror}")
    say(f"Saved model to {args.output}")
    return 0


def _sanitize(args, model, shapes):
    from ..tools.sanitize import sanitize

    if args.fold_qdq and not args.fold_constants:
        raise ExecArgError("--fold-qdq applies to --fold-constants; add it or drop --fold-qdq")
    rep = sanitize(model, fold=args.fold_constants, do_cleanup=args.cleanup, shapes=shapes,
                   size_threshold=args.fold_size_threshold, remove_unused_inputs=args.remove_unused_inputs,
                   fold_qdq=args.fold_qdq, log=say)
    for name, shape in rep.overridden.items():
        say(f"Overrode the shape of input {name!r} to {list(shape)}")
    if args.fold_constants:
        say(f"Folded {rep.folded} node(s) into constants")
    if rep.removed:
        say(f"Removed {rep.removed['nodes']} unused node(s), {rep.removed['initializers']} unused initializer(s)"
            + (f", {rep.removed['inputs']} unused input(s)" if args.remove_unused_inputs else ""))
    say(f"Nodes: {rep.nodes_before} -> {rep.nodes_after}; the result passes onnx.checker")
    return model


def _extract(model, ins: dict, outs: dict):
    from ..tools.onnx_graph import elem_type_of, graph_inputs, tensor_types, extract
    from ..tools.sanitize import check

    types = tensor_types(model)
    if not ins:
        ins = {v.name: (None, None) for v in graph_inputs(model.graph)}
    if not outs:
        outs = {o.name: (None, None) for o in model.graph.output}
    inputs = {}
    for name, (shape, dtype) in ins.items():
        known = types.get(name)
        elem = elem_type_of(dtype) if dtype else (known[0] if known else None)
        dims = shape if shape is not None else (known[1] if known else None)
        inputs[name] = (elem, dims) if elem is not None else None
    outputs = {name: (elem_type_of(dtype) if dtype else None) for name, (_, dtype) in outs.items()}
    sub = extract(model, inputs, outputs, types)
    check(sub)
    say(f"Extracted {len(sub.graph.node)} of {len(model.graph.node)} node(s): inputs {list(inputs)}, outputs "
        f"{list(outputs)}")
    return sub
