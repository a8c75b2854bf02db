"""EngineInspector: every final layer with its origin layers, precision, tactic and shapes (ONELINE or JSON)."""
from __future__ import annotations

import json

from ..enums import LayerInformationFormat
from ..interface import ContextManaged
from ..ir.kinds import Kind


class EngineInspector(ContextManaged):
    def __init__(self, engine):
        self.engine = engine
        self.execution_context = None
        self.error_recorder = None

    def _layers(self):
        return [n for n in self.engine.graph.nodes if n.kind != Kind.CONSTANT]

    def _describe(self, n) -> dict:
        specs = self.engine.graph.specs
        ctx = self.execution_context
        concrete = {}
        if ctx is not None and ctx.all_binding_shapes_specified:
            try:
                plan = ctx._plan()
                concrete = plan.specs
            except Exception:  # noqa: BLE001 - the inspector reports what it can
                concrete = {}

        def tensor(name):
            s = concrete.get(name) or specs.get(name)
            return {"Name": name, "Dimensions": None if s is None or s.shape is None else list(s.shape),
                    "Format/Datatype": "Row major linear " + (s.dtype.name if s else "?")}

        return {
            "Name": n.name, "LayerType": n.kind, "Origin": list(n.origin),
            "Inputs": [tensor(i) for i in n.inputs if i],
            "Outputs": [tensor(o) for o in n.outputs],
            "TacticName": n.info.tactic or "generic", "Precision": n.info.precision or "FLOAT",
            "Metadata": n.info.metadata or "",
        }

    def get_layer_information(self, layer: int, format=LayerInformationFormat.ONELINE):  # noqa: A002
        layers = self._layers()
        if not 0 <= layer < len(layers):
            return ""
        d = self._describe(layers[layer])
        if LayerInformationFormat.parse(format) == LayerInformationFormat.JSON:
            return json.dumps(d)
        return _oneline(d)

    def get_engine_information(self, format=LayerInformationFormat.ONELINE):  # noqa: A002
        layers = [self._describe(n) for n in self._layers()]
        if LayerInformationFormat.parse(format) == LayerInformationFormat.JSON:
            e = self.engine
            return json.dumps({"Layers": layers, "Bindings": [e.get_tensor_name(i) for i in range(e.num_io_tensors)],
                               "Device": e.plan_info.device, "Build": e.plan_info.build})
        return "\n".join(_oneline(d) for d in layers)


def _oneline(d) -> str:
    ins = ", ".join(f"{t['Name']}{t['Dimensions']}" for t in d["Inputs"])
    outs = ", ".join(f"{t['Name']}{t['Dimensions']}" for t in d["Outputs"])
    origin = "" if d["Origin"] == [d["Name"]] else f" origin=[{', '.join(d['Origin'])}]"
    return f"{d['Name']}: {d['LayerType']} ({ins}) -> ({outs}) tactic={d['TacticName']} precision={d['Precision']}{origin}"
