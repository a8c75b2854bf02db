"""CompiledModule: what ``inferrt.torch.compile`` returns. It is called like the original module; engine blocks
run in inferrt, the rest in PyTorch.

Before a call it checks every input against the compiled specs (type, dtype, rank, each dim within its profile)
and, for a module compiled in this process, that no parameter or buffer changed since compilation: an in-place
update (``load_state_dict``, ``p.mul_()``, an optimizer step) or new storage (``p.data = ...``), seen through each
tensor's version counter and data pointer (weight_versions.py). Assigning a new Parameter object to a submodule
is not seen (compile again after that). A change raises BindingError (``on_weight_change="raise"``, the default) or
rebuilds the engines from the module's current weights (``"rebuild"``); ``"ignore"`` skips the check (the engines
keep the weights they were built with).

When every input shape is static and the module takes its inputs as positional tensors, a call after these checks
runs the graph through FlatCall (flat_call.py): the InputSpec checks are then the export guards' equality checks, so
torch.export's calling convention (hooks, pytree, guard function) is not paid again. The weight check comes after
the graph has queued its engines (an output from changed weights is discarded, never returned), so on the GPU its
host time overlaps the engines' run instead of delaying their launch."""
from __future__ import annotations

import torch
import torch.utils._pytree as pytree

from inferrt.errors import BindingError
from inferrt.torch.flat_call import FlatCall
from inferrt.torch.weight_versions import WeightVersions


def weight_state(module) -> tuple[list, WeightVersions]:
    """The names and tensors of every parameter and buffer of ``module``, and their WeightVersions."""
    if module is None:
        return [], WeightVersions([])
    items = [(n, t) for n, t in list(module.named_parameters()) + list(module.named_buffers())
             if isinstance(t, torch.Tensor)]
    return items, WeightVersions(t for _, t in items)


class CompiledModule(torch.nn.Module):
    def __init__(self, graph_module, input_specs, engines, settings, exported=None, source=None, rebuild=None):
        super().__init__()
        self.graph_module = graph_module
        self.input_specs = input_specs          # InputSpec per flat input
        self.engines = engines                  # {submodule name: EngineArtifact}
        self.settings = settings
        self.exported = exported                # the ExportedProgram the engines were cut from (for save)
        self._source = source                   # the original module (in-process weight checks)
        items, versions = weight_state(source if settings.on_weight_change != "ignore" else None)
        self._weight_names = [n for n, _ in items]
        self._weight_tensors = [t for _, t in items]
        self._weights = versions
        self._rebuild = rebuild
        flat = FlatCall(graph_module)
        static = all(not s.dynamic for s in input_specs)
        #: the graph as a function of flat positional tensors, where the InputSpec checks cover the export guards
        self._flat = flat if static and flat.positional and flat.num_inputs == len(input_specs) else None

    def forward(self, *args, **kwargs):
        flat = args if not kwargs and all(isinstance(a, torch.Tensor) for a in args) else \
            pytree.tree_leaves((args, kwargs))
        if len(flat) != len(self.input_specs):
            raise BindingError(f"the compiled module takes {len(self.input_specs)} input tensors/ints "
                               f"({[s.name for s in self.input_specs]}), got {len(flat)}")
        for spec, v in zip(self.input_specs, flat):
            spec.check(v, "inferrt compiled module")
        try:
            with torch.no_grad():
                out = self._flat(*args) if self._flat is not None and flat is args else \
                    self.graph_module(*args, **kwargs)
        except Exception:
            if self._weights and self._weights.changed(self._weight_tensors):   # the reason, if that is it
                return self._after_weight_change(args, kwargs)
            raise
        # the weights are checked once the engines are queued: on the GPU the check (a few hundred tensors) runs
        # while they do; an output computed from weights that changed is never returned (raise, or rebuild and
        # run again)
        if self._weights and self._weights.changed(self._weight_tensors):
            return self._after_weight_change(args, kwargs)
        return out

    def _after_weight_change(self, args, kwargs):
        """Rebuild and run again, or raise BindingError naming the changed tensors."""
        changed = [self._weight_names[i] for i in self._weights.which(self._weight_tensors)]
        if self.settings.on_weight_change == "rebuild" and self._rebuild is not None:
            fresh = self._rebuild()
            self.__dict__.update({k: v for k, v in fresh.__dict__.items() if k != "_modules"})
            self._modules.update(fresh._modules)   # with fresh's _flat (above), which calls these modules
            return self.forward(*args, **kwargs)
        raise BindingError(
            f"parameters {changed[:4]}{' ...' if len(changed) > 4 else ''} changed after compilation "
            f"(the engines hold the weights they were built with); compile the module again, or compile "
            f"with on_weight_change='rebuild' to rebuild on such a change")

    @property
    def num_engines(self) -> int:
        return len(self.engines)
