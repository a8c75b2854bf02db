"""Plans from another inferrt version, another device or another format version are refused with a message that
says what was expected and what was found; crafted manifests with a valid checksum are refused as corrupt."""
from __future__ import annotations

import json

import numpy as np
import pytest
from plan_tools import build_small_plan, frame, split, with_manifest

import inferrt as trt
from inferrt.ops.base import FLOAT, INT, Enum, get_op
from inferrt.plan.format import FORMAT_VERSION


@pytest.fixture(scope="module")
def plan():
    return build_small_plan("cpu")


def _refused(data) -> str:
    with pytest.raises(trt.PlanError) as info:
        trt.load_engine(data)
    return str(info.value)


def test_unedited_reframed_plan_loads(plan):
    """The test framing is faithful: re-framing the original manifest gives a plan that loads and runs."""
    manifest, blobs, version, raw = split(plan)
    assert frame(raw, blobs, version) == plan
    x = np.ones((1, 3, 8, 8), np.float32)
    out = trt.load_engine(with_manifest(plan, lambda m: None)).create_execution_context().infer(x=x)["y"]
    assert out.shape == (1, 5) and np.isclose(out.sum(), 1.0)


@pytest.mark.parametrize("version", ["0.0.1", "1.0.0", "99.3.2"])
def test_other_inferrt_version_is_refused(plan, version):
    msg = _refused(with_manifest(plan, lambda m: m.update(inferrt_version=version)))
    assert version in msg and trt.inferrt_version in msg and "rebuild" in msg


def test_missing_inferrt_version_is_refused(plan):
    msg = _refused(with_manifest(plan, lambda m: m.pop("inferrt_version")))
    assert trt.inferrt_version in msg


def test_other_device_is_refused(plan):
    gpu = {"kind": "cuda", "name": "NVIDIA Imaginary 9000", "capability": "sm_99"}
    msg = _refused(with_manifest(plan, lambda m: m.update(device=gpu)))
    assert "NVIDIA Imaginary 9000" in msg and "sm_99" in msg
    assert "rebuild" in msg


def test_cpu_fingerprint_mismatch_is_refused(plan):
    msg = _refused(with_manifest(plan, lambda m: m["device"].update(name="some other cpu")))
    assert "'some other cpu' in the plan" in msg and "'cpu' here" in msg


def test_bad_format_version_in_header(plan):
    manifest, blobs, _, raw = split(plan)
    for v in (0, FORMAT_VERSION + 1, 2 ** 32 - 1):
        msg = _refused(frame(raw, blobs, v))
        assert f"format version {v}" in msg and f"version {FORMAT_VERSION}" in msg


def test_reserved_header_bytes_must_be_zero(plan):
    _, blobs, version, raw = split(plan)
    assert "reserved" in _refused(frame(raw, blobs, version, reserved=b"\x01" + b"\x00" * 7))


def test_not_a_plan():
    assert "magic" in _refused(b"\x08\x01" + b"\x00" * 200)        # looks like an ONNX protobuf
    assert "shorter" in _refused(b"")
    with pytest.raises(trt.PlanError, match="bytes-like"):
        trt.load_engine(12345)


def test_load_engine_from_missing_path(tmp_path):
    with pytest.raises(trt.PlanError, match="cannot read plan file"):
        trt.load_engine(str(tmp_path / "nope.plan"))


def _node(m, name):
    return next(n for n in m["graph"]["nodes"] if n["name"] == name)


def _layers(m):
    """Non-constant nodes in order (names and kinds depend on the optimization passes, positions do not)."""
    return [n for n in m["graph"]["nodes"] if n["kind"] != "constant"]


def _first(m):
    return _layers(m)[0]


def _last(m):
    return _layers(m)[-1]


def _attr_where(m, pred):
    """(node, attribute name) of the first attribute whose schema and value satisfy ``pred(attr_type, default,
    value)``."""
    for n in _layers(m):
        schema = get_op(n["kind"]).attrs
        for k, v in n["attrs"].items():
            if pred(schema[k][0], schema[k][1], v):
                return n, k
    raise AssertionError("no such attribute in the plan")


def _null_attr(m):
    n, k = _attr_where(m, lambda t, default, v: default is not None and v is not None)
    n["attrs"][k] = None


def _unknown_enum(m):
    n, k = _attr_where(m, lambda t, default, v: isinstance(t, Enum))
    n["attrs"][k] = "NOT_A_MEMBER"


def _huge_number_attr(m):
    n, k = _attr_where(m, lambda t, default, v: t is FLOAT or t is INT)
    n["attrs"][k] = 10 ** 400     # valid JSON, no float or machine integer holds it


def _int_attr_as_string(m):
    n, k = _attr_where(m, lambda t, default, v: t is INT)
    n["attrs"][k] = str(n["attrs"][k])


def _set_value_shape(m, shape):
    m["graph"]["values"]["x"]["shape"] = shape


CRAFTED = {
    # wrong types
    "graph is a list": lambda m: m.update(graph=[]),
    "io is an object": lambda m: m.update(io={}),
    "profiles missing": lambda m: m.pop("profiles"),
    "no profiles": lambda m: m.update(profiles=[]),
    "device_memory a string": lambda m: m["profiles"][0].update(device_memory="1"),
    "device_memory negative": lambda m: m["profiles"][0].update(device_memory=-1),
    "device_memory implausible": lambda m: m["profiles"][0].update(device_memory=2 ** 45),
    "io dtype unknown": lambda m: m["io"][0].update(dtype="FLOAT128"),
    "io mode unknown": lambda m: m["io"][1].update(mode="INOUT"),
    "io shape strings": lambda m: m["io"][0].update(shape=["a"]),
    "io name duplicated": lambda m: m["io"][1].update(name="x"),
    "io shape differs from graph": lambda m: m["io"][0].update(shape=[-1, 3, 8, 9]),
    "io names differ from graph": lambda m: m["io"][1].update(name="z"),
    "node attrs a list": lambda m: _node(m, "conv").update(attrs=[]),
    "attr of wrong type": _int_attr_as_string,
    "attr null": _null_attr,
    "enum attr unknown": _unknown_enum,
    "profiling_verbosity unknown": lambda m: m.update(profiling_verbosity="LOUD"),
    "tactic unknown": lambda m: _first(m)["info"].update(tactic="warp_drive"),
    # unknown op kind or attribute
    "unknown op kind": lambda m: _last(m).update(kind="frobnicate"),
    "unknown attribute": lambda m: _last(m)["attrs"].update(gamma=1.0),
    # blob references
    "blob index out of range": lambda m: _node(m, "conv [kernel]")["attrs"].update(weights=99),
    "blob index negative": lambda m: _node(m, "conv [kernel]")["attrs"].update(weights=-1),
    "blob index a string": lambda m: _node(m, "conv [kernel]")["attrs"].update(weights="0"),
    "blob outside the section": lambda m: m["blobs"][0].update(offset=10 ** 9),
    "blob shape disagrees with bytes": lambda m: m["blobs"][0].update(shape=[4, 3, 3, 4]),
    "constant shape disagrees with blob": lambda m: _node(m, "conv [kernel]")["attrs"].update(shape=[4, 3, 3, 4]),
    "blob dtype unknown": lambda m: m["blobs"][0].update(dtype="complex64"),
    # dangling names, cycles, duplicates
    "dangling input": lambda m: _last(m).update(inputs=["nowhere"]),
    "dangling graph output": lambda m: m["graph"].update(outputs=["nowhere"]),
    "cycle": lambda m: _first(m)["inputs"].__setitem__(0, _layers(m)[1]["outputs"][0]),
    "duplicate node name": lambda m: _last(m).update(name=_first(m)["name"]),
    "value defined twice": lambda m: _last(m).update(outputs=_first(m)["outputs"]),
    "absent required input": lambda m: _last(m).update(inputs=[""]),
    # shapes
    "huge input shape": lambda m: _set_value_shape(m, [-1, 3, 2 ** 62, 8]),
    "huge profile shape": lambda m: m["profiles"][0]["shapes"]["x"][2].__setitem__(0, 2 ** 40),
    "profile min > max": lambda m: m["profiles"][0]["shapes"]["x"][0].__setitem__(0, 9),
    "profile wrong rank": lambda m: m["profiles"][0]["shapes"]["x"][1].append(1),
    "profile missing dynamic input": lambda m: m["profiles"][0]["shapes"].pop("x"),
    "profile conflicting fixed dim": lambda m: [s.__setitem__(1, 4) for s in m["profiles"][0]["shapes"]["x"]],
    "profile of unknown input": lambda m: m["profiles"][0]["shapes"].update(w=[[1], [1], [1]]),
    "shape inference fails": lambda m: _node(m, "conv")["attrs"].update(kernel_size_nd=[5]),
    "node with an extra output": lambda m: _last(m)["outputs"].append("extra"),
    "number attribute too large": _huge_number_attr,
    "deep nesting": lambda m: m.update(name=json.loads("[" * 50 + "]" * 50)),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_manifest_with_valid_checksum_is_refused(plan, case):
    logger_msgs = []

    class L(trt.ILogger):
        def log(self, severity, msg):
            logger_msgs.append((severity, msg))

    bad = with_manifest(plan, CRAFTED[case])
    msg = _refused(bad)
    assert msg.startswith("corrupt plan") or "plan" in msg, msg
    assert trt.Runtime(L()).deserialize_cuda_engine(bad) is None
    assert logger_msgs == [(trt.Logger.ERROR, msg)]


def test_json_nested_too_deep_is_refused(plan):
    _, blobs, version, _ = split(plan)
    msg = _refused(frame(b"[" * 100000 + b"]" * 100000, blobs, version))
    assert "manifest" in msg
