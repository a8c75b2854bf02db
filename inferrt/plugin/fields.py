"""Plugin fields: TensorRT's ``PluginField``, ``PluginFieldCollection`` and ``PluginFieldType``.

A field is a named, typed array of values: what a creator receives (``create_plugin(name, fc, phase)``) and what a
plugin hands back from ``get_fields_to_serialize`` to be stored in the plan. The plan stores each field as plain JSON
(``to_json``: name, type name, a flat list of numbers or a string), never as pickled objects, and ``from_json`` checks
every entry of that untrusted data before a creator sees it.
"""
from __future__ import annotations

import numpy as np

from ..enums import make_enum
from ..errors import PlanError

PluginFieldType = make_enum("PluginFieldType",
                        "FLOAT16 FLOAT32 FLOAT64 INT8 INT16 INT32 CHAR DIMS UNKNOWN BF16 INT64 FP8 INT4 FP4")

_NUMPY = {"FLOAT16": np.float16, "FLOAT32": np.float32, "FLOAT64": np.float64, "INT8": np.int8, "INT16": np.int16,
          "INT32": np.int32, "INT64": np.int64, "CHAR": np.int8, "DIMS": np.int64, "UNKNOWN": np.uint8,
          "BF16": np.float32, "FP8": np.float32, "INT4": np.int8, "FP4": np.float32}
MAX_FIELD_VALUES = 1 << 20   # a field of a plan larger than this is damage


def _type_of(arr: np.ndarray) -> PluginFieldType:
    for name, dt in (("FLOAT32", np.float32), ("FLOAT64", np.float64), ("FLOAT16", np.float16), ("INT32", np.int32),
                     ("INT64", np.int64), ("INT8", np.int8), ("INT16", np.int16)):
        if arr.dtype == dt:
            return PluginFieldType[name]
    if arr.dtype.kind in "SU":
        return PluginFieldType.CHAR
    if arr.dtype == np.bool_:
        return PluginFieldType.INT8
    return PluginFieldType.UNKNOWN


class PluginField:
    """``PluginField(name, data, type)``: ``data`` is a numpy array (or anything numpy accepts; a ``str`` or
    ``bytes`` for CHAR), ``type`` a PluginFieldType (inferred from the array's dtype when omitted)."""

    def __init__(self, name: str = "", data=None, type=None):  # noqa: A002 - TensorRT's parameter name
        self.name = str(name)
        if isinstance(data, str):
            data = np.frombuffer(data.encode(), dtype=np.int8)
            type = PluginFieldType.CHAR if type is None else type
        elif isinstance(data, (bytes, bytearray)):
            data = np.frombuffer(bytes(data), dtype=np.int8)
            type = PluginFieldType.CHAR if type is None else type
        self.data = None if data is None else np.asarray(data)
        self.type = _type_of(self.data) if type is None and self.data is not None else \
            PluginFieldType.parse(type if type is not None else PluginFieldType.UNKNOWN)

    @property
    def size(self) -> int:
        """The number of values (TensorRT's ``length``)."""
        return 0 if self.data is None else int(self.data.size)

    length = size

    def text(self) -> str:
        """A CHAR field's value as a string (a trailing NUL, as C++ plugins write, dropped)."""
        return bytes(np.asarray(self.data, dtype=np.int8).tobytes()).split(b"\0", 1)[0].decode()

    def __repr__(self):
        return f"PluginField({self.name!r}, type={self.type.name}, size={self.size})"

    # ---------------------------------------------------------------------------------------- plan storage
    def to_json(self) -> dict:
        if self.type == PluginFieldType.CHAR:
            return {"name": self.name, "type": "CHAR", "text": self.text()}
        arr = np.asarray(self.data).reshape(-1)
        if arr.dtype.kind == "f":
            values = [float(v) if np.isfinite(v) else repr(float(v)) for v in arr.astype(np.float64)]
        else:
            values = [int(v) for v in arr]
        return {"name": self.name, "type": self.type.name, "data": values}

    @classmethod
    def from_json(cls, j, where: str) -> "PluginField":
        """A field of a plan, every entry checked (PlanError naming ``where`` otherwise)."""
        if not isinstance(j, dict) or not isinstance(j.get("name"), str) or j.get("type") not in _NUMPY:
            raise PlanError(f"corrupt plan: {where}: a plugin field must be an object with a string name and a "
                            f"PluginFieldType name, got {str(j)[:80]}")
        if j["type"] == "CHAR":
            if not isinstance(j.get("text"), str) or len(j["text"]) > MAX_FIELD_VALUES:
                raise PlanError(f"corrupt plan: {where}: CHAR field {j['name']!r} must hold a string")
            return cls(j["name"], j["text"], PluginFieldType.CHAR)
        data = j.get("data")
        if not isinstance(data, list) or len(data) > MAX_FIELD_VALUES or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) or v in ("nan", "inf", "-inf") for v in data):
            raise PlanError(f"corrupt plan: {where}: field {j['name']!r} must hold a list of at most "
                            f"{MAX_FIELD_VALUES} numbers")
        try:
            arr = np.array([float(v) if isinstance(v, str) else v for v in data], dtype=_NUMPY[j["type"]])
        except (OverflowError, ValueError):
            raise PlanError(f"corrupt plan: {where}: field {j['name']!r} holds values outside {j['type']}") from None
        return cls(j["name"], arr, PluginFieldType[j["type"]])


class PluginFieldCollection(list):
    """``PluginFieldCollection(fields)``: a list of PluginField; ``fc["name"]`` finds a field by name."""

    def __init__(self, fields=()):
        super().__init__(fields)
        for f in self:
            if not isinstance(f, PluginField):
                raise TypeError(f"PluginFieldCollection holds PluginField objects, got {type(f).__name__}")

    def __getitem__(self, key):
        if isinstance(key, str):
            for f in self:
                if f.name == key:
                    return f
            raise KeyError(f"no plugin field named {key!r}; fields: {[f.name for f in self]}")
        return super().__getitem__(key)

    def __contains__(self, key):
        if isinstance(key, str):
            return any(f.name == key for f in self)
        return super().__contains__(key)

    @property
    def nb_fields(self) -> int:
        return len(self)


def fields_to_json(fc) -> list:
    return [f.to_json() for f in (fc or [])]


def fields_from_json(j, where: str) -> PluginFieldCollection:
    if not isinstance(j, list) or len(j) > 4096:
        raise PlanError(f"corrupt plan: {where}: the plugin's fields must be a list of at most 4096 entries")
    return PluginFieldCollection([PluginField.from_json(f, where) for f in j])
