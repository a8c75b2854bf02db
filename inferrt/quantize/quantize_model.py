"""``quantize``: FP32 ONNX in, explicitly quantized (Q/DQ) ONNX out, as Model Optimizer's ONNX PTQ.

    load, name nodes, opset (13 int8 / 19 fp8 / 21 int4)
      -> [SmoothQuant: per-channel |X| pass, scales folded into LayerNorm / weights]
      -> [AWQ-lite: activation rows pass, scale search per GEMM]
      -> place Q/DQ (TensorRT's rules, ``placement``) -> activation ranges pass (max / entropy / percentile / mse)
      -> write Q/DQ and quantized weights -> check (onnx.checker, strict shape inference)

Every data-dependent result (ranges, SmoothQuant and AWQ scales) can come from, and goes to, a calibration cache.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np
from onnx import TensorProto, numpy_helper

from ..autocast.prepare_model import constants_to_initializers, infer_types, load, name_nodes
from ..calibration.feeds import calibration_feeds
from ..errors import BuildError
from ..logger import Logger, Severity
from ..onnx.model_tools import first_line, light_copy, opset_map, written_ir_version
from . import cache as cache_mod
from .awq import search_scales
from .calibrators import amax_of
from .collect import channel_stats, histograms
from .insert_qdq import Q_MAX, Names, Rewriter, quantize_weight
from .options import MIN_OPSET, make_options
from .placement import GraphIndex, activation_sites, reads_k_last, weighted_nodes
from .report import QuantizeReport
from .scale_activation import scale_activation, scale_weight_rows
from .smoothquant import apply_smoothquant, smooth_scales, smoothable_groups

#: the IR version the quantized types need: FLOAT8 (IR 9), INT4 (IR 10)
_MIN_IR = {"int8": 7, "fp8": 9, "int4_rtn": 10, "int4_awq": 10}
_AWQ_ROWS = 512
_DEVICE_NAME = {"cuda": "cuda (inferrt engine)", "cpu": "cpu (onnxruntime)"}


@dataclasses.dataclass
class QuantizeResult:
    model: object            # onnx.ModelProto with Q/DQ
    report: QuantizeReport

    def save(self, path) -> None:
        from ..autocast.convert import AutocastResult

        AutocastResult.save(self, path)      # same writer: external data past ~2 GiB


def _prepare(model, opts):
    done = [n.name or n.op_type for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")
            and n.domain in ("", "ai.onnx")]
    if done:
        raise BuildError(f"the model is already quantized ({len(done)} Q/DQ node(s), e.g. {done[0]!r}); quantize "
                         f"the FP32 model it came from")
    original = opset_map(model).get("", 1)
    input_ir = model.ir_version
    target = opts.opset if opts.opset is not None else max(original, MIN_OPSET[opts.quantize_mode])
    if target < MIN_OPSET[opts.quantize_mode]:
        raise ValueError(f"opset {target} is too low for {opts.quantize_mode}: its Q/DQ need opset "
                         f"{MIN_OPSET[opts.quantize_mode]} or later")
    name_nodes(model.graph)
    constants_to_initializers(model.graph)
    if target != original:
        from ..onnx import native_worker

        try:   # onnx's C++ converter runs in the helper process: an abort there cannot end this one
            model = native_worker.convert_version(model, target)
        except native_worker.NativeFailure as e:
            raise BuildError(native_worker.failure_message(f"converting the model from opset {original} to {target}",
                                                           e)) from None
        except Exception as e:  # noqa: BLE001 - the converter raises several types
            raise BuildError(f"cannot convert the model from opset {original} to {target} ({first_line(e)}); "
                             f"export the model at opset {target} or later") from None
    # the input's IR version, raised only as far as the target opset and the quantized types need
    model.ir_version = written_ir_version(model, input_ir, _MIN_IR[opts.quantize_mode])
    return model, target, original


def _validate(model) -> None:
    from ..onnx import native_worker

    try:   # onnx's C++ inference and checker run in the helper process: an abort there cannot end this one
        inferred = native_worker.infer_shapes(light_copy(model), check_type=True, strict_mode=True)
        native_worker.check_model(inferred)
    except native_worker.NativeFailure as e:
        raise BuildError(native_worker.failure_message("checking the quantized model", e)) from None
    except Exception as e:  # noqa: BLE001
        raise BuildError(f"quantize produced an invalid model ({type(e).__name__}: {first_line(e)}); this is an "
                         f"inferrt bug: please report it with the model, and exclude the node named in the message "
                         f"(nodes_to_exclude) meanwhile") from None


class _Calibration:
    """Calibration feeds (made on first use) and the cache (read, or filled for writing)."""

    def __init__(self, data, path, digest, opts, progress):
        self.data, self.path, self.opts, self.progress = data, path, opts, progress
        self._feeds, self.warnings, self.device = None, [], None
        self.loaded = None
        if path is not None and os.path.isfile(path):
            self.loaded = cache_mod.load(path)
            cache_mod.check(self.loaded, path, digest, opts.range_key())
        self.new = cache_mod.CalibrationCache(digest, opts.range_key())

    def feeds(self, graph, batch_size):
        if self._feeds is None:
            self._feeds, self.warnings = calibration_feeds(
                self.data, graph, batch_size=batch_size,
                consequence="the quantization ranges only fit unit-scale inputs")
        return self._feeds

    def cached(self, field, names):
        if self.loaded is None:
            return None
        cache_mod.require(self.loaded, self.path, field, names)
        table = getattr(self.loaded, field)
        return {n: table[n] for n in names}

    def describe(self) -> str:
        if self.loaded is not None:
            return f"cache {os.fspath(self.path)}"
        if self._feeds is None:
            return "none"
        return "random" if self.data is None else f"{len(self._feeds)} feed(s)"


def _smoothquant(model, cal, opts, batch_size):
    groups = smoothable_groups(GraphIndex(model.graph), opts)
    if not groups:
        return {}
    scales = cal.cached("smoothquant", list(groups))
    if scales is None:
        stats, cal.device = channel_stats(model, cal.feeds(model.graph, batch_size), list(groups), opts,
                                          cal.progress, desc="calibrating (SmoothQuant channels)")
        scales = {}
        for x, group in groups.items():
            amax = stats[x].amax.cpu().numpy()
            ws = [numpy_helper.to_array(next(t for t in model.graph.initializer if t.name == wn.weight))
                  for wn in group]
            scales[x] = smooth_scales(amax, ws, [wn.reduce_axis for wn in group], opts.smoothquant_alpha).tolist()
    cal.new.smoothquant = {k: [float(v) for v in s] for k, s in scales.items()}
    names = Names(model.graph)
    return apply_smoothquant(lambda: GraphIndex(model.graph), names,
                             {k: np.asarray(v, np.float32) for k, v in scales.items()}, opts)


def _awq(model, cal, opts, batch_size) -> dict:
    wns = [wn for wn in weighted_nodes(GraphIndex(model.graph), opts, gemm_only=True) if reads_k_last(wn)]
    if not wns:
        return {}          # (Gemm with transA: plain RTN)
    scales = cal.cached("awq", [wn.node.name for wn in wns])
    alphas = {}
    if scales is None:
        stats, cal.device = channel_stats(model, cal.feeds(model.graph, batch_size), [wn.act for wn in wns], opts,
                                          cal.progress, max_rows=_AWQ_ROWS, desc="calibrating (AWQ-lite)")
        inits = {t.name: t for t in model.graph.initializer}
        scales = {}
        for wn in wns:
            w = numpy_helper.to_array(inits[wn.weight]).astype(np.float32)
            wk = w if wn.reduce_axis == 0 else w.T
            st = stats[wn.act]
            s, alpha, _, _ = search_scales(st.sample(), st.mean_abs(), wk, opts.block_size, opts.awq_alpha_grid)
            scales[wn.node.name], alphas[wn.node.name] = s.tolist(), alpha
    cal.new.awq = {k: [float(v) for v in s] for k, s in scales.items()}
    names = Names(model.graph)
    for node_name, s in scales.items():
        s = np.asarray(s, np.float32)
        if np.all(s == 1.0):
            continue
        index = GraphIndex(model.graph)
        wn = next(w for w in weighted_nodes(index, opts, gemm_only=True) if w.node.name == node_name)
        scale_weight_rows(index, names, wn, s)
        index = GraphIndex(model.graph)
        wn = next(w for w in weighted_nodes(index, opts, gemm_only=True) if w.node.name == node_name)
        scale_activation(index, names, wn.act, [(wn.node, 0)], 1.0 / s, "awq")
    return alphas


def quantize(onnx_path, quantize_mode="int8", calibration_method=None, calibration_data=None,
             calibration_cache=None, *, percentile=99.99, num_bins=2048, smoothquant=False, smoothquant_alpha=0.5,
             block_size=128, awq_alpha_grid=21, weights_dq_only=True, nodes_to_exclude=None,
             op_types_to_exclude=None, opset=None, device="auto", batch_size=None, progress=True,
             logger=None) -> QuantizeResult:
    """Quantize an FP32 ONNX model (path, bytes or ModelProto; never modified); knobs in ``options.py``.

    ``calibration_data``: an ``.npz`` path, a dict ``{input: array}`` or a list of such dicts (split into batches
    of ``batch_size`` rows, or of the model's fixed batch; None: random inputs, with a warning); int4_rtn needs
    none. ``calibration_cache``: a JSON path, read when it exists (and refused when it was made for another model
    or other options), else written after calibrating. ``progress``: a progress bar over calibration batches.
    Raises ValueError/TypeError for a bad knob, ParseError for an unreadable model, BindingError/ShapeError for
    calibration data that does not fit, BuildError when the model cannot be calibrated or the cache is refused."""
    logger = logger or Logger(Severity.WARNING)
    opts = make_options(quantize_mode, calibration_method, percentile=percentile, num_bins=num_bins,
                        smoothquant=smoothquant, smoothquant_alpha=smoothquant_alpha, block_size=block_size,
                        awq_alpha_grid=awq_alpha_grid, weights_dq_only=weights_dq_only,
                        nodes_to_exclude=nodes_to_exclude, op_types_to_exclude=op_types_to_exclude, opset=opset,
                        device=device)
    model = load(onnx_path, "quantize")
    digest = cache_mod.model_digest(model)
    model, target, original = _prepare(model, opts)
    cal = _Calibration(calibration_data, calibration_cache, digest, opts, progress)

    smooth = _smoothquant(model, cal, opts, batch_size) if opts.smoothquant else {}
    alphas = _awq(model, cal, opts, batch_size) if opts.quantize_mode == "int4_awq" else {}

    index = GraphIndex(model.graph)
    weighted = weighted_nodes(index, opts, gemm_only=opts.int4)
    sites, amax = {}, {}
    if not opts.int4:
        types = infer_types(model)
        sites = {t: r for t, r in activation_sites(index, opts, weighted).items()
                 if types.get(t, TensorProto.FLOAT) == TensorProto.FLOAT}
        amax = cal.cached("amax", list(sites)) if sites else {}
        if amax is None:
            stats, cal.device = histograms(model, cal.feeds(model.graph, batch_size), list(sites), opts, progress)
            amax = {t: amax_of(opts.calibration_method, stats[t], opts.quantize_mode, opts.percentile)
                    for t in sites}
        cal.new.amax = dict(amax)
    warnings = list(cal.warnings)
    if not weighted:
        warnings.append("no node to quantize: the model has no Conv/ConvTranspose/MatMul/Gemm with a float32 "
                        "initializer weight outside the exclusions" + (" (int4 takes MatMul/Gemm with 2-D weights)"
                                                                        if opts.int4 else ""))
    kind = "int4" if opts.int4 else opts.quantize_mode
    rw = Rewriter(model.graph)
    for t, readers in sites.items():
        a = float(amax[t])
        if not a > 0:
            warnings.append(f"activation {t!r} was 0 on every calibration batch; its range is set to 1")
            a = 1.0
        dq = rw.qdq_pair(t, np.float32(a / Q_MAX[kind]), kind, index.producer)
        for n, i in readers:
            n.input[i] = dq
    done = {}
    for wn in weighted:
        key = (wn.weight, wn.channel_axis, wn.reduce_axis)
        if key not in done:
            w = numpy_helper.to_array(index.inits[wn.weight])
            done[key] = quantize_weight(rw, wn, w, kind, opts.weights_dq_only, index.producer, opts.block_size)
        wn.node.input[1] = done[key]
    rw.finish()
    _validate(model)

    if calibration_cache is not None and cal.loaded is None and (sites or smooth or alphas):
        cal.new.save(calibration_cache)
    residual = sorted({n.name for rs in sites.values() for n, _ in rs if n.op_type == "Add"})
    report = QuantizeReport(
        quantize_mode=opts.quantize_mode, calibration_method=None if opts.int4 else opts.calibration_method,
        opset=target, original_opset=original, calibration=cal.describe(),
        calibration_device=_DEVICE_NAME.get(cal.device), quantized_nodes=[wn.node.name for wn in weighted],
        activations={t: float(amax[t]) for t in sites}, residual_adds=residual, smoothquant=smooth, awq=alphas,
        warnings=warnings)
    for w in warnings:
        logger.log(Severity.WARNING, f"quantize: {w}")
    logger.log(Severity.INFO, report.format_text())
    return QuantizeResult(model, report)
