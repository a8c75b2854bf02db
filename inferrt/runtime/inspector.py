"""EngineInspector: every final layer with its origin layers, precision, tactic (and its tuning point) and shapes
(ONELINE or JSON). A layer the builder inserted (a precision cast) has no origin layers and says why it is there
(JSON "Inserted", ONELINE ``inserted=...``).

What it shows follows the plan's ProfilingVerbosity (``config.profiling_verbosity`` at build time), as TensorRT's:
DETAILED (inferrt's default) every field above, LAYER_NAMES_ONLY the layer names only (JSON: a list of names),
NONE no layer information.
"""
from __future__ import annotations

import json

from ..enums import LayerInformationFormat, ProfilingVerbosity
from ..interface import ContextManaged
from ..ir.kinds import Kind
from ..tactics.tuning import label


class EngineInspector(ContextManaged):
    def __init__(self, engine):
        self.engine = engine
        self.execution_context = None
        self.error_recorder = None

    def _layers(self):
        return [n for n in self.engine.graph.nodes if n.kind != Kind.CONSTANT]

    def _verbosity(self):
        return getattr(self.engine, "profiling_verbosity", ProfilingVerbosity.DETAILED)

    def _info(self, n, as_json: bool):
        """One layer as the plan's verbosity allows: a dict (DETAILED) or its name (LAYER_NAMES_ONLY)."""
        if self._verbosity() == ProfilingVerbosity.LAYER_NAMES_ONLY:
            return n.name
        d = self._describe(n)
        return d if as_json else _oneline(d)

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

        location = "Device" if self.engine.device_kind == "cuda" else "Host"
        from ..tactics.select import nhwc_values

        nhwc = nhwc_values(self.engine.graph)

        def tensor(name):
            s = concrete.get(name) or specs.get(name)
            return {"Name": name, "Location": location,
                    "Dimensions": None if s is None or s.shape is None else list(s.shape),
                    "Format/Datatype": format_datatype(s.dtype if s else None, name in nhwc)}

        inserted = {"Inserted": n.info.inserted} if n.info.inserted else {}
        return {
            # Origin: the network layers this layer implements; a layer the builder inserted (a precision cast,
            # a quantize/dequantize pair) implements none of its own and says why it is there (Inserted)
            "Name": n.name, "LayerType": n.kind, "Origin": list(n.origin), **inserted,
            "Inputs": [tensor(i) for i in n.inputs if i],
            "Outputs": [tensor(o) for o in n.outputs],
            "TacticName": n.info.tactic or "generic", "TacticValue": tactic_value(n.info.tactic or "generic"),
            "TacticPoint": dict(n.info.tactic_point or {}), "StreamId": 0,
            "Precision": n.info.precision or "FLOAT", "Metadata": n.info.metadata or "",
        }

    def get_layer_information(self, layer: int, format=LayerInformationFormat.ONELINE):  # noqa: A002
        layers = self._layers()
        if not 0 <= layer < len(layers) or self._verbosity() == ProfilingVerbosity.NONE:
            return ""
        as_json = LayerInformationFormat.parse(format) == LayerInformationFormat.JSON
        info = self._info(layers[layer], as_json)
        return json.dumps(info) if as_json else info

    def get_engine_information(self, format=LayerInformationFormat.ONELINE):  # noqa: A002
        as_json = LayerInformationFormat.parse(format) == LayerInformationFormat.JSON
        shown = self._layers() if self._verbosity() != ProfilingVerbosity.NONE else []
        layers = [self._info(n, as_json) for n in shown]
        if as_json:
            e = self.engine
            return json.dumps({"Layers": layers, "Bindings": [e.get_tensor_name(i) for i in range(e.num_io_tensors)],
                               "Device": e.plan_info.device, "Build": e.plan_info.build})
        return "\n".join(layers)


#: DataType -> how TensorRT's inspector spells it in "Format/Datatype"
_TRT_TYPE_NAMES = {"FLOAT": "FP32", "HALF": "FP16", "BF16": "BF16", "INT8": "Int8", "INT32": "Int32",
                   "INT64": "Int64", "BOOL": "Bool", "UINT8": "UInt8", "FP8": "FP8", "INT4": "Int4", "FP4": "FP4"}


def format_datatype(dtype, channels_last: bool) -> str:
    """TensorRT's "Format/Datatype" text: "Row major linear FP32", or "Channel last FP16 format" for NHWC values."""
    name = _TRT_TYPE_NAMES.get(dtype.name, dtype.name) if dtype is not None else "unknown type"
    return f"Channel last {name} format" if channels_last else f"Row major linear {name}"


def tactic_value(name: str) -> str:
    """TensorRT's "TacticValue" (a hex id): the tactic id IAlgorithm.algorithm_variant.tactic reports for it."""
    from ..builder.algorithm import stable_id
    from ..tactics.registry import get_tactic

    try:
        version = get_tactic(name).version
    except KeyError:
        version = 0
    return f"0x{stable_id(f'{name}@{version}'):016x}"


def _oneline(d) -> str:
    ins = ", ".join(f"{t['Name']}{t['Dimensions']}" for t in d["Inputs"])
    outs = ", ".join(f"{t['Name']}{t['Dimensions']}" for t in d["Outputs"])
    origin = "" if d["Origin"] == [d["Name"]] else f" origin=[{', '.join(d['Origin'])}]"
    if d.get("Inserted") and not d["Origin"]:
        origin = f" inserted={d['Inserted']}"
    tactic = label(d["TacticName"], d["TacticPoint"])
    return f"{d['Name']}: {d['LayerType']} ({ins}) -> ({outs}) tactic={tactic} precision={d['Precision']}{origin}"
