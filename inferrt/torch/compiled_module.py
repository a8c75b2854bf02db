"""CompiledModule: what ``inferrt.torch.compile`` returns. It is called like the original module; engine blocks
run in inferrt, the rest in PyTorch.

Before a call it checks every input against the compiled specs (type, dtype, rank, each dim within its profile)
and, for a module compiled in this process, that no parameter or buffer changed since compilation: an in-place
update (``load_state_dict``, ``p.mul_()``, an optimizer step) or new storage (``p.data = ...``), seen through each
tensor's version counter and data pointer (~0.15 us a tensor). Assigning a new Parameter object to a submodule
is not seen (compile again after that). A change raises BindingError (``on_weight_change="raise"``, the default) or
rebuilds the engines from the module's current weights (``"rebuild"``); ``"ignore"`` skips the check (the engines
keep the weights they were built with)."""
from __future__ import annotations

import torch
import torch.utils._pytree as pytree

from inferrt.errors import BindingError


def weight_state(module) -> list:
    """(name, tensor, data_ptr, version) of every parameter and buffer of ``module``."""
    if module is None:
        return []
    items = list(module.named_parameters()) + list(module.named_buffers())
    return [(n, t, t.data_ptr(), t._version) for n, t in items if isinstance(t, torch.Tensor)]


def changed_weights(state: list) -> list[str]:
    """Names of the tensors in ``state`` updated in place or given new storage since it was taken."""
    for _, t, ptr, ver in state:
        if t._version != ver or t.data_ptr() != ptr:
            return [n for n, t, ptr, ver in state if t._version != ver or t.data_ptr() != ptr]
    return []


class CompiledModule(torch.nn.Module):
    def __init__(self, graph_module, input_specs, engines, settings, exported=None, source=None, rebuild=None):
        super().__init__()
        self.graph_module = graph_module
        self.input_specs = input_specs          # InputSpec per flat input
        self.engines = engines                  # {submodule name: EngineArtifact}
        self.settings = settings
        self.exported = exported                # the ExportedProgram the engines were cut from (for save)
        self._source = source                   # the original module (in-process weight checks)
        self._weights = weight_state(source) if settings.on_weight_change != "ignore" else []
        self._rebuild = rebuild

    def forward(self, *args, **kwargs):
        if self._weights:
            changed = changed_weights(self._weights)
            if changed:
                if self.settings.on_weight_change == "rebuild" and self._rebuild is not None:
                    fresh = self._rebuild()
                    self.__dict__.update({k: v for k, v in fresh.__dict__.items() if k != "_modules"})
                    self._modules.update(fresh._modules)
                else:
                    raise BindingError(
                        f"parameters {changed[:4]}{' ...' if len(changed) > 4 else ''} changed after compilation "
                        f"(the engines hold the weights they were built with); compile the module again, or compile "
                        f"with on_weight_change='rebuild' to rebuild on such a change")
        flat = args if not kwargs and all(isinstance(a, torch.Tensor) for a in args) else \
            pytree.tree_leaves((args, kwargs))
        if len(flat) != len(self.input_specs):
            raise BindingError(f"the compiled module takes {len(self.input_specs)} input tensors/ints "
                               f"({[s.name for s in self.input_specs]}), got {len(flat)}")
        for spec, v in zip(self.input_specs, flat):
            spec.check(v, "inferrt compiled module")
        with torch.no_grad():
            return self.graph_module(*args, **kwargs)

    @property
    def num_engines(self) -> int:
        return len(self.engines)
