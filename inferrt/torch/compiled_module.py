"""CompiledModule: what ``inferrt.torch.compile`` returns. It is called like the original module; engine blocks
run in inferrt, the rest in PyTorch.

Before a call it checks every input against the compiled specs (type, dtype, rank, each dim within its profile)
and, for a module compiled in this process, that no parameter or buffer changed since compilation (a new tensor or
an in-place update, seen through the tensor's version counter and data pointer). A change raises BindingError
(``on_weight_change="raise"``, the default) or rebuilds the engines from the module's current weights
(``on_weight_change="rebuild"``)."""
from __future__ import annotations

import torch
import torch.utils._pytree as pytree

from inferrt.errors import BindingError


def weight_state(module) -> dict:
    """name -> (tensor, data_ptr, version) of every parameter and buffer of ``module``."""
    if module is None:
        return {}
    items = list(module.named_parameters(remove_duplicate=False)) + list(module.named_buffers(remove_duplicate=False))
    return {n: (t, t.data_ptr(), t._version) for n, t in items if isinstance(t, torch.Tensor)}


def changed_weights(module, state: dict) -> list[str]:
    now = dict(module.named_parameters(remove_duplicate=False))
    now.update(module.named_buffers(remove_duplicate=False))
    changed = []
    for n, (t, ptr, ver) in state.items():
        cur = now.get(n)
        if cur is not t or cur.data_ptr() != ptr or cur._version != ver:
            changed.append(n)
    return changed


class CompiledModule(torch.nn.Module):
    def __init__(self, graph_module, input_specs, engines, settings, exported=None, source=None, rebuild=None):
        super().__init__()
        self.graph_module = graph_module
        self.input_specs = input_specs          # InputSpec per flat input
        self.engines = engines                  # {submodule name: EngineArtifact}
        self.settings = settings
        self.exported = exported                # the ExportedProgram the engines were cut from (for save)
        self._source = source                   # the original module (in-process weight checks)
        self._weights = weight_state(source)
        self._rebuild = rebuild

    def forward(self, *args, **kwargs):
        if self._source is not None and self._weights:
            changed = changed_weights(self._source, self._weights)
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
        flat = pytree.tree_leaves((args, kwargs))
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
