"""plan/schema.py: the manifest the builder writes is the one the reader checks and types; the reader's checks name
the field and run in a fixed order."""
from __future__ import annotations

import json

import pytest

import inferrt as trt
from inferrt.plan import schema
from inferrt.plan.format import read_plan
from tests.plan.plan_tools import build_small_plan, split, with_manifest


@pytest.fixture(scope="module")
def plan():
    return build_small_plan()


def _written() -> dict:
    io = [schema.IOTensor("x", "INPUT", "FLOAT", [-1, 3]), schema.IOTensor("y", "OUTPUT", "HALF", [-1, 3])]
    profiles = [schema.Profile({"x": ((1, 3), (2, 3), (4, 3))}, 96)]
    build = schema.BuildInfo(flags=["FP16"], optimization_level=3, layers_before=2, layers_after=1)
    return schema.write_manifest(device={"kind": "cpu", "name": "CPU"}, name="net", graph={"nodes": []}, io=io,
                                 kernels=[], profiles=profiles, profiling_verbosity="DETAILED", build=build)


def test_written_manifest_reads_back_typed():
    raw = json.loads(json.dumps(_written()))   # through JSON, as a plan stores it
    assert set(raw) == {schema.VERSION, schema.DEVICE, schema.NAME, schema.GRAPH, schema.IO, schema.KERNELS,
                        schema.PROFILES, schema.PROFILING_VERBOSITY, schema.BUILD}
    m = schema.read_manifest(raw)
    assert m.version == trt.inferrt_version and m.device_kind == "cpu" and m.name == "net"
    assert m.io == (schema.IOTensor("x", "INPUT", "FLOAT", [-1, 3]), schema.IOTensor("y", "OUTPUT", "HALF", [-1, 3]))
    assert m.profiles == (schema.Profile({"x": [[1, 3], [2, 3], [4, 3]]}, 96),)
    assert m.profiling_verbosity == "DETAILED" and m.kernels == [] and m.raw is raw
    assert m.build == {"flags": ["FP16"], "optimization_level": 3, "layers_before": 2, "layers_after": 1}
    assert m.tf32 is False


def test_optional_fields_take_their_defaults():
    raw = json.loads(json.dumps(_written()))
    for key in (schema.NAME, schema.PROFILING_VERBOSITY, schema.BUILD, schema.KERNELS):
        del raw[key]
    m = schema.read_manifest(raw)
    assert (m.name, m.profiling_verbosity, m.build, m.kernels) == ("", "LAYER_NAMES_ONLY", {}, None)
    assert m.tf32 is True   # plans that do not record their flags ran with TF32 allowed


def test_built_plan_matches_engine(plan):
    raw, _ = read_plan(plan)
    m = schema.read_manifest(raw)
    engine = trt.load_engine(plan)
    assert [e.name for e in m.io] == [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    assert engine.plan_info.io == m.io and engine.manifest == raw
    assert [p.shapes["x"] for p in m.profiles] == [[[1, 3, 8, 8], [2, 3, 8, 8], [4, 3, 8, 8]]]
    assert engine.get_device_memory_size_for_profile(0) == m.profiles[0].device_memory > 0
    assert m.build["layers_after"] == engine.num_layers


@pytest.mark.parametrize("edit, message", [
    (lambda m: m[schema.IO][0].update(mode="INOUT"), "I/O tensor 'x' has mode 'INOUT'; expected INPUT or OUTPUT"),
    (lambda m: m[schema.IO][0].update(dtype="FLOAT64"), "I/O tensor 'x' has unknown dtype 'FLOAT64'"),
    (lambda m: m[schema.IO].append(dict(m[schema.IO][0])), "I/O tensor 'x' is listed twice"),
    (lambda m: m[schema.PROFILES][0].update(device_memory=-1), "optimization profile 0: device_memory must be"),
    (lambda m: m.update(name=7), "manifest field 'name' must be a string"),
    (lambda m: m.update(build=[]), "manifest field 'build' must be an object"),
    (lambda m: m.update(io={}), "manifest field 'io' must be a list"),
    # the I/O table is checked before the profiles
    (lambda m: (m[schema.IO][0].update(mode="X"), m.update(profiles=[])), "I/O tensor 'x' has mode 'X'"),
    (lambda m: m.update(profiles=[]), "the plan has no optimization profile"),
    (lambda m: m.update(device={"kind": "tpu"}), "its device fingerprint is missing"),
])
def test_reader_refuses_with_the_field_named(edit, message):
    raw = json.loads(json.dumps(_written()))
    edit(raw)
    with pytest.raises(trt.PlanError) as err:
        schema.read_manifest(raw)
    assert str(err.value).startswith("corrupt plan: ") and message in str(err.value)


def test_version_is_checked_first(plan):
    def edit(m):
        m[schema.VERSION] = "0.0.1"
        m[schema.DEVICE] = {}
    raw, _, _, _ = split(with_manifest(plan, edit))
    with pytest.raises(trt.PlanError, match="plan was built by inferrt 0.0.1; this is inferrt"):
        schema.read_manifest(raw)


def test_no_manifest_indexing_outside_plan():
    """The manifest's layout lives in plan/schema.py only: no ``manifest[...]`` / ``manifest.get(...)`` elsewhere."""
    import pathlib
    import re

    root = pathlib.Path(schema.__file__).parents[1]
    found = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py") if p.parent.name != "plan"
             for i, line in enumerate(p.read_text().splitlines(), 1) if re.search(r"manifest(\[|\.get\()", line)]
    assert found == []
