"""A loaded plan as the report's data: build facts, I/O, and every optimized layer as the engine inspector describes
it (JSON), at the shapes the report uses (optimization profile 0's opt shapes), with the memory plan at those shapes.
"""
from __future__ import annotations

import json

from ..errors import PlanError


def load_engine_file(path: str):
    """The engine of the plan file ``path``; PlanError naming the file when it cannot be read or loaded."""
    from ..runtime.load import load_engine

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise PlanError(f"cannot read plan {path!r}: {e.strerror}") from None
    try:
        return load_engine(data)
    except PlanError as e:
        raise PlanError(f"{path}: {e}") from None


def report_shapes(engine) -> dict:
    """{input name: shape} the report uses: optimization profile 0's opt shape of each input (its declared shape
    when the engine has no profile)."""
    from ..enums import TensorIOMode

    shapes = {}
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        if engine.get_tensor_mode(name) != TensorIOMode.INPUT:
            continue
        if engine.num_optimization_profiles:
            shapes[name] = tuple(engine.get_tensor_profile_shape(name, 0)[1])
        else:
            shapes[name] = tuple(engine.get_tensor_shape(name))
    return shapes


def shaped_context(engine, shapes: dict):
    """An execution context with ``shapes`` set on its inputs, or None when the engine refuses them (the inspector
    then shows the declared, possibly dynamic, dimensions)."""
    ctx = engine.create_execution_context()
    if ctx is None:
        return None
    for name, shp in shapes.items():
        if not ctx.set_input_shape(name, shp):
            return None
    return ctx


def inspector_layers(engine, ctx) -> tuple[list, bool]:
    """(layers, detailed): the inspector's JSON layers, and whether they are DETAILED dicts (False: names only,
    the plan was built with ProfilingVerbosity.LAYER_NAMES_ONLY or NONE)."""
    from ..enums import LayerInformationFormat

    insp = engine.create_engine_inspector()
    insp.execution_context = ctx
    layers = json.loads(insp.get_engine_information(LayerInformationFormat.JSON))["Layers"]
    detailed = all(isinstance(x, dict) for x in layers)
    if not detailed:
        layers = [{"Name": x if isinstance(x, str) else x.get("Name", "?")} for x in layers]
    return layers, detailed


def describe_plan(path: str, engine=None) -> dict:
    """Everything the report shows about the plan at ``path`` (``engine``: it, already loaded) but the profile."""
    from .memory_data import memory_plan

    engine = engine if engine is not None else load_engine_file(path)
    info = engine.plan_info
    shapes = report_shapes(engine)
    ctx = shaped_context(engine, shapes)
    layers, detailed = inspector_layers(engine, ctx)
    io = []
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        io.append({"name": name, "mode": engine.get_tensor_mode(name).name,
                   "dtype": engine.get_tensor_dtype(name).name, "shape": list(engine.get_tensor_shape(name))})
    return {"path": str(path), "name": info.name or "", "inferrt_version": info.version, "device": info.device,
            "build": info.build or {}, "verbosity": engine.profiling_verbosity.name, "detailed": detailed,
            "io": io, "shapes": {k: list(v) for k, v in shapes.items()}, "layers": layers,
            "memory": memory_plan(engine, shapes), "profile": None}
