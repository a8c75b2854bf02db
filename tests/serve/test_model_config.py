"""config.pbtxt parsing: the Triton subset through protobuf's text-format parser, and errors naming the field."""
import pytest

pytest.importorskip("google.protobuf")

from inferrt.errors import ParseError  # noqa: E402
from inferrt.serve.model_config import data_type_name, parse_model_config  # noqa: E402

VALID = """
name: "mnist"
platform: "tensorrt_plan"
max_batch_size: 8
input [ { name: "x" data_type: TYPE_FP32 dims: [ 1, 28, 28 ] reshape: { shape: [ 784 ] } } ]
output [ { name: "prob" data_type: TYPE_FP32 dims: [ 10 ] } ]
dynamic_batching { preferred_batch_size: [ 4, 8 ] max_queue_delay_microseconds: 1500 }
instance_group [ { count: 2 kind: KIND_CPU }, { count: 1 kind: KIND_GPU gpus: [ 0 ] } ]
version_policy: { specific { versions: [ 1, 3 ] } }
model_warmup [ { name: "zeros" batch_size: 2 count: 3
                 inputs { key: "x" value: { data_type: TYPE_FP32 dims: [ 1, 28, 28 ] zero_data: true } } } ]
"""


def test_valid_config_fields():
    c = parse_model_config(VALID)
    assert (c.name, c.platform, c.max_batch_size) == ("mnist", "tensorrt_plan", 8)
    assert c.input[0].name == "x" and data_type_name(c.input[0].data_type) == "TYPE_FP32"
    assert list(c.input[0].dims) == [1, 28, 28] and list(c.input[0].reshape.shape) == [784]
    assert list(c.dynamic_batching.preferred_batch_size) == [4, 8]
    assert c.dynamic_batching.max_queue_delay_microseconds == 1500
    assert [g.count for g in c.instance_group] == [2, 1] and list(c.instance_group[1].gpus) == [0]
    assert c.version_policy.WhichOneof("policy_choice") == "specific"
    assert list(c.version_policy.specific.versions) == [1, 3]
    w = c.model_warmup[0]
    assert (w.name, w.batch_size, w.count) == ("zeros", 2, 3) and w.inputs["x"].zero_data


def test_backend_and_defaults():
    c = parse_model_config('backend: "onnxruntime" max_batch_size: 0')
    assert c.backend == "onnxruntime" and not c.HasField("dynamic_batching") and not c.instance_group


@pytest.mark.parametrize("text, field", [
    ('name: "m" optimization { }', "optimization"),                      # outside the subset
    ('name: "m" max_batch_size: "eight"', "max_batch_size"),              # wrong value type
    ('input [ { name: "x" data_type: TYPE_FLOAT32 dims: [1] } ]', "TYPE_FLOAT32"),
])
def test_parser_errors_name_the_field(text, field):
    with pytest.raises(ParseError, match=field):
        parse_model_config(text, "repo/m/config.pbtxt")


@pytest.mark.parametrize("text, field", [
    ('platform: "tensorflow_graphdef"', "platform"),
    ('backend: "python"', "backend"),
    ("max_batch_size: -1", "max_batch_size"),
    ('input [ { data_type: TYPE_FP32 dims: [1] } ]', r"input\[0\]\.name"),
    ('input [ { name: "x" dims: [1] } ]', "data_type"),
    ('input [ { name: "x" data_type: TYPE_FP32 } ]', "dims"),
    ('input [ { name: "x" data_type: TYPE_FP32 dims: [0, 3] } ]', "dims"),
    ('input [ { name: "x" data_type: TYPE_FP32 dims: [2, 3] reshape: { shape: [5] } } ]', "reshape"),
    ('input [ { name: "x" data_type: TYPE_FP32 dims: [1] }, { name: "x" data_type: TYPE_FP32 dims: [1] } ]', "name"),
    ("max_batch_size: 0 dynamic_batching { }", "dynamic_batching"),
    ("max_batch_size: 4 dynamic_batching { preferred_batch_size: [ 8 ] }", "preferred_batch_size"),
    ("instance_group [ { kind: KIND_MODEL } ]", "kind"),
    ("instance_group [ { count: -2 } ]", "count"),
    ("version_policy { latest { num_versions: 0 } }", "num_versions"),
    ("max_batch_size: 4 model_warmup [ { batch_size: 1 } ]", "inputs"),
    ('max_batch_size: 4 model_warmup [ { batch_size: 9 inputs { key: "x" value: { zero_data: true } } } ]',
     "batch_size"),
])
def test_semantic_errors_name_the_field(text, field):
    with pytest.raises(ParseError, match=field) as e:
        parse_model_config(text, "repo/m/config.pbtxt")
    assert "repo/m/config.pbtxt" in str(e.value)
