"""Repository layout: config.pbtxt per model, numbered version folders, version_policy, instance groups."""
import os

import pytest

pytest.importorskip("google.protobuf")

from inferrt.errors import BuildError, ParseError  # noqa: E402
from inferrt.serve.repository import instance_devices, read_model, scan_repository  # noqa: E402


def _model(root, name, config, versions=(1,), filename="model.plan"):
    d = os.path.join(root, name)
    os.makedirs(d)
    with open(os.path.join(d, "config.pbtxt"), "w") as f:
        f.write(config)
    for v in versions:
        os.makedirs(os.path.join(d, str(v)))
        with open(os.path.join(d, str(v), filename), "wb") as f:
            f.write(b"x")
    return d


def test_scan_and_default_latest_version(tmp_path):
    _model(tmp_path, "a", 'platform: "tensorrt_plan" max_batch_size: 4', versions=(1, 2, 10))
    _model(tmp_path, "b", 'backend: "onnxruntime"', filename="model.onnx")
    os.makedirs(tmp_path / "a" / "notaversion")
    a, b = scan_repository(str(tmp_path))
    assert (a.name, a.config.name, sorted(a.versions), a.latest) == ("a", "a", [10], 10)
    assert a.versions[10].endswith(os.path.join("10", "model.plan"))
    assert b.versions[1].endswith("model.onnx")


@pytest.mark.parametrize("policy, expected", [
    ("version_policy { all { } }", [1, 2, 3]),
    ("version_policy { latest { num_versions: 2 } }", [2, 3]),
    ("version_policy { specific { versions: [ 1, 3 ] } }", [1, 3]),
])
def test_version_policy(tmp_path, policy, expected):
    d = _model(tmp_path, "m", policy, versions=(1, 2, 3))
    assert sorted(read_model(d).versions) == expected


def test_errors_name_model_and_field(tmp_path):
    with pytest.raises(ParseError, match="holds no model folders"):
        scan_repository(str(tmp_path))
    with pytest.raises(ParseError, match="is not a directory"):
        scan_repository(str(tmp_path / "nope"))
    d = _model(tmp_path, "m", 'name: "other"')
    with pytest.raises(ParseError, match="name: 'other' differs from the folder name 'm'"):
        read_model(d)
    d = _model(tmp_path, "n", "version_policy { specific { versions: [ 4 ] } }")
    with pytest.raises(ParseError, match=r"version_policy.specific.versions: \[4\]"):
        read_model(d)
    d = _model(tmp_path, "p", 'platform: "tensorrt_plan"', filename="model.onnx")
    with pytest.raises(ParseError, match="no version folder holds model.plan"):
        read_model(d)
    os.makedirs(tmp_path / "q")
    with pytest.raises(ParseError, match="config.pbtxt is missing"):
        read_model(str(tmp_path / "q"))


def test_instance_devices(tmp_path):
    import torch

    d = _model(tmp_path, "m", "instance_group [ { count: 3 kind: KIND_CPU }, { count: 2 } ]")
    assert instance_devices(read_model(d).config) == ["cpu"] * 3 + ["auto"] * 2
    d = _model(tmp_path, "g", "instance_group [ { count: 2 kind: KIND_GPU gpus: [ 0 ] } ]")
    if torch.cuda.is_available():
        assert instance_devices(read_model(d).config) == ["cuda:0", "cuda:0"]
    else:
        with pytest.raises(BuildError, match=r"instance_group\[0\].kind is KIND_GPU"):
            instance_devices(read_model(d).config)


def test_failed_warmup_leaves_no_instance_threads(tmp_path):
    pytest.importorskip("kserve")
    import threading

    import inferrt
    from inferrt.builder.builder import Builder
    from inferrt.logger import Logger, Severity
    from inferrt.models.mnist import build_mnist_network
    from inferrt.serve.metrics import ServeMetrics
    from inferrt.serve.model import InferrtModel

    net = build_mnist_network(Builder(Logger(Severity.WARNING)).create_network(0))
    engine = inferrt.build_engine(net, profiles={"x": [(1, 1, 28, 28), (2, 1, 28, 28), (2, 1, 28, 28)]},
                                  device="cpu")
    d = tmp_path / "m"
    os.makedirs(d / "1")
    inferrt.save_plan(engine, str(d / "1" / "model.plan"))
    (d / "config.pbtxt").write_text('max_batch_size: 2 instance_group [ { count: 3 kind: KIND_CPU } ] '
                                    'model_warmup [ { name: "w" batch_size: 1 inputs { key: "nope" '
                                    'value: { data_type: TYPE_FP32 dims: [ 1 ] zero_data: true } } } ]')
    before = threading.active_count()
    model = InferrtModel(read_model(str(d)), ServeMetrics())
    with pytest.raises(BuildError, match=r"model_warmup\[0\].inputs names 'nope'"):
        model.load()
    assert threading.active_count() == before and not model.ready
