"""The ``plugin`` tactic: runs a plugin layer through its plugin, and lets the autotuner time its tactics.

Its tuning space is the plugin's ``get_valid_tactics()`` (one point ``{"tactic": t}`` each; ``{"tactic": 0}``
when it declares none), so the autotuner times every tactic of the plugin like any tactic's points, and the plan
records the winner in ``info.tactic_point``. The runner of a JIT plugin clones the plugin for the engine
(``attach_to_context``), sets the tactic, calls ``on_shape_change`` (and re-sizes its workspace, grow-only) when the
shapes differ from the previous call, and calls ``enqueue`` with TensorRT's arguments: descriptors, TensorPointer
buffers (addresses carrying the torch tensors, see plugin/buffers.py), the workspace address and the stream handle
(``torch.cuda.current_stream().cuda_stream``; 0 on the CPU). AOT plugins run their compiled kernel
(plugin/aot.py).
"""
from __future__ import annotations

from ..enums import TensorFormat
from ..ir.kinds import Kind
from ..tactics.registry import Tactic, register_tactic
from ..tactics.tuning import TuningSpace
from .buffers import TensorPointer
from .interfaces import (DynamicPluginTensorDesc, IPluginResourceContext, PluginCapabilityType, PluginTensorDesc)
from .plan_record import PlanPlugin
from .shapes import identity_of

KIND = Kind.PLUGIN_V3


def live_plugin(node):
    """The node's plugin object (the runtime plugin a plan's creator made, or the network's plugin)."""
    p = node.attrs.plugin
    return p.plugin if isinstance(p, PlanPlugin) else p


def valid_tactics(plugin) -> list[int]:
    get = getattr(plugin, "get_capability_interface", None)
    build = get(PluginCapabilityType.BUILD) if get is not None else None
    if build is None:
        return []
    try:
        tactics = list(build.get_valid_tactics() or [])
    except Exception as e:  # noqa: BLE001 - the user's code
        raise ValueError(f"plugin {identity_of(plugin)}: get_valid_tactics failed: {type(e).__name__}: {e}") from None
    if not all(isinstance(t, int) and not isinstance(t, bool) for t in tactics):
        raise ValueError(f"plugin {identity_of(plugin)}: get_valid_tactics returned {tactics!r}; tactics are ints")
    return tactics


class PluginSpace(TuningSpace):
    """The points of a plugin node: its plugin's valid tactics."""

    def __init__(self):
        super().__init__({"tactic": (0,)})

    def points(self, node=None, specs=None, cap=None):
        if node is None:
            return [{"tactic": 0}]
        p = node.attrs.plugin
        if isinstance(p, PlanPlugin) and p.aot:
            return [{"tactic": 0}]
        tactics = valid_tactics(live_plugin(node)) or [0]
        pts = [{"tactic": t} for t in dict.fromkeys(tactics)]
        return pts if cap is None else pts[:max(cap, 1)]

    def check(self, point):
        if not isinstance(point, dict) or set(point) != {"tactic"} or not isinstance(point["tactic"], int) \
                or isinstance(point["tactic"], bool):
            return f"a plugin's tuning point is {{'tactic': int}}, got {point!r}"
        return None


@register_tactic
class PluginTactic(Tactic):
    name = "plugin"
    kinds = (KIND,)
    space = PluginSpace()

    def supports(self, node, specs, device: str) -> bool:
        if not super().supports(node, specs, device):
            return False
        from .aot import place_for_device

        place_for_device(node, device)  # the build's device decides an AOT layer's implementation
        if not isinstance(node.attrs.plugin, PlanPlugin):   # build time: what runs when no tactic is timed
            node.attrs["default_tactic"] = (valid_tactics(live_plugin(node)) or [0])[0]
        return True

    def prepare(self, node, device, point=None):
        chosen = node.info.tactic_point if point is None else point
        where = f"layer {node.name!r} (tactic plugin)"
        if chosen is None:  # not timed (a CPU build): the plugin's first valid tactic, recorded at build time
            chosen = {"tactic": node.attrs.default_tactic}
        return self.runner(node, device, self.space.resolve(chosen, where))

    def runner(self, node, device, point):
        from .aot import aot_runner, uses_aot

        if uses_aot(node, device):
            return aot_runner(node, device, point["tactic"])
        return JitRunner(node, device, point["tactic"])


class JitRunner:
    """Runs one plugin node of one engine through the plugin's runtime capability."""

    def __init__(self, node, device, tactic: int):
        import torch

        plugin = live_plugin(node)
        self.name = node.name
        self.who = identity_of(plugin)
        from .aot import check_jit_runnable

        check_jit_runnable(node, plugin, device)
        runtime = plugin.get_capability_interface(PluginCapabilityType.RUNTIME)
        if runtime is None:
            raise ValueError(f"plugin {self.who} of layer {node.name!r} has no runtime capability (subclass "
                             f"trt.IPluginV3OneRuntime)")
        attached = runtime.attach_to_context(IPluginResourceContext(device))
        if attached is not None:   # TensorRT: a clone of the plugin for this context
            get = getattr(attached, "get_capability_interface", None)
            runtime = get(PluginCapabilityType.RUNTIME) if get is not None else attached
        self.runtime = runtime
        self.build = plugin.get_capability_interface(PluginCapabilityType.BUILD)
        runtime.set_tactic(int(tactic))
        self.tactic = int(tactic)
        self.n_data = len(node.inputs) - node.attrs.num_shape_inputs
        self.device = torch.device(device)
        self.shapes = None
        self.workspace = None

    def _descs(self, ts):
        from ..dtypes import from_torch_dtype

        return [PluginTensorDesc(tuple(t.shape), from_torch_dtype(t.dtype), TensorFormat.LINEAR) for t in ts]

    def _shape_change(self, in_desc, out_desc):
        dyn_in = [DynamicPluginTensorDesc(d, d.dims, d.dims, d.dims) for d in in_desc]
        dyn_out = [DynamicPluginTensorDesc(d, d.dims, d.dims, d.dims) for d in out_desc]
        self.runtime.on_shape_change(in_desc, out_desc)
        size = 0
        if self.build is not None:
            size = int(self.build.get_workspace_size(dyn_in, dyn_out) or 0)
        if size < 0:
            raise ValueError(f"plugin {self.who}: get_workspace_size returned {size}")
        if size and (self.workspace is None or self.workspace.numel() < size):
            import torch

            self.workspace = torch.empty(size, dtype=torch.uint8, device=self.device)

    def __call__(self, ins, outs):
        import torch

        data = [t if t.is_contiguous() else t.contiguous() for t in ins[:self.n_data]]
        in_desc, out_desc = self._descs(data), self._descs(outs)
        shapes = [d.dims for d in in_desc]
        if shapes != self.shapes:
            self._shape_change(in_desc, out_desc)
            self.shapes = shapes
        stream = torch.cuda.current_stream(self.device).cuda_stream if self.device.type == "cuda" else 0
        ws = TensorPointer(self.workspace) if self.workspace is not None else 0
        self.runtime.enqueue(in_desc, out_desc, [TensorPointer(t) for t in data], [TensorPointer(t) for t in outs],
                             ws, stream)
        return None
