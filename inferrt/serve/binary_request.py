"""Triton's binary tensor data extension, decoded without leaving numpy.

kserve 0.21 decodes a binary HTTP request (``Inference-Header-Content-Length``) by turning each binary input into a
Python list of its elements (``InferRequest.from_bytes`` calls ``set_data_from_numpy(..., binary_data=False)``),
which the model then turns back into an array: for a 224x224 image that is 150,528 Python floats each way, tens of
milliseconds of one core per request, so the server, not the engine, would set the throughput. ``InferrtDataPlane``
is kserve's DataPlane with that one step replaced: each binary input stays the bytes it came as.

    body = JSON header (its length in Inference-Header-Content-Length) + binary inputs, in input order
    {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3, 224, 224],
                 "parameters": {"binary_data_size": 602112}}, ...], "outputs": [...], "parameters": {...}}
"""
from __future__ import annotations

import json

import numpy as np

from .kserve_import import import_kserve

import_kserve()
from kserve.constants.constants import INFERENCE_CONTENT_LENGTH_HEADER  # noqa: E402
from kserve.errors import InvalidInput  # noqa: E402
from kserve.protocol.dataplane import DataPlane  # noqa: E402
from kserve.protocol.infer_type import InferInput, InferRequest, RequestedOutput  # noqa: E402
from kserve.utils.numpy_codec import to_np_dtype  # noqa: E402


class InferrtDataPlane(DataPlane):
    def decode_inference_request(self, body, headers, model_name):
        length = headers.get(INFERENCE_CONTENT_LENGTH_HEADER) if isinstance(body, bytes) else None
        if length is None:
            return super().decode_inference_request(body, headers, model_name)
        return binary_infer_request(body, length, model_name)


def binary_infer_request(body: bytes, header_length, model_name: str) -> InferRequest:
    """The InferRequest of a binary-extension body, each binary input held as its bytes. InvalidInput naming the
    input or field when the header is not JSON or the binary sizes do not add up to the body."""
    try:
        n = int(header_length)
    except (TypeError, ValueError):
        raise InvalidInput(f"{INFERENCE_CONTENT_LENGTH_HEADER}: {header_length!r} is not a byte count") from None
    if not 0 < n <= len(body):
        raise InvalidInput(f"{INFERENCE_CONTENT_LENGTH_HEADER} is {n} but the body holds {len(body)} bytes")
    try:
        header = json.loads(body[:n])
    except ValueError as e:
        raise InvalidInput(f"the first {n} bytes of the body (the JSON header) are not JSON: {e}") from None
    if not isinstance(header, dict) or not isinstance(header.get("inputs"), list):
        raise InvalidInput('the JSON header needs an "inputs" list')
    view, offset, inputs = memoryview(body), n, []
    for i, spec in enumerate(header["inputs"]):
        if not isinstance(spec, dict) or not {"name", "datatype", "shape"} <= set(spec):
            raise InvalidInput(f"inputs[{i}] needs name, datatype and shape")
        name, datatype, shape = spec["name"], spec["datatype"], spec["shape"]
        params = spec.get("parameters") or {}
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise InvalidInput(f"input {name!r}: shape {shape!r} is not a list of sizes")
        inp = InferInput(name=name, shape=shape, datatype=datatype, parameters=dict(params))
        if "binary_data_size" in params:
            size = params["binary_data_size"]
            dtype = to_np_dtype(datatype)
            if datatype == "BYTES" or dtype is None:
                raise InvalidInput(f"input {name!r}: datatype {datatype} cannot be sent as binary data here")
            if not isinstance(size, int) or size < 0 or offset + size > len(body):
                raise InvalidInput(f"input {name!r}: binary_data_size {size!r} runs past the end of the body "
                                   f"({len(body) - offset} bytes of binary data left)")
            count = int(np.prod(shape, dtype=np.int64))
            if size != count * np.dtype(dtype).itemsize:
                raise InvalidInput(f"input {name!r}: binary_data_size is {size} bytes but shape {shape} of "
                                   f"{datatype} holds {count * np.dtype(dtype).itemsize}")
            inp.set_data_from_numpy(np.frombuffer(view[offset:offset + size], dtype).reshape(shape),
                                    binary_data=True)
            offset += size
        elif "data" in spec:
            if datatype == "FP16":
                raise InvalidInput(f"input {name!r}: FP16 data cannot be sent as JSON; send it as binary data")
            inp.data = spec["data"]
        else:
            raise InvalidInput(f"input {name!r} has neither data nor parameters.binary_data_size")
        inputs.append(inp)
    if offset != len(body):
        raise InvalidInput(f"the body has {len(body) - offset} bytes after the last binary input")
    outputs = header.get("outputs")
    if outputs is not None and (not isinstance(outputs, list) or
                                not all(isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs)):
        raise InvalidInput('"outputs" must be a list of {"name": ..., "parameters": {...}}')
    requested = None if outputs is None else [RequestedOutput(name=o["name"], parameters=o.get("parameters"))
                                              for o in outputs]
    return InferRequest(model_name=model_name, infer_inputs=inputs, request_id=header.get("id"),
                        parameters=header.get("parameters"), request_outputs=requested)
