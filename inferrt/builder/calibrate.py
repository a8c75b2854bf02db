"""TensorRT 10's implicit INT8 (``BuilderFlag.INT8`` with a calibrator or tensor dynamic ranges) on the strongly
typed machinery: the build turns it into explicit Q/DQ before optimizing.

    lowered graph (FP32) ─┬─ config.int8_calibrator: its cache (read_calibration_cache), else its batches
                          │  (get_batch) run through the graph in FLOAT on the engine's device ─ |x| statistics of
                          │  every network tensor ─ amax by the calibrator's method ─ write_calibration_cache
                          ├─ ITensor.set_dynamic_range(min, max): amax = max(|min|, |max|) (wins over calibration)
                          └─ Q/DQ placed by inferrt.quantize's rules (calibrate_placement.py) ─ passes ─ plan

Methods (``inferrt.quantize.calibrators``): ENTROPY_CALIBRATION_2 and ENTROPY_CALIBRATION -> entropy,
MINMAX_CALIBRATION -> max, LEGACY_CALIBRATION -> percentile ``100 * get_quantile()``, at least
``get_regression_cutoff()`` x the largest |x|. Histograms have 2048 bins, as TensorRT's. The cache is TensorRT's
text format (``calibrate_cache.py``); a cache made with another algorithm is ignored with a warning and the network
is calibrated again. A network that already has Q/DQ layers is explicitly quantized: its scales are used and the
calibrator and dynamic ranges are not (a WARNING says so), as in TensorRT. A tensor the placement wants but no
range covers stays in FLOAT, with a warning naming it (as TensorRT falls back to a non-INT8 layer).

Calibration always measures the network's own tensors, on the graph before fusion, so
``QuantizationFlag.CALIBRATE_BEFORE_FUSION`` changes no range: a fused layer's output is the value of the last layer
it absorbed, and no other tensor is quantized.
"""
from __future__ import annotations

from ..enums import BuilderFlag, CalibrationAlgoType
from ..errors import BuildError
from ..ir.kinds import Kind
from ..logger import Severity
from .calibrate_cache import ALGO_NAMES, CacheError, format_cache, parse_cache
from .calibrate_placement import find_placement, insert_qdq

NUM_BINS = 2048
#: layer kinds that make a network explicitly quantized (its own Q/DQ scales; TensorRT then skips calibration)
EXPLICIT_KINDS = frozenset({Kind.QUANTIZE, Kind.DEQUANTIZE, Kind.ONNX_QUANTIZE, Kind.DYNAMIC_QUANTIZE_LINEAR})
_METHOD = {CalibrationAlgoType.ENTROPY_CALIBRATION_2: "entropy", CalibrationAlgoType.ENTROPY_CALIBRATION: "entropy",
           CalibrationAlgoType.MINMAX_CALIBRATION: "max", CalibrationAlgoType.LEGACY_CALIBRATION: "percentile"}


def network_tensor_names(network) -> list[str]:
    """Every tensor of the network (inputs, then layer outputs in order): what calibration measures."""
    net = network.internal
    names = [t.name for t in net.inputs]
    for layer in net.layers:
        names += [t.name for t in net.layer_outputs(layer)]
    return names


def dynamic_ranges(network) -> dict:
    """{tensor: amax} from ``ITensor.set_dynamic_range``."""
    net = network.internal
    tensors = list(net.inputs) + [t for layer in net.layers for t in net.layer_outputs(layer)]
    return {t.name: max(abs(t.dynamic_range[0]), abs(t.dynamic_range[1])) for t in tensors
            if t.dynamic_range is not None}


def _algorithm(calibrator):
    try:
        return CalibrationAlgoType.parse(calibrator.get_algorithm())
    except (KeyError, ValueError, TypeError) as e:
        raise BuildError(f"config.int8_calibrator.get_algorithm() returned {calibrator.get_algorithm()!r}, not a "
                         f"CalibrationAlgoType ({e})") from None


def _legacy_params(calibrator) -> tuple[float, float]:
    q, cut = float(calibrator.get_quantile()), float(calibrator.get_regression_cutoff())
    if not 0.0 < q <= 1.0:
        raise BuildError(f"IInt8LegacyCalibrator.get_quantile() returned {q}; it must be in (0, 1]")
    if not 0.0 <= cut <= 1.0:
        raise BuildError(f"IInt8LegacyCalibrator.get_regression_cutoff() returned {cut}; it must be in [0, 1]")
    return q, cut


def amax_by_method(algo, hist, calibrator=None) -> float:
    """The range the calibrator kind ``algo`` takes from ``hist`` (an inferrt.quantize AbsHistogram)."""
    from ..quantize.calibrators import amax_of, percentile_amax

    method = _METHOD[algo]
    if method != "percentile":
        return amax_of(method, hist, "int8")
    q, cut = _legacy_params(calibrator)
    counts, width = hist.numpy()
    if counts is None:
        return 0.0
    return min(max(percentile_amax(counts, width, 100.0 * q), cut * hist.amax), hist.amax)


def _batches(calibrator, graph, config, profiles, device):
    """Yield {input: tensor} per ``get_batch`` until it returns None (read at the calibration profile's opt
    shapes, else the first profile's)."""
    import torch

    from ..runtime.buffers import AddressCache
    from ..runtime.profile_memory import profile_input_specs
    from .sample_inputs import _as_tensor

    names = list(graph.inputs)
    cal_profile = config.get_calibration_profile()
    shapes = dict(getattr(cal_profile, "_shapes", {}) or {}) or profiles[0]
    specs = profile_input_specs(graph, shapes, 1)
    addresses = AddressCache(torch.device(device))
    where = "config.int8_calibrator.get_batch"
    bi = 0
    while True:
        got = calibrator.get_batch(names)
        if got is None or (hasattr(got, "__len__") and len(got) == 0):
            return
        if len(got) != len(names):
            raise BuildError(f"{where} returned {len(got)} buffers for the {len(names)} inputs {names}; return one "
                             f"per name, in the order of the names")
        yield {n: _as_tensor(x, n, specs[n], f"{where} batch {bi}", addresses) for n, x in zip(names, got)}
        bi += 1


def _from_cache(calibrator, algo, log):
    data = calibrator.read_calibration_cache()
    if not data:
        return None
    try:
        algo_name, version, amax = parse_cache(data)
    except CacheError as e:
        log(Severity.WARNING, f"INT8 calibration: the calibration cache from read_calibration_cache() is not used "
                              f"({e}); calibrating again")
        return None
    if algo_name != ALGO_NAMES[algo]:
        log(Severity.WARNING, f"INT8 calibration: the calibration cache was made by {algo_name} but the calibrator "
                              f"is {ALGO_NAMES[algo]}; calibrating again")
        return None
    log(Severity.INFO, f"INT8 calibration: {len(amax)} tensor ranges from the calibration cache ({algo_name}, "
                       f"TensorRT {version}); get_batch is not called")
    return amax


def calibrate(calibrator, graph, network, config, profiles, device, log) -> dict:
    """{tensor: amax} from ``calibrator``'s cache, else by running its batches (and writing the cache)."""
    from ..calibration.graph_stats import graph_stats
    from ..quantize.histogram import AbsHistogram

    algo = _algorithm(calibrator)
    cached = _from_cache(calibrator, algo, log)
    if cached is not None:
        return cached
    if algo == CalibrationAlgoType.LEGACY_CALIBRATION:
        _legacy_params(calibrator)       # bad parameters fail before the calibration runs
    log(Severity.VERBOSE, f"INT8 calibration: get_batch_size() = {calibrator.get_batch_size()} (the batch comes "
                          f"from the input shapes of an explicit-batch network)")
    bins = 0 if _METHOD[algo] == "max" else NUM_BINS
    names = [n for n in network_tensor_names(network) if n in graph.specs]
    stats, count = graph_stats(graph, _batches(calibrator, graph, config, profiles, device), names,
                               lambda: AbsHistogram(bins), device)
    if not count:
        raise BuildError("INT8 calibration: config.int8_calibrator.get_batch returned no batch (None on the first "
                         "call); give it calibration data, or a calibration cache through read_calibration_cache")
    amax = {n: amax_by_method(algo, stats[n], calibrator) for n in names if n in stats}
    log(Severity.INFO, f"INT8 calibration ({ALGO_NAMES[algo]}): {count} batch(es), {len(amax)} tensor ranges on "
                       f"{device}")
    calibrator.write_calibration_cache(memoryview(format_cache(algo, amax)))
    return amax


def quantize_for_build(network, graph, config, profiles, device, log) -> int:
    """With BuilderFlag.INT8 on a weakly typed network: calibrate (or take the dynamic ranges) and insert Q/DQ into
    ``graph``. Returns the number of activations quantized."""
    from ..ir.type_rules import strongly_typed

    if not config.get_flag(BuilderFlag.INT8) or strongly_typed(network):
        return 0
    explicit = [n.name for n in graph.nodes if n.kind in EXPLICIT_KINDS]
    if explicit:
        if getattr(config, "int8_calibrator", None) is not None or dynamic_ranges(network):
            log(Severity.WARNING, f"INT8: the network is explicitly quantized ({len(explicit)} Q/DQ layer(s), e.g. "
                                  f"{explicit[0]!r}): its Q/DQ scales are used and the calibrator and dynamic "
                                  f"ranges are not, as in TensorRT")
        return 0
    amax = {}
    calibrator = getattr(config, "int8_calibrator", None)
    if calibrator is not None:
        amax = calibrate(calibrator, graph, network, config, profiles, device, log)
    user = dynamic_ranges(network)
    amax.update(user)
    if not amax:
        log(Severity.WARNING, "BuilderFlag.INT8 has no effect: there is no config.int8_calibrator and no tensor has "
                              "a dynamic range (ITensor.set_dynamic_range), so no layer is quantized and the network "
                              "builds in FLOAT; set a calibrator or dynamic ranges, or quantize the model with "
                              "inferrt.quantize")
        return 0
    constraints = config.get_flag(BuilderFlag.OBEY_PRECISION_CONSTRAINTS) or config.get_flag(
        BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
    placement = find_placement(graph, constraints)
    zeros = [t for t in placement.sites if amax.get(t) == 0]
    if zeros:
        log(Severity.WARNING, f"INT8: tensor(s) {zeros[:8]} were 0 on every calibration batch; their range is set "
                              f"to 1")
    done, missing, weights = insert_qdq(graph, placement, amax)
    if missing:
        log(Severity.WARNING, f"INT8: no dynamic range for tensor(s) {missing[:8]}"
                              f"{f' and {len(missing) - 8} more' if len(missing) > 8 else ''}; the layers reading "
                              f"them stay in FLOAT (set their ranges with ITensor.set_dynamic_range or calibrate)")
    log(Severity.INFO, f"INT8: Q/DQ on {len(done)} activation(s) and the weights of {weights} layer(s) "
                       f"({len(user)} range(s) from set_dynamic_range)")
    return len(done)
