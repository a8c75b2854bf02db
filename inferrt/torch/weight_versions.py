"""WeightVersions: has any of a list of tensors changed since the engines were built from it?

A tensor changed when its version counter moved (an in-place update: ``p.mul_()``, ``load_state_dict``, an
optimizer step) or its data pointer did (new storage: ``p.data = ...``, another tensor in its place). The check
runs before every call of a compiled module, over every parameter and buffer (~320 for ResNet-50), so the two
attributes are read with ``map`` and compared as lists (no Python-level loop); only after a change are the changed
positions worked out, for the error message.
"""
from __future__ import annotations

import operator

import torch

_VERSION = operator.attrgetter("_version")
_PTR = torch.Tensor.data_ptr


class WeightVersions:
    def __init__(self, tensors):
        tensors = list(tensors)
        self.versions = list(map(_VERSION, tensors))
        self.ptrs = list(map(_PTR, tensors))

    def __len__(self):
        return len(self.versions)

    def changed(self, tensors) -> bool:
        """True when a tensor of ``tensors`` (the same positions as at construction) differs from its snapshot."""
        return list(map(_VERSION, tensors)) != self.versions or list(map(_PTR, tensors)) != self.ptrs

    def which(self, tensors) -> list[int]:
        """The positions of the tensors that changed."""
        return [i for i, (t, v, p) in enumerate(zip(tensors, self.versions, self.ptrs))
                if t._version != v or t.data_ptr() != p]
