"""TensorRT 10's algorithm-selection interfaces: what ``IAlgorithmSelector.select_algorithms(context, choices)``
and ``report_algorithms(contexts, choices)`` receive.

- ``IAlgorithmContext``: one layer (a fused layer after optimization); it is a ``str`` equal to the layer's name,
  with ``name``, ``num_inputs``, ``num_outputs`` and ``get_shape(index)`` -> [min, opt, max] of that input or
  output (inputs first, then outputs) over optimization profile 0.
- ``IAlgorithm``: one tactic for that layer; a ``str`` equal to the tactic's name (``"generic"``,
  ``"cudnn_conv_bias_relu"``...), with ``algorithm_variant`` (``implementation``: a stable id of the tactic's name;
  ``tactic``: a stable id of name and version, so a recorded choice stops matching when the tactic changes),
  ``timing_msec`` (-1 when it was not timed; in a report, the winner's time at its best tuning point),
  ``workspace_size`` (0: inferrt's tactics have no separate workspace, their scratch comes from the activation arena)
  and ``get_algorithm_io_info(index)`` (dtype, strides, vectorized_dim, components_per_element of each input then
  output, at the opt shapes). A tactic's tuning points (tactics/tuning.py) are not separate algorithms: restricting
  a layer to a tactic lets the builder still tune that tactic's parameters.

Because both are strings, selectors written for inferrt's earlier interface (layer name, tactic names) keep working.
"""
from __future__ import annotations

import zlib

from ..enums import DataType
from ..ir.weights import Dims


def stable_id(text: str) -> int:
    """A 31-bit id of ``text`` that is the same in every process and release (CRC-32)."""
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


class IAlgorithmIOInfo:
    """Type and layout of one input or output of a layer as an algorithm runs it."""

    def __init__(self, dtype: DataType, strides, vectorized_dim: int = -1, components_per_element: int = -1):
        self.dtype = dtype
        self.strides = Dims(tuple(strides))
        self.vectorized_dim = vectorized_dim
        self.components_per_element = components_per_element

    def __repr__(self):
        return f"IAlgorithmIOInfo({self.dtype!r}, strides={tuple(self.strides)})"


class IAlgorithmVariant:
    """(implementation, tactic): the ids that identify an algorithm."""

    def __init__(self, implementation: int, tactic: int):
        self.implementation = implementation
        self.tactic = tactic

    def __repr__(self):
        return f"IAlgorithmVariant(implementation={self.implementation}, tactic={self.tactic})"


class IAlgorithm(str):
    """One candidate tactic of a layer; equal to the tactic's name."""

    def __new__(cls, name: str, version: int, io_infos, timing_msec: float = -1.0, workspace_size: int = 0):
        self = super().__new__(cls, name)
        self.version = version
        self.algorithm_variant = IAlgorithmVariant(stable_id(name), stable_id(f"{name}@{version}"))
        self.timing_msec = float(timing_msec)
        self.workspace_size = int(workspace_size)
        self._io = list(io_infos)
        return self

    def get_algorithm_io_info(self, index: int):
        """The IAlgorithmIOInfo of input ``index`` (outputs follow the inputs); None when out of range."""
        return self._io[index] if 0 <= index < len(self._io) else None

    def timed(self, ms: float) -> "IAlgorithm":
        """This algorithm with its measured time."""
        return IAlgorithm(str(self), self.version, self._io, ms, self.workspace_size)


class IAlgorithmContext(str):
    """One layer being implemented; equal to the layer's name."""

    def __new__(cls, name: str, num_inputs: int, num_outputs: int, shapes):
        self = super().__new__(cls, name)
        self.name = name
        self.num_inputs = num_inputs
        self.num_outputs = num_outputs
        self._shapes = list(shapes)
        return self

    def get_shape(self, index: int) -> list:
        """[min, opt, max] Dims of input ``index`` (outputs follow the inputs); [] when out of range or unknown."""
        if not 0 <= index < len(self._shapes) or self._shapes[index] is None:
            return []
        return [Dims(tuple(s)) for s in self._shapes[index]]


def contiguous_strides(shape, channels_last: bool = False) -> tuple:
    """Element strides of a dense tensor of ``shape``; with ``channels_last`` the channel axis (1) is innermost."""
    shape = [max(int(d), 0) for d in shape]
    order = list(range(len(shape)))
    if channels_last and len(shape) >= 3:
        order = [0] + list(range(2, len(shape))) + [1]
    strides = [0] * len(shape)
    step = 1
    for axis in reversed(order):
        strides[axis] = step
        step *= max(shape[axis], 1)
    return tuple(strides)


def describe_node(node, specs, range_specs, nhwc, cands):
    """(IAlgorithmContext, [IAlgorithm per candidate tactic]) of ``node``: ``specs`` are the opt-shape specs,
    ``range_specs`` (min specs, max specs) or None, ``nhwc`` the channels-last values."""
    values = [v for v in node.inputs if v] + list(node.outputs)

    def shapes(v):
        opt = specs.get(v) if specs is not None else None
        if opt is None or opt.shape is None:
            return None
        if range_specs is None:
            return (opt.shape, opt.shape, opt.shape)
        lo, hi = (r.get(v) for r in range_specs)
        if lo is None or hi is None or lo.shape is None or hi.shape is None:
            return (opt.shape, opt.shape, opt.shape)
        return (lo.shape, opt.shape, hi.shape)

    def io_info(v):
        spec = specs.get(v) if specs is not None else None
        if spec is None:
            return IAlgorithmIOInfo(DataType.FLOAT, ())
        return IAlgorithmIOInfo(spec.dtype, contiguous_strides(spec.shape or (), v in nhwc))

    context = IAlgorithmContext(node.name, len([v for v in node.inputs if v]), len(node.outputs),
                                [shapes(v) for v in values])
    infos = [io_info(v) for v in values]
    return context, [IAlgorithm(t.name, t.version, infos) for t in cands]


def report_choices(selector, graph, specs, range_specs, nhwc, timings: dict) -> None:
    """Call ``selector.report_algorithms(contexts, choices)`` once, after selection, with every computed layer and
    the algorithm chosen for it (``timings``: layer name -> measured ms of the winner), as TensorRT does."""
    from ..ir.kinds import Kind
    from ..tactics.registry import get_tactic

    contexts, chosen = [], []
    for n in graph.nodes:
        if n.kind == Kind.CONSTANT or not n.info.tactic:
            continue
        tactic = get_tactic(n.info.tactic)
        context, (algo,) = describe_node(n, specs, range_specs, nhwc, [tactic])
        contexts.append(context)
        chosen.append(algo.timed(timings[n.name]) if n.name in timings else algo)
    selector.report_algorithms(contexts, chosen)
