"""TensorRT's enum semantics that tools rely on: DataType.itemsize, and members of one enum never equal to another
enum's members (nor, for DataType, to plain integers), as with TensorRT's enums."""
from __future__ import annotations

import numpy as np

import inferrt as trt


def test_datatype_itemsize():
    expected = {trt.float32: 4, trt.float16: 2, trt.bfloat16: 2, trt.int8: 1, trt.int32: 4, trt.int64: 8,
                trt.bool: 1, trt.uint8: 1, trt.fp8: 1, trt.DataType.INT4: 0.5, trt.DataType.FP4: 0.5,
                trt.DataType.E8M0: 1}
    assert {dt: dt.itemsize for dt in expected} == expected
    assert all(dt.itemsize in (0.5, 1, 2, 4, 8) for dt in trt.DataType)   # every member has one
    for dt in (trt.float32, trt.float16, trt.int8, trt.int32, trt.int64, trt.bool, trt.uint8):
        assert dt.itemsize == np.dtype(trt.nptype(dt)).itemsize


def test_members_of_different_enums_are_never_equal():
    assert trt.ActivationType.RELU != trt.LayerType.CONVOLUTION   # both 0
    assert {trt.LayerType.CONVOLUTION: "conv"}.get(trt.ActivationType.RELU) is None
    assert trt.ActivationType.RELU not in [trt.LayerType.CONVOLUTION]
    assert trt.LayerType.CONVOLUTION == 0 and trt.LayerType.CONVOLUTION == trt.LayerType.CONVOLUTION


def test_datatype_is_not_a_plain_integer():
    assert trt.DataType.HALF != 1 and {1: "onnx FLOAT"}.get(trt.DataType.HALF) is None
    assert trt.DataType.HALF == trt.DataType.HALF and {trt.DataType.HALF: 2}[trt.DataType.HALF] == 2
    assert int(trt.DataType.HALF) == 1 and trt.DataType(1) is trt.DataType.HALF
    assert trt.DataType.parse(1) is trt.DataType.HALF and trt.DataType.parse("half") is trt.DataType.HALF
    assert sorted([trt.DataType.INT8, trt.DataType.FLOAT]) == [trt.DataType.FLOAT, trt.DataType.INT8]


def test_star_import_gives_the_enums_only():
    import enum

    import inferrt
    import inferrt.enums as enums

    assert enums.__all__ and all(issubclass(getattr(enums, n), enum.IntEnum) for n in enums.__all__)
    assert {"ActivationType", "DataType", "LayerType"} <= set(enums.__all__)
    for helper in ("TrtEnum", "make_enum", "enum"):   # the helpers that define enums stay in inferrt.enums
        assert not hasattr(inferrt, helper), helper
