"""What a plan holds, for ``inferrt inspect model X.plan``: build facts, I/O, profiles, the optimized layers as the
engine inspector describes them (origin layers, tactic, precision, formats) and the activation memory plan (one
arena; each tensor's offset and size) at every profile's opt shapes."""
from __future__ import annotations

import json


def memory_plan(engine, profile: int | None) -> dict:
    """{"shapes": inputs' shapes, "arena_bytes": n, "tensors": [{name, offset, bytes}] by offset} at ``profile``'s
    opt shapes (the declared shapes when the engine has no profile). Shapes that depend on data give no arena."""
    from ..ops import Spec
    from ..runtime.executor import nbytes_of, plan_arena
    from ..runtime.profile_memory import profile_input_specs

    graph = engine.graph
    shapes = {} if profile is None else {k: v for k, v in engine.plan_info.profiles[profile].shapes.items()}
    specs_in = profile_input_specs(graph, shapes, 1)
    specs = graph.infer({k: Spec(s.dtype, tuple(s.shape)) for k, s in specs_in.items()})
    at = {k: list(s.shape) for k, s in specs_in.items()}
    if not all(s.static for s in specs.values()):
        return {"shapes": at, "arena_bytes": None, "tensors": [],
                "note": "shapes depend on data: activations are allocated as the layers run"}
    offsets, total, folded = plan_arena(graph, specs, set(engine.executor.consts))
    rows = sorted(({"name": n, "offset": off, "bytes": nbytes_of(specs[n])} for n, off in offsets.items()),
                  key=lambda r: (r["offset"], r["name"]))
    return {"shapes": at, "arena_bytes": total, "tensors": rows}


def describe_plan(engine) -> dict:
    """Everything ``inspect model`` shows about a loaded engine, as JSON-ready data."""
    import inferrt as trt

    info = engine.plan_info
    insp = engine.create_engine_inspector()
    layers = json.loads(insp.get_engine_information(trt.LayerInformationFormat.JSON))["Layers"]
    io = [{"name": e.name, "mode": e.mode, "dtype": e.dtype, "shape": list(e.shape)} for e in info.io]
    profiles = [{"shapes": {k: [list(x) for x in v] for k, v in p.shapes.items()}, "device_memory": p.device_memory}
                for p in info.profiles]
    n_prof = len(info.profiles)
    memory = [memory_plan(engine, i) for i in range(n_prof)] if n_prof else [memory_plan(engine, None)]
    return {"name": info.name, "inferrt_version": info.version, "device": info.device, "build": info.build,
            "io": io, "profiles": profiles, "layers": layers, "memory_plans": memory}


def _tensor_line(t) -> str:
    return f"{t.get('Name', '?')} {t.get('Dimensions', '?')} {t.get('Format/Datatype', '')}".rstrip()


def format_plan(d: dict, show_tensors: bool = True) -> list:
    from ..device import describe

    lines = [f"==== Plan: {d['name'] or '(unnamed)'} ====",
             f"Built by inferrt {d['inferrt_version']} for {describe(d['device'])}"]
    b = d["build"]
    if b:
        lines.append(f"Builder flags: {', '.join(b.get('flags', [])) or 'none'} | optimization level "
                     f"{b.get('optimization_level', '?')} | layers {b.get('layers_before', '?')} -> "
                     f"{b.get('layers_after', '?')}")
    lines.append(f"---- {sum(e['mode'] == 'INPUT' for e in d['io'])} Input(s), "
                 f"{sum(e['mode'] == 'OUTPUT' for e in d['io'])} Output(s) ----")
    for e in d["io"]:
        lines.append(f"    {e['mode'].lower():6} {e['name']} [dtype={e['dtype']}, shape={tuple(e['shape'])}]")
    for i, p in enumerate(d["profiles"]):
        lines.append(f"---- Profile {i} (activation memory {p['device_memory']} bytes) ----")
        for name, (mn, op, mx) in p["shapes"].items():
            lines.append(f"    {name}: min={tuple(mn)} opt={tuple(op)} max={tuple(mx)}")
    lines.append(f"---- {len(d['layers'])} Layer(s) ----")
    for k, layer in enumerate(d["layers"]):
        name = layer.get("Name", f"layer {k}")
        lines.append(f"    Layer {k} | {name} [{layer.get('LayerType', '?')}] tactic={layer.get('TacticName', '?')} "
                     f"precision={layer.get('Precision', '?')}")
        origin = layer.get("Origin") or []
        if origin and origin != [name]:
            lines.append(f"        origin: {', '.join(origin)}")
        lines.append(f"        inputs:  {'; '.join(_tensor_line(t) for t in layer.get('Inputs', [])) or '-'}")
        lines.append(f"        outputs: {'; '.join(_tensor_line(t) for t in layer.get('Outputs', [])) or '-'}")
    for i, m in enumerate(d["memory_plans"]):
        where = f"profile {i} opt shapes" if d["profiles"] else "the declared shapes"
        if m["arena_bytes"] is None:
            lines.append(f"---- Memory plan at {where}: {m['note']} ----")
            continue
        lines.append(f"---- Memory plan at {where}: arena {m['arena_bytes']} bytes, {len(m['tensors'])} "
                     f"tensor(s) ----")
        if show_tensors:
            for r in m["tensors"]:
                lines.append(f"    [{r['offset']:>12}, {r['offset'] + r['bytes']:>12})  {r['bytes']:>10} B  "
                             f"{r['name']}")
    return lines
