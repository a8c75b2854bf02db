"""The build's accuracy guard (an inferrt extension; TensorRT has none): ``config.accuracy_check = AccuracyCheck(...)``.

After the plan is built, whatever precision it asked for (FP16/BF16/INT8/FP8 flags, layer precisions, calibrators),
the guard runs it and an FP32 reference on sample data and compares them:

    plan (as built) ────────── run ─> outputs ─┐
    FP32 reference build ───── run ─> outputs ─┴─> per output: rel-L2, max |error|  ->  passed?
    (the same network and device, precision flags and TF32 cleared)
    with per_layer: both built again with every intermediate layer output marked as a debug tensor
                    -> a table of every layer's rel-L2 and max |error|, and the first layer over tolerance named

A tensor passes when its relative L2 error ||a - ref|| / ||ref|| is at most ``max_rel_l2`` and, when ``atol`` /
``rtol`` are given, no element is over both of them (Polygraphy's elementwise rule). The verdict is the outputs'
(the plan's own outputs, computed by the plan being returned); the layer table only explains it (marking
intermediates keeps their layers from being fused, so its numbers come from those two extra builds).

A strongly typed network carries its precision in its types, so the FLOAT reference cannot be the same network:
pass ``reference`` (the FP32 ONNX model, as a path, bytes or ModelProto, or an FP32 INetworkDefinition); tensors are
matched by name. The report is ``check.report`` (an ``AccuracyReport``) and goes to the build log: INFO when
every output passes, else a WARNING (``on_failure="warn"``) or a failed build (``on_failure="fail"``: BuildError,
and ``build_serialized_network`` returns None with the error logged).
"""
from __future__ import annotations

import copy
import dataclasses
import math
import numbers

import numpy as np

from ..errors import BuildError
from ..logger import Severity

#: flags the FP32 reference build clears (TF32 too: a FLOAT reference computes in FLOAT; and layer precisions)
_REDUCED_FLAGS = ("FP16", "BF16", "INT8", "FP8", "INT4", "FP4", "TF32", "OBEY_PRECISION_CONSTRAINTS",
                  "PREFER_PRECISION_CONSTRAINTS")
#: sample batches run at most
MAX_BATCHES = 4
ON_FAILURE = ("warn", "fail")


@dataclasses.dataclass
class TensorError:
    name: str
    layer: str            # the layer that produces it ("" for a network output found only by name)
    layer_type: str
    rel_l2: float         # ||a - ref|| / ||ref|| over every batch (inf where a is non-finite and ref is not)
    max_abs: float        # largest |a - ref| (inf likewise)
    mismatches: int       # elements over both atol and rtol (0 when they are not given)
    passed: bool


@dataclasses.dataclass
class AccuracyReport:
    outputs: list                  # TensorError per network output
    layers: list                   # TensorError per marked intermediate tensor, in layer order
    batches: str                   # where the sample data came from
    reference: str                 # what the reference was
    passed: bool
    first_failing_layer: TensorError | None = None
    layers_skipped: str = ""       # why the per-layer table is missing, when it is

    def format_table(self, max_rows: int = 40) -> str:
        lines = [f"accuracy check against {self.reference} on {self.batches}: "
                 f"{'PASSED' if self.passed else 'FAILED'}",
                 f"  {'tensor':<32} {'layer':<28} {'type':<14} {'rel-L2':>9} {'max |err|':>9}  status"]
        rows = [(e, "") for e in self.layers] + [(e, " (output)") for e in self.outputs]
        for e, tag in rows[:max_rows]:
            lines.append(f"  {(e.name + tag)[:32]:<32} {e.layer[:28]:<28} {e.layer_type[:14]:<14} {e.rel_l2:>9.3g} "
                         f"{e.max_abs:>9.3g}  {'ok' if e.passed else 'OVER'}")
        if len(rows) > max_rows:
            lines.append(f"  ... {len(rows) - max_rows} more tensors")
        if self.layers_skipped:
            lines.append(f"  per-layer errors unavailable: {self.layers_skipped}")
        if self.first_failing_layer is not None:
            f = self.first_failing_layer
            lines.append(f"  first layer over tolerance: {f.layer!r} ({f.layer_type}), tensor {f.name!r}: "
                         f"rel-L2 {f.rel_l2:.3g}, max |err| {f.max_abs:.3g}")
        return "\n".join(lines)


@dataclasses.dataclass
class AccuracyCheck:
    """``config.accuracy_check = AccuracyCheck(inputs=[{"x": array}], max_rel_l2=1e-2, on_failure="fail")``.

    inputs      sample batches, each ``{input name: numpy array or torch tensor}`` (at most 4 used); None: the
                build's sample data (``config.calibration_data``, else ``config.int8_calibrator``, else generated
                data at the first profile's opt shapes: builder/sample_inputs.py)
    max_rel_l2  largest relative L2 error of a tensor against the reference (1e-2: FP16's usual whole-output error)
    atol, rtol  also check elements (an element fails when over both); None: relative L2 only
    per_layer   also compare every intermediate layer output (two extra builds) and name the first over tolerance
    on_failure  "warn": log a WARNING and return the plan; "fail": fail the build
    reference   the FP32 model for a strongly typed network (ONNX path, bytes, ModelProto or INetworkDefinition)
    """
    inputs: object = None
    max_rel_l2: float = 1e-2
    atol: float | None = None
    rtol: float | None = None
    per_layer: bool = True
    on_failure: str = "warn"
    reference: object = None
    report: AccuracyReport | None = dataclasses.field(default=None, init=False, repr=False)

    def __post_init__(self):
        for what in ("max_rel_l2", "atol", "rtol"):
            v = getattr(self, what)
            if v is None and what != "max_rel_l2":
                continue
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or math.isnan(v) or v < 0:
                raise ValueError(f"AccuracyCheck.{what} must be a non-negative number, got {v!r}")
        if (self.atol is None) != (self.rtol is None):
            raise ValueError("AccuracyCheck: give atol and rtol together (an element fails when over both)")
        if self.on_failure not in ON_FAILURE:
            raise ValueError(f"AccuracyCheck.on_failure must be 'warn' or 'fail', got {self.on_failure!r}")


# ---------------------------------------------------------------------------------------------------- errors
def tensor_error(got: list, want: list) -> tuple:
    """(rel-L2, max |err|) of the arrays ``got`` against ``want`` over every batch, in float64; a non-finite value
    in ``got`` where ``want`` is finite makes both inf (NaN against NaN and equal infinities count as equal)."""
    num = den = 0.0
    worst = 0.0
    for a, b in zip(got, want):
        a = np.asarray(a, np.float64)
        b = np.asarray(b, np.float64)
        if a.shape != b.shape:
            return math.inf, math.inf
        same = (a == b) | (np.isnan(a) & np.isnan(b))
        with np.errstate(invalid="ignore", over="ignore"):
            d = np.where(same, 0.0, np.abs(a - b))
        if not np.all(np.isfinite(d)):
            return math.inf, math.inf
        num += float(np.sum(d * d))
        den += float(np.sum(np.where(np.isfinite(b), b, 0.0) ** 2))
        worst = max(worst, float(d.max()) if d.size else 0.0)
    rel = math.sqrt(num) / math.sqrt(den) if den > 0 else (0.0 if num == 0 else math.inf)
    return rel, worst


def _mismatches(got, want, atol, rtol) -> int:
    if atol is None:
        return 0
    from ..tools.compare import errors

    n = 0
    for a, b in zip(got, want):
        diff, rel = errors(a, b)
        n += int(np.count_nonzero((diff > atol) & (rel > rtol)))
    return n


def judge(name, layer, layer_type, got, want, check) -> TensorError:
    rel, worst = tensor_error(got, want)
    bad = _mismatches(got, want, check.atol, check.rtol)
    return TensorError(name, layer, layer_type, rel, worst, bad, rel <= check.max_rel_l2 and bad == 0)


# ---------------------------------------------------------------------------------------------------- builds
def _fp32_config(config):
    from ..enums import BuilderFlag

    ref = copy.copy(config)
    for f in _REDUCED_FLAGS:
        ref.clear_flag(getattr(BuilderFlag, f))
    ref.int8_calibrator = None
    ref.accuracy_check = None
    ref.progress_monitor = None
    return ref


def _plain_config(config):
    out = copy.copy(config)
    out.accuracy_check = None
    out.progress_monitor = None
    return out


def _build(network, config, what: str):
    from .builder import Builder

    try:
        return Builder(None).build(network, config)
    except BuildError as e:
        raise BuildError(f"accuracy check: the {what} build failed: {e}") from None


def _engine(plan):
    from ..runtime.load import load_engine

    return load_engine(bytes(plan), None)


def _strongly_typed(network) -> bool:
    from ..enums import NetworkDefinitionCreationFlag

    return network.get_flag(NetworkDefinitionCreationFlag.STRONGLY_TYPED)


def _reference_network(source):
    """The user's FP32 reference as an INetworkDefinition (parsed from ONNX when given as a model)."""
    from ..ir.network import INetworkDefinition

    if isinstance(source, INetworkDefinition):
        return source
    from ..api import network_from
    from .builder import Builder

    try:
        return network_from(source, Builder(None), None)
    except (TypeError, BuildError) as e:
        raise BuildError(f"accuracy check: AccuracyCheck.reference: {e}") from None
    except Exception as e:  # noqa: BLE001 - the parser's ParseError and onnx's errors
        raise BuildError(f"accuracy check: AccuracyCheck.reference could not be imported: {e}") from None


# ---------------------------------------------------------------------------------------------------- running
class _Capture:
    """An IDebugListener that copies every debug tensor it is handed (float64 numpy) per execution."""

    def __init__(self, device):
        import torch

        from ..runtime.buffers import AddressCache

        self.values: dict = {}
        self.cache = AddressCache(torch.device(device))

    def process_debug_tensor(self, addr, location, type, shape, name, stream):  # noqa: A002 - TensorRT's names
        import torch

        from ..enums import TensorLocation

        if location == TensorLocation.DEVICE:
            torch.cuda.synchronize()
        t = self.cache.view(addr, tuple(shape), type, name, writable=False)
        self.values.setdefault(name, []).append(t.float().cpu().numpy().astype(np.float64))


def _run(engine, batches, debug: bool = False):
    """({output: [array per batch]}, {debug tensor: [array per batch]})."""
    import torch

    ctx = engine.create_execution_context()
    cap = None
    if debug:
        cap = _Capture(engine.device)
        ctx.set_debug_listener(cap)
        ctx.set_all_tensors_debug_state(True)
    outs: dict = {}
    for batch in batches:
        got = ctx.infer(dict(batch))
        for k, v in got.items():
            a = v.float().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
            outs.setdefault(k, []).append(np.asarray(a, np.float64))
    return outs, (cap.values if cap is not None else {})


def _batches(network, config, check, device):
    """The sample batches as {input: CPU torch tensor} and where they came from."""
    import torch

    from .build import resolve_profiles
    from .lower_network import lower_network
    from .sample_inputs import MAX_BATCHES as SAMPLE_MAX, check_batch, sample_batches

    if check.inputs is not None:
        if isinstance(check.inputs, dict):
            raise BuildError("AccuracyCheck.inputs must be a list of batches ({input name: array} each), not one "
                             "dict: wrap it in a list")
        names = [network.get_input(i).name for i in range(network.num_inputs)]
        out = []
        for bi, b in enumerate(check.inputs):
            if len(out) == MAX_BATCHES:
                break
            check_batch(b, bi, names, "AccuracyCheck.inputs")
            out.append({n: b[n] if isinstance(b[n], torch.Tensor) else torch.from_numpy(np.ascontiguousarray(b[n]))
                        for n in names})
        if not out:
            raise BuildError("AccuracyCheck.inputs holds no batch")
        return out, f"{len(out)} batch(es) from AccuracyCheck.inputs"
    graph = lower_network(network)
    batches, where = sample_batches(graph, config, resolve_profiles(network, config), device)
    return [{k: v.cpu() for k, v in b.items()} for b in batches[:SAMPLE_MAX]], where


def _producers(network) -> dict:
    """{tensor name: (layer name, layer type name, the layer)} of every layer output."""
    out = {}
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        for j in range(layer.num_outputs):
            t = layer.get_output(j)
            if t is not None:
                out.setdefault(t.name, (layer.name, layer.type.name, layer))
    return out


def _blame(network, name: str) -> tuple:
    """(layer name, layer type) that computes tensor ``name``, looking through Cast and Identity layers (AutoCast's
    type bookkeeping) to the layer whose value they carry."""
    prod = _producers(network)
    seen = set()
    while name in prod and name not in seen:
        seen.add(name)
        layer_name, kind, layer = prod[name]
        src = layer.get_input(0) if layer.num_inputs else None
        if kind not in ("CAST", "IDENTITY") or src is None or src.name not in prod:
            return layer_name, kind
        name = src.name
    return prod[name][:2] if name in prod else ("", "input")


def _intermediates(network, names_in_reference=None) -> list:
    """[(tensor, layer name, layer type)] of every floating-point layer output that is not a network output, in
    layer order (constants left out); with ``names_in_reference``, only tensors the reference also has."""
    from ..enums import DataType, LayerType

    floats = {DataType.FLOAT, DataType.HALF, DataType.BF16, DataType.FP8}
    out, seen = [], set()
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if layer.type == LayerType.CONSTANT:
            continue
        for j in range(layer.num_outputs):
            t = layer.get_output(j)
            if t is None or t.name in seen or t.is_network_output or t.dtype not in floats:
                continue
            if names_in_reference is not None and t.name not in names_in_reference:
                continue
            seen.add(t.name)
            out.append((t, layer.name, layer.type.name))
    return out


def _computes_reduced(network) -> str:
    """Why ``network`` computes in reduced precision by itself (its types or Q/DQ layers), or ""."""
    from ..enums import DataType, LayerType

    if _strongly_typed(network):
        return "the network is strongly typed, so its precision is in its types"
    reduced = {DataType.HALF, DataType.BF16, DataType.FP8, DataType.INT4, DataType.FP4}
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if layer.type in (LayerType.QUANTIZE, LayerType.DEQUANTIZE):
            return f"the network has Q/DQ layers ({layer.name!r})"
        for j in range(layer.num_outputs):
            t = layer.get_output(j)
            if t is not None and t.dtype in reduced and layer.type != LayerType.CONSTANT:
                return f"the network computes {t.dtype.name} values itself (layer {layer.name!r})"
    return ""


def _marked_run(network, config, batches, tensors, what):
    """Build ``network`` with ``tensors`` marked as debug tensors (unmarked again afterwards) and run it."""
    added = [t for t, *_ in tensors if not network.is_debug_tensor(t)]
    for t in added:
        network.mark_debug(t)
    try:
        plan = _build(network, config, what)
    finally:
        for t in added:
            network.unmark_debug(t)
    return _run(_engine(plan), batches, debug=True)[1]


def run_accuracy_check(network, config, plan, log) -> AccuracyReport:
    """Compare ``plan`` (built from ``network`` with ``config``) with an FP32 reference; logs the table and returns
    the report (also set as ``config.accuracy_check.report``). Raises BuildError when the check fails and
    ``on_failure`` is "fail", or when the check itself cannot run."""
    from ..device import resolve_device

    check = config.accuracy_check
    if not isinstance(check, AccuracyCheck):
        raise BuildError(f"config.accuracy_check must be an inferrt.AccuracyCheck or None, got "
                         f"{type(check).__name__}")
    device = resolve_device(config.device)
    why = _computes_reduced(network) if check.reference is None else ""
    if why:
        raise BuildError(f"accuracy check: {why}: the same network built without precision flags is not an FP32 "
                         f"reference; pass AccuracyCheck(reference=...) with the FP32 model (ONNX path, bytes, "
                         f"ModelProto or INetworkDefinition) whose tensors have the same names")
    batches, where = _batches(network, config, check, device)
    ref_net = _reference_network(check.reference) if check.reference is not None else network
    ref_config = _fp32_config(config)
    ref_label = ("the FP32 reference model" if check.reference is not None else "an FP32 build") + \
        f" (TF32 off, {device})"

    got, _ = _run(_engine(plan), batches)
    want, _ = _run(_engine(_build(ref_net, ref_config, "FP32 reference")), batches)
    outputs = []
    for name in got:
        if name not in want:
            raise BuildError(f"accuracy check: the reference has no output {name!r} (its outputs: {sorted(want)}); "
                             f"the reference must have the network's output names")
        outputs.append(judge(name, *_blame(network, name), got[name], want[name], check))
    report = AccuracyReport(outputs, [], where, ref_label, all(e.passed for e in outputs))
    if check.per_layer:
        _layer_table(report, network, ref_net, config, ref_config, batches, check)
    else:
        report.first_failing_layer = next((e for e in outputs if not e.passed), None)
    check.report = report
    text = report.format_table()
    if report.passed:
        log(Severity.INFO, text)
    elif check.on_failure == "fail":
        raise BuildError(f"{text}\n  the plan is outside AccuracyCheck's tolerance (max_rel_l2={check.max_rel_l2}"
                         f"{'' if check.atol is None else f', atol={check.atol}, rtol={check.rtol}'}); keep the "
                         f"layers named above in FLOAT (layer.precision = DataType.FLOAT with OBEY_PRECISION_"
                         f"CONSTRAINTS, or autocast's nodes_to_exclude), or find them with `inferrt debug "
                         f"precision`")
    else:
        log(Severity.WARNING, text)
    return report


def _layer_table(report, network, ref_net, config, ref_config, batches, check) -> None:
    ref_names = None
    if ref_net is not network:
        ref_names = {t.name for t, *_ in _intermediates(ref_net)}
    tensors = _intermediates(network, ref_names)
    if not tensors:
        report.layers_skipped = "the network has no intermediate floating-point tensors"
        report.first_failing_layer = next((e for e in report.outputs if not e.passed), None)
        return
    try:
        got = _marked_run(network, _plain_config(config), batches, tensors, "per-layer (tested precision)")
        ref_tensors = tensors if ref_net is network else \
            [x for x in _intermediates(ref_net) if x[0].name in {t.name for t, *_ in tensors}]
        want = _marked_run(ref_net, ref_config, batches, ref_tensors, "per-layer (FP32 reference)")
    except BuildError as e:
        report.layers_skipped = str(e)
        report.first_failing_layer = next((e for e in report.outputs if not e.passed), None)
        return
    for t, layer, kind in tensors:
        if t.name in got and t.name in want:
            report.layers.append(judge(t.name, layer, kind, got[t.name], want[t.name], check))
    # in layer order, the network's outputs among the intermediates (an output's layer may come before them)
    order = {name: k for k, name in enumerate(_producers(network))}
    ranked = sorted(report.layers + report.outputs, key=lambda e: order.get(e.name, len(order)))
    report.first_failing_layer = next((e for e in ranked if not e.passed), None)
