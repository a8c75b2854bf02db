"""``NodeInfo``: what the builder records about a graph node besides its op: typed fields, not a free-form dict.

Every field is optional (``None``: not set). The plan stores the set fields under the same keys as the field names
(``to_json``), exactly as the dict this replaced did, so old plans load and plans stay byte-identical.
"""
from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class NodeInfo:
    #: the tactic that runs the node (tactics/select.py); the runtime prepares it by this name
    tactic: str | None = None
    #: the point of the tactic's tuning space the build chose, e.g. {"BLOCK": 1024, "num_warps": 4} (tactics/tuning.py);
    #: absent for a tactic without tunable parameters
    tactic_point: dict[str, Any] | None = None
    #: DataType name the node computes in: set by the user (``layer.precision``) or by assign_precision
    precision: str | None = None
    #: output types the user set on the layer: output index (as a string) -> DataType name
    output_types: dict[str, str] | None = None
    #: memory format of the outputs, "NHWC" where assign_formats chose channels-last (absent: linear)
    format: str | None = None
    #: why the reduced-precision range guard keeps the node in FLOAT
    keep_float: str | None = None
    #: why the builder inserted the node: "precision" (a cast or a reduced-precision weight twin)
    inserted: str | None = None
    #: the layer's metadata string (e.g. the ONNX node it came from)
    metadata: str | None = None
    #: the node writes its output in place into a concatenation: {"tensor": name, "axis": int, "offset": int}
    writes_into: dict[str, Any] | None = None
    #: on a concatenation: the inputs whose producers write in place into its output
    aliased_inputs: list[int] | None = None
    #: on a concatenation: every input is written in place, so the node runs no kernel
    elided: bool | None = None

    #: fields the user sets through the network API; a node with one of them set is never absorbed or re-typed
    USER_SET = ("precision", "output_types")

    def user_set(self) -> list[str]:
        """The names of the user-set fields (``USER_SET``) that are set, in that order."""
        return [k for k in self.USER_SET if getattr(self, k) is not None]

    def copy(self) -> "NodeInfo":
        return dataclasses.replace(self)

    def to_json(self) -> dict[str, Any]:
        """The set fields by name (the plan manifest's ``info`` of a node)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}

    @classmethod
    def from_json(cls, j: dict, node: str) -> "NodeInfo":
        """From a plan manifest's ``info`` of node ``node``. Raises ValueError naming the node and an unknown key."""
        names = {f.name for f in dataclasses.fields(cls)}
        for k in j:
            if k not in names:
                raise ValueError(f"node {node!r}: unknown info key {k!r} (known: {', '.join(sorted(names))}); "
                                 f"the plan was written by another inferrt version, rebuild it")
        return cls(**j)
