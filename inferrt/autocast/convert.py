"""``autocast``: FP32 ONNX in, mixed FP16/BF16 ONNX out, as Model Optimizer's ``convert_to_mixed_precision``.

    prepare (opset, names, constants) -> calibration feeds -> measure every value in onnxruntime
      -> classify nodes (rules) -> rewrite precisions (initializers, Casts) -> simplify Casts -> validate

The result is checked with onnx's checker and strict shape inference, and keeps the original graph input and
output names (their types follow ``keep_io_types``).
"""
from __future__ import annotations

import dataclasses
import os

from onnx import TensorProto

from ..errors import BuildError
from ..logger import Logger, Severity
from ..onnx.model_tools import first_line, light_copy, opset_map
from ..calibration.feeds import calibration_feeds
from .classify_nodes import classify
from .convert_precision import convert
from .options import DEFAULT_DATA_MAX, DEFAULT_INIT_MAX, make_options
from .prepare_model import infer_types, prepare
from .reference_run import measure
from .report import AutocastReport, node_reports
from .simplify_casts import simplify_casts

#: models past this size are saved with their initializers in an external data file (protobuf's 2 GiB limit)
_EXTERNAL_DATA_BYTES = 2 ** 31 - 2 ** 26


@dataclasses.dataclass
class AutocastResult:
    model: object            # onnx.ModelProto, mixed precision
    report: AutocastReport

    def save(self, path) -> None:
        """Write the model to ``path`` (weights in ``<name>.data`` next to it when the model passes ~2 GiB)."""
        import onnx

        path = os.fspath(path)
        if self.model.ByteSize() > _EXTERNAL_DATA_BYTES:
            onnx.save_model(self.model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                            location=os.path.basename(path) + ".data")
        else:
            onnx.save_model(self.model, path)


def _validate(model, io_names) -> None:
    from ..onnx import native_worker

    light = light_copy(model)
    try:   # onnx's C++ inference and checker run in the helper process: an abort there cannot end this one
        inferred = native_worker.infer_shapes(light, check_type=True, strict_mode=True)
        native_worker.check_model(inferred)
    except native_worker.NativeFailure as e:
        raise BuildError(native_worker.failure_message("checking the converted model", e)) from None
    except Exception as e:  # noqa: BLE001 - the checker and inference raise several types
        raise BuildError(f"autocast produced an invalid model ({type(e).__name__}: {first_line(e)}); this is an "
                         f"inferrt bug: please report it with the model, and exclude the node named in the message "
                         f"(nodes_to_exclude) meanwhile") from None
    now = ([i.name for i in model.graph.input], [o.name for o in model.graph.output])
    if now != io_names:
        raise BuildError(f"autocast changed the graph's inputs/outputs from {io_names} to {now} (inferrt bug)")
    large = {t.name for t in model.graph.initializer}
    del model.graph.value_info[:]
    model.graph.value_info.extend(v for v in inferred.graph.value_info if v.name not in large)


def autocast(onnx_path, low_precision_type="fp16", nodes_to_exclude=None, op_types_to_exclude=None,
             nodes_to_include=None, op_types_to_include=None, data_max=DEFAULT_DATA_MAX, init_max=DEFAULT_INIT_MAX,
             keep_io_types=False, calibration_data=None, *, max_depth_of_reduction=None,
             init_conversion_max_bytes=None, opset=None, keep_norm_variance=True, logger=None) -> AutocastResult:
    """Convert an FP32 ONNX model (path, bytes or ModelProto; never modified) to mixed precision.

    Knobs as Model Optimizer's ``convert_to_mixed_precision`` (see ``options.py``); ``calibration_data``: an
    ``.npz`` path, a dict ``{input: array}`` or a list of such dicts (None: random inputs, with a warning);
    ``keep_norm_variance`` (inferrt's, default on): decomposed norms keep their variance path FP32;
    ``logger``: an ``inferrt.ILogger`` for the summary (INFO) and warnings. Returns the model and its report.
    Raises ValueError/TypeError for a bad knob, ParseError for an unreadable model, BindingError/ShapeError for
    calibration data that does not fit the model, BuildError when the model cannot be measured or converted."""
    logger = logger or Logger(Severity.WARNING)
    opts = make_options(low_precision_type, nodes_to_exclude, op_types_to_exclude, nodes_to_include,
                        op_types_to_include, data_max, init_max, max_depth_of_reduction, keep_io_types,
                        init_conversion_max_bytes, opset, keep_norm_variance)
    model, target, original = prepare(onnx_path, opts.low, opts.opset)
    io_names = ([i.name for i in model.graph.input], [o.name for o in model.graph.output])
    casts_before = sum(n.op_type == "Cast" for n in model.graph.node)
    feeds, warnings = calibration_feeds(calibration_data, model.graph,
                                        consequence="the data_max check only reflects unit-scale inputs")
    try:
        stats = measure(model, feeds)
    except BuildError as e:
        if calibration_data is not None:
            raise
        raise BuildError(f"{e} (the random inputs set every dim of unknown size to 1: pass calibration_data with "
                         f"real shapes)") from None
    types = infer_types(model)
    types.update({k: s.elem_type for k, s in stats.items() if s.elem_type})
    decisions = classify(model, types, stats, opts, opset_map(model))
    conv = convert(model, decisions, types, opts, target)
    simplify_casts(model.graph, infer_types(model))
    _validate(model, io_names)
    nodes, unchanged = node_reports(decisions, opts.low_name)
    report = AutocastReport(
        low_precision_type=opts.low_name, opset=target, original_opset=original,
        calibration="random" if calibration_data is None else f"{len(feeds)} feed(s)",
        data_max=opts.data_max, init_max=opts.init_max, keep_io_types=opts.keep_io_types, nodes=nodes,
        unchanged=unchanged, cast_nodes=sum(n.op_type == "Cast" for n in model.graph.node),
        cast_nodes_before=casts_before, initializers_converted=conv.initializers_converted,
        initializers_copied=conv.initializers_copied, initializers_cast=conv.initializers_cast,
        warnings=warnings + conv.warnings + _io_overflow(model, stats, opts))
    for w in conv.warnings:
        logger.log(Severity.WARNING, f"autocast: {w}")
    logger.log(Severity.INFO, report.format_text())
    return AutocastResult(model, report)


def _io_overflow(model, stats, opts) -> list:
    """Graph inputs/outputs turned to the low type whose measured values do not fit it."""
    if opts.keep_io_types or opts.low != TensorProto.FLOAT16:
        return []
    out = []
    for vi in list(model.graph.input) + list(model.graph.output):
        s = stats.get(vi.name)
        if s is not None and vi.type.tensor_type.elem_type == TensorProto.FLOAT16 and s.max_abs > 65504.0:
            out.append(f"graph {('input' if vi in model.graph.input else 'output')} {vi.name!r} is float16 but "
                       f"reaches |x| = {s.max_abs:.6g} > 65504 on the calibration data; pass keep_io_types=True")
    return out


def convert_to_mixed_precision(onnx_path, low_precision_type="fp16", nodes_to_exclude=None,
                               op_types_to_exclude=None, nodes_to_include=None, op_types_to_include=None,
                               data_max=DEFAULT_DATA_MAX, init_max=DEFAULT_INIT_MAX, keep_io_types=False,
                               calibration_data=None, **options):
    """Model Optimizer's entry point, with its first ten parameters in its order; the others by keyword
    (``max_depth_of_reduction``, ``init_conversion_max_bytes``, ``opset``, ``keep_norm_variance``, ``logger``).
    Returns only the converted onnx.ModelProto (``autocast(...).report`` says what was kept in FP32 and why)."""
    return autocast(onnx_path, low_precision_type, nodes_to_exclude, op_types_to_exclude, nodes_to_include,
                    op_types_to_include, data_max, init_max, keep_io_types, calibration_data, **options).model
