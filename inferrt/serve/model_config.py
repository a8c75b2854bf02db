"""Triton's ``config.pbtxt``: the subset of ``model_config.proto`` that ``inferrt serve`` implements, as a protobuf
message built in code (descriptor_pb2, field numbers as in Triton's proto) and parsed by protobuf's text-format parser.

    name: "mnist"  platform: "tensorrt_plan"  max_batch_size: 8
    input [ { name: "x" data_type: TYPE_FP32 dims: [ 1, 28, 28 ] } ]
    output [ { name: "prob" data_type: TYPE_FP32 dims: [ 10 ] } ]
    dynamic_batching { preferred_batch_size: [ 4, 8 ] max_queue_delay_microseconds: 2000 }
    instance_group [ { count: 2 kind: KIND_CPU } ]

A field outside the subset is refused by the parser (ParseError naming the field and line), never silently ignored.
"""
from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

from ..errors import ParseError

_F = descriptor_pb2.FieldDescriptorProto
_PKG = "inferrt.serve.triton"

#: Triton DataType -> (enum number, KServe v2 datatype name, numpy dtype name)
DATA_TYPES = {
    "TYPE_BOOL": (1, "BOOL", "bool"), "TYPE_UINT8": (2, "UINT8", "uint8"), "TYPE_UINT16": (3, "UINT16", "uint16"),
    "TYPE_UINT32": (4, "UINT32", "uint32"), "TYPE_UINT64": (5, "UINT64", "uint64"),
    "TYPE_INT8": (6, "INT8", "int8"), "TYPE_INT16": (7, "INT16", "int16"), "TYPE_INT32": (8, "INT32", "int32"),
    "TYPE_INT64": (9, "INT64", "int64"), "TYPE_FP16": (10, "FP16", "float16"), "TYPE_FP32": (11, "FP32", "float32"),
    "TYPE_FP64": (12, "FP64", "float64"), "TYPE_STRING": (13, "BYTES", "object"), "TYPE_BF16": (14, "BF16", None),
}


def _field(msg, name, number, ftype, label=_F.LABEL_OPTIONAL, type_name=None, oneof=None):
    f = msg.field.add(name=name, number=number, type=ftype, label=label)
    if type_name:
        f.type_name = type_name
    if oneof is not None:
        f.oneof_index = oneof
    return f


def _enum(container, name, values):
    e = container.enum_type.add(name=name)
    for n, v in values:
        e.value.add(name=n, number=v)


def _file() -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto(name="inferrt_serve_model_config.proto", package=_PKG, syntax="proto3")
    _enum(fd, "DataType", [("TYPE_INVALID", 0)] + [(k, v[0]) for k, v in DATA_TYPES.items()])
    t = lambda name: f".{_PKG}.{name}"  # noqa: E731
    S, I32, I64, U32, U64, B, M, E = (_F.TYPE_STRING, _F.TYPE_INT32, _F.TYPE_INT64, _F.TYPE_UINT32, _F.TYPE_UINT64,
                                      _F.TYPE_BOOL, _F.TYPE_MESSAGE, _F.TYPE_ENUM)
    R = _F.LABEL_REPEATED

    ig = fd.message_type.add(name="ModelInstanceGroup")
    _enum(ig, "Kind", [("KIND_AUTO", 0), ("KIND_GPU", 1), ("KIND_CPU", 2), ("KIND_MODEL", 3)])
    _field(ig, "name", 1, S)
    _field(ig, "count", 2, I32)
    _field(ig, "gpus", 3, I32, R)
    _field(ig, "kind", 4, E, type_name=t("ModelInstanceGroup.Kind"))

    rs = fd.message_type.add(name="ModelTensorReshape")
    _field(rs, "shape", 1, I64, R)

    mi = fd.message_type.add(name="ModelInput")
    _field(mi, "name", 1, S)
    _field(mi, "data_type", 2, E, type_name=t("DataType"))
    _field(mi, "dims", 4, I64, R)
    _field(mi, "reshape", 5, M, type_name=t("ModelTensorReshape"))

    mo = fd.message_type.add(name="ModelOutput")
    _field(mo, "name", 1, S)
    _field(mo, "data_type", 2, E, type_name=t("DataType"))
    _field(mo, "dims", 3, I64, R)
    _field(mo, "reshape", 5, M, type_name=t("ModelTensorReshape"))

    vp = fd.message_type.add(name="ModelVersionPolicy")
    latest = vp.nested_type.add(name="Latest")
    _field(latest, "num_versions", 1, U32)
    vp.nested_type.add(name="All")
    specific = vp.nested_type.add(name="Specific")
    _field(specific, "versions", 1, I64, R)
    vp.oneof_decl.add(name="policy_choice")
    _field(vp, "latest", 1, M, type_name=t("ModelVersionPolicy.Latest"), oneof=0)
    _field(vp, "all", 2, M, type_name=t("ModelVersionPolicy.All"), oneof=0)
    _field(vp, "specific", 3, M, type_name=t("ModelVersionPolicy.Specific"), oneof=0)

    db = fd.message_type.add(name="ModelDynamicBatching")
    _field(db, "preferred_batch_size", 1, I32, R)
    _field(db, "max_queue_delay_microseconds", 2, U64)

    wu = fd.message_type.add(name="ModelWarmup")
    wi = wu.nested_type.add(name="Input")
    _field(wi, "data_type", 1, E, type_name=t("DataType"))
    _field(wi, "dims", 2, I64, R)
    wi.oneof_decl.add(name="input_data_type")
    _field(wi, "zero_data", 3, B, oneof=0)
    _field(wi, "random_data", 4, B, oneof=0)
    entry = wu.nested_type.add(name="InputsEntry")
    entry.options.map_entry = True
    _field(entry, "key", 1, S)
    _field(entry, "value", 2, M, type_name=t("ModelWarmup.Input"))
    _field(wu, "name", 1, S)
    _field(wu, "batch_size", 2, U32)
    _field(wu, "inputs", 3, M, R, type_name=t("ModelWarmup.InputsEntry"))
    _field(wu, "count", 4, U32)

    mc = fd.message_type.add(name="ModelConfig")
    _field(mc, "name", 1, S)
    _field(mc, "platform", 2, S)
    _field(mc, "version_policy", 3, M, type_name=t("ModelVersionPolicy"))
    _field(mc, "max_batch_size", 4, I32)
    _field(mc, "input", 5, M, R, type_name=t("ModelInput"))
    _field(mc, "output", 6, M, R, type_name=t("ModelOutput"))
    _field(mc, "instance_group", 7, M, R, type_name=t("ModelInstanceGroup"))
    _field(mc, "default_model_filename", 8, S)
    _field(mc, "dynamic_batching", 11, M, type_name=t("ModelDynamicBatching"))
    _field(mc, "model_warmup", 16, M, R, type_name=t("ModelWarmup"))
    _field(mc, "backend", 17, S)
    return fd


_pool = descriptor_pool.DescriptorPool()
_pool.Add(_file())
ModelConfig = message_factory.GetMessageClass(_pool.FindMessageTypeByName(f"{_PKG}.ModelConfig"))
DataType = _pool.FindEnumTypeByName(f"{_PKG}.DataType")
InstanceKind = _pool.FindEnumTypeByName(f"{_PKG}.ModelInstanceGroup.Kind")

#: platforms and backends whose model file inferrt serves
PLATFORMS = {"tensorrt_plan": "model.plan", "onnxruntime_onnx": "model.onnx", "inferrt_plan": "model.plan"}
BACKENDS = {"tensorrt": "tensorrt_plan", "onnxruntime": "onnxruntime_onnx", "inferrt": "inferrt_plan"}


def data_type_name(number: int) -> str:
    return DataType.values_by_number[number].name


def parse_model_config(text: str, where: str = "config.pbtxt"):
    """A ModelConfig message from config.pbtxt text; ParseError naming the file, line and field on a syntax error,
    an unknown field (outside the subset inferrt serves) or an invalid value."""
    msg = ModelConfig()
    try:
        text_format.Parse(text, msg)
    except text_format.ParseError as e:
        raise ParseError(f"{where}: {e} (inferrt serve reads this subset of Triton's model_config.proto: "
                         f"{', '.join(f.name for f in ModelConfig.DESCRIPTOR.fields)})") from None
    validate_model_config(msg, where)
    return msg


def validate_model_config(cfg, where: str = "config.pbtxt") -> None:
    """Semantic checks text format cannot express; ParseError naming the field and the fix."""
    def bad(field, why):
        raise ParseError(f"{where}: {field}: {why}")

    if cfg.platform and cfg.platform not in PLATFORMS:
        bad("platform", f"{cfg.platform!r} is not served by inferrt; use one of {sorted(PLATFORMS)}")
    if cfg.backend and cfg.backend not in BACKENDS:
        bad("backend", f"{cfg.backend!r} is not served by inferrt; use one of {sorted(BACKENDS)}")
    if cfg.max_batch_size < 0:
        bad("max_batch_size", f"must be >= 0 (0: the model has no batch dimension), got {cfg.max_batch_size}")
    for kind, tensors in (("input", cfg.input), ("output", cfg.output)):
        seen = set()
        for i, tensor in enumerate(tensors):
            label = f"{kind}[{i}]" + (f" ({tensor.name!r})" if tensor.name else "")
            if not tensor.name:
                bad(f"{kind}[{i}].name", "every tensor needs a name")
            if tensor.name in seen:
                bad(f"{label}.name", "the name is used twice")
            seen.add(tensor.name)
            if tensor.data_type == 0:
                bad(f"{label}.data_type", "missing: give TYPE_FP32, TYPE_INT64, ...")
            if data_type_name(tensor.data_type) in ("TYPE_STRING", "TYPE_BF16"):
                bad(f"{label}.data_type", f"{data_type_name(tensor.data_type)} is not supported by inferrt serve")
            if not tensor.dims:
                bad(f"{label}.dims", "missing: give the shape without the batch dimension, e.g. dims: [ 3, 224, 224 ]")
            if any(d < -1 or d == 0 for d in tensor.dims):
                bad(f"{label}.dims", f"{list(tensor.dims)}: dims are positive or -1 (variable)")
            if tensor.HasField("reshape"):
                import math

                if -1 in tensor.dims or math.prod(tensor.reshape.shape) != math.prod(tensor.dims):
                    bad(f"{label}.reshape", f"shape {list(tensor.reshape.shape)} must hold as many elements as "
                                            f"dims {list(tensor.dims)} (fixed dims only)")
    if cfg.HasField("dynamic_batching"):
        if cfg.max_batch_size == 0:
            bad("dynamic_batching", "needs max_batch_size > 0 (the model must have a batch dimension)")
        for p in cfg.dynamic_batching.preferred_batch_size:
            if not 1 <= p <= cfg.max_batch_size:
                bad("dynamic_batching.preferred_batch_size", f"{p} is outside 1..max_batch_size "
                                                             f"({cfg.max_batch_size})")
    for i, group in enumerate(cfg.instance_group):
        if group.count < 0:
            bad(f"instance_group[{i}].count", f"must be >= 1, got {group.count}")
        if InstanceKind.values_by_number[group.kind].name == "KIND_MODEL":
            bad(f"instance_group[{i}].kind", "KIND_MODEL is not supported: use KIND_CPU, KIND_GPU or KIND_AUTO")
        if any(g < 0 for g in group.gpus):
            bad(f"instance_group[{i}].gpus", f"{list(group.gpus)}: GPU indices are >= 0")
    if cfg.version_policy.WhichOneof("policy_choice") == "latest" and cfg.version_policy.latest.num_versions < 1:
        bad("version_policy.latest.num_versions", "must be >= 1")
    for i, w in enumerate(cfg.model_warmup):
        if not w.inputs:
            bad(f"model_warmup[{i}].inputs", "give every model input (zero_data or random_data)")
        if cfg.max_batch_size and not 1 <= w.batch_size <= cfg.max_batch_size:
            bad(f"model_warmup[{i}].batch_size", f"{w.batch_size} is outside 1..max_batch_size")
        for name, inp in w.inputs.items():
            if inp.WhichOneof("input_data_type") is None:
                bad(f"model_warmup[{i}].inputs[{name!r}]", "give zero_data: true or random_data: true")
