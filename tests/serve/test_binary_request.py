"""Binary tensor data requests decoded by InferrtDataPlane: the same tensors as kserve's own decoder, without the
Python lists kserve builds (far faster on an image), and malformed bodies refused with InvalidInput."""
import json
import time

import numpy as np
import pytest

pytest.importorskip("kserve")

from kserve.errors import InvalidInput  # noqa: E402
from kserve.protocol.infer_type import InferRequest  # noqa: E402

from inferrt.serve.binary_request import InferrtDataPlane, binary_infer_request  # noqa: E402


def _body(inputs, outputs=None, **extra):
    """(body, header length) of a binary-extension request; inputs: (name, datatype, array, binary?)."""
    specs, blobs = [], []
    for name, dt, a, binary in inputs:
        spec = {"name": name, "datatype": dt, "shape": list(a.shape)}
        if binary:
            spec["parameters"] = {"binary_data_size": a.nbytes}
            blobs.append(a.tobytes())
        else:
            spec["data"] = a.ravel().tolist()
        specs.append(spec)
    header = json.dumps({"inputs": specs, **({"outputs": outputs} if outputs else {}), **extra}).encode()
    return header + b"".join(blobs), len(header)


def test_decodes_like_kserve_and_keeps_the_request_fields():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    h = rng.standard_normal((2, 5)).astype(np.float16)
    ids = np.arange(6, dtype=np.int64).reshape(2, 3)
    body, n = _body([("x", "FP32", x, True), ("ids", "INT64", ids, False), ("h", "FP16", h, True)],
                    outputs=[{"name": "y", "parameters": {"binary_data": True}}], id="r1",
                    parameters={"binary_data_output": True})
    ours = binary_infer_request(body, str(n), "m")
    ref = InferRequest.from_bytes(body, n, "m")
    assert [i.name for i in ours.inputs] == ["x", "ids", "h"]
    for a, b in zip(ours.inputs, ref.inputs):
        assert (a.datatype, a.shape) == (b.datatype, b.shape)
        np.testing.assert_array_equal(a.as_numpy(), b.as_numpy())
    np.testing.assert_array_equal(ours.inputs[0].as_numpy(), x)
    np.testing.assert_array_equal(ours.inputs[2].as_numpy(), h)
    assert ours.id == "r1" and ours.use_binary_outputs is True
    assert [o.name for o in ours.request_outputs] == ["y"] and ours.request_outputs[0].binary_data is True


def test_data_plane_uses_it_only_for_binary_bodies():
    plane = InferrtDataPlane(model_registry=None)
    x = np.ones((1, 4), np.float32)
    body, n = _body([("x", "FP32", x, True)])
    req = plane.decode_inference_request(body, {"inference-header-content-length": str(n)}, "m")
    np.testing.assert_array_equal(req.inputs[0].as_numpy(), x)
    with pytest.raises(InvalidInput, match="header is missing"):   # kserve's own answer without the header
        plane.decode_inference_request(body, {}, "m")


def test_an_image_decodes_far_faster_than_kserves_list_round_trip():
    x = np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32)
    body, n = _body([("x", "FP32", x, True)])

    def best(fn, k=3):
        times = []
        for _ in range(k):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    ours = best(lambda: binary_infer_request(body, n, "m").inputs[0].as_numpy())
    theirs = best(lambda: InferRequest.from_bytes(body, n, "m").inputs[0].as_numpy(), k=2)
    assert ours * 10 < theirs, (ours, theirs)


@pytest.mark.parametrize("mutate, match", [
    (lambda b, n: (b, n + 10_000), "holds"),
    (lambda b, n: (b, "ten"), "is not a byte count"),
    (lambda b, n: (b"!" * n + b[n:], n), "not JSON"),
    (lambda b, n: (b[:-4], n), "runs past the end"),
    (lambda b, n: (b + b"\0" * 4, n), "4 bytes after the last binary input"),
])
def test_malformed_bodies(mutate, match):
    body, n = _body([("x", "FP32", np.ones((2, 2), np.float32), True)])
    with pytest.raises(InvalidInput, match=match):
        binary_infer_request(*mutate(body, n), "m")


def test_malformed_inputs():
    def req(spec, blob=b""):
        header = json.dumps({"inputs": [spec]}).encode()
        return binary_infer_request(header + blob, len(header), "m")

    with pytest.raises(InvalidInput, match="binary_data_size is 12 bytes but shape \\[2, 2\\] of FP32 holds 16"):
        req({"name": "x", "datatype": "FP32", "shape": [2, 2], "parameters": {"binary_data_size": 12}}, b"\0" * 12)
    with pytest.raises(InvalidInput, match="FP16 data cannot be sent as JSON"):
        req({"name": "x", "datatype": "FP16", "shape": [1], "data": [1.0]})
    with pytest.raises(InvalidInput, match="neither data nor"):
        req({"name": "x", "datatype": "FP32", "shape": [1]})
    with pytest.raises(InvalidInput, match="needs name, datatype and shape"):
        req({"name": "x", "shape": [1]})
    with pytest.raises(InvalidInput, match="BYTES cannot be sent as binary"):
        req({"name": "s", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 5}}, b"\0" * 5)
