"""``torch.compile(model, backend="inferrt", options={...})``.

Dynamo hands the backend one FX graph per captured region (Python control flow on tensor values ends a region:
a graph break, and the code between regions runs in Python as usual). The backend returns a callable that, on the
first call with a given input signature (shapes, dtypes, devices, int values), exports the region with
``torch.export`` (the module's parameters, which dynamo passes as inputs, are frozen into the graph as constants),
partitions and builds it like ``inferrt.torch.compile``, and reuses that build for later calls with the same
signature. A parameter changed in place or replaced after a build raises BindingError
(``on_weight_change="raise"``), rebuilds (``"rebuild"``) or is not checked (``"ignore"``).
Options: see :class:`CompileSettings`
(``dryrun`` is refused here: use ``inferrt.torch.compile(..., dryrun=True)``).
"""
from __future__ import annotations

import operator

import torch

from inferrt.errors import BindingError
from inferrt.logger import Logger, Severity
from inferrt.torch.flat_call import FlatCall
from inferrt.torch.settings import CompileSettings
from inferrt.torch.weight_versions import WeightVersions


def _is_weight(node, value) -> bool:
    if isinstance(value, torch.nn.Parameter):
        return True
    name = node.name
    return isinstance(value, torch.Tensor) and ("_parameters_" in name or "_buffers_" in name)


class _Frozen(torch.nn.Module):
    """The dynamo graph with its weight inputs bound to the tensors it was built with."""

    def __init__(self, gm, weights: dict, n_inputs: int):
        super().__init__()
        self.gm = gm
        self.n = n_inputs
        self.weight_index = sorted(weights)
        for i, t in weights.items():
            self.register_buffer(f"w{i}", t.detach(), persistent=False)

    def forward(self, *rest):
        it = iter(rest)
        args = [getattr(self, f"w{i}") if i in self.weight_index else next(it) for i in range(self.n)]
        return self.gm(*args)


def _signature(args) -> tuple:
    sig = []
    for a in args:
        if isinstance(a, torch.Tensor):
            sig.append((tuple(a.shape), a.dtype, a.device.type, a.device.index))
        else:
            sig.append((type(a).__name__, a))
    return tuple(sig)


def _picker(index) -> callable:
    """A function taking the items at ``index`` (a list of positions) out of an argument tuple, as a tuple."""
    if not index:
        return lambda args: ()
    if len(index) == 1:
        i = index[0]
        return lambda args: (args[i],)
    return operator.itemgetter(*index)


class DynamoGraph:
    """What the backend returns for one dynamo graph: per input signature, a build and its flat call.

    A call takes the graph's non-weight inputs out of dynamo's arguments, looks their signature up, runs the
    build's FlatCall (dynamo has guarded the inputs and a build serves one exact signature, so torch.export's
    per-call checks, flat_call.py, are not made again) and then checks the weights (one WeightVersions comparison,
    after the engines are queued so that on the GPU it overlaps their run)."""

    def __init__(self, gm, settings: CompileSettings, logger):
        self.gm = gm
        self.settings = settings
        self.logger = logger
        self.builds: dict = {}   # signature -> (compiled module, its FlatCall, WeightVersions of the weights)
        self.weight_index = None  # positions of the parameters/buffers among the graph's inputs (fixed per graph)
        self.input_index = None   # positions of the other inputs
        self._weights_of = self._inputs_of = None

    def __call__(self, *args):
        if self.weight_index is None:
            placeholders = [n for n in self.gm.graph.nodes if n.op == "placeholder"]
            self.weight_index = frozenset(i for i, (n, a) in enumerate(zip(placeholders, args)) if _is_weight(n, a))
            self.input_index = [i for i in range(len(args)) if i not in self.weight_index]
            self._weights_of = _picker(sorted(self.weight_index))
            self._inputs_of = _picker(self.input_index)
        rest = self._inputs_of(args)
        # weights do not enter the signature (they are checked below): a few hundred of them would cost more
        # than the engine call itself
        sig = _signature(rest)
        entry = self.builds.get(sig)
        fresh = entry is None
        if fresh:
            entry = self.builds[sig] = self._build(args)
        check = not fresh and self.settings.on_weight_change != "ignore"
        try:
            with torch.no_grad():
                out = entry[1](*rest)
        except Exception:
            if check and entry[2].changed(self._weights_of(args)):   # the reason, if that is it
                return self._after_weight_change(sig, args, rest)
            raise
        # checked once the engines are queued (on the GPU the check overlaps their run); an output computed from
        # weights that changed is not returned
        if check and entry[2].changed(self._weights_of(args)):
            return self._after_weight_change(sig, args, rest)
        return out

    def _after_weight_change(self, sig, args, rest):
        if self.settings.on_weight_change == "raise":
            raise BindingError("parameters of the compiled module changed after torch.compile(backend='inferrt') "
                               "built its engines; call torch._dynamo.reset() and compile again, or pass "
                               "options={'on_weight_change': 'rebuild'}")
        entry = self.builds[sig] = self._build(args)
        with torch.no_grad():
            return entry[1](*rest)

    def _build(self, args):
        from inferrt.torch.aot import build_from_exported, export

        weights = {i: args[i] for i in sorted(self.weight_index)}
        frozen = _Frozen(self.gm, weights, len(args))
        rest = [a for i, a in enumerate(args) if i not in weights]
        settings = self.settings
        if settings.device is None:
            dev = next((a.device for a in args if isinstance(a, torch.Tensor)), torch.device("cpu"))
            settings = CompileSettings.from_options({**vars(settings), "device": str(dev)})
        ep = export(frozen, rest)
        compiled = build_from_exported(ep, settings, self.logger)
        return compiled, FlatCall(compiled.graph_module), WeightVersions(self._weights_of(args))


def inferrt_backend(gm, example_inputs, options=None, **kwargs):
    settings = CompileSettings.from_options(options, **kwargs)
    if settings.dryrun:
        raise ValueError("dryrun is not available through torch.compile; use inferrt.torch.compile(module, "
                         "example_inputs, dryrun=True)")
    return DynamoGraph(gm, settings, Logger(Severity.WARNING))


def register_backend() -> None:
    from torch._dynamo import list_backends, register_backend as reg

    if "inferrt" not in list_backends(exclude_tags=()):
        reg(name="inferrt")(inferrt_backend)
