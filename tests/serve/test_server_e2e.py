"""End to end: ``inferrt serve`` in a subprocess on free localhost ports, driven over HTTP (raw JSON, Triton's
binary tensor extension, concurrent and malformed requests, tritonclient) and checked against the engine itself
(the plan model) and onnxruntime (the ONNX model built on load)."""
import concurrent.futures
import json
import os
import re
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("kserve")
requests = pytest.importorskip("requests")

from tests.helpers import tolerance  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MNIST_CONFIG = """
name: "mnist"
platform: "tensorrt_plan"
max_batch_size: 8
input [ { name: "x" data_type: TYPE_FP32 dims: [ 1, 28, 28 ] } ]
output [ { name: "prob" data_type: TYPE_FP32 dims: [ 10 ] } ]
dynamic_batching { preferred_batch_size: [ 8 ] max_queue_delay_microseconds: 30000 }
instance_group [ { count: 2 kind: KIND_CPU } ]
model_warmup [ { name: "w" batch_size: 2 inputs { key: "x" value: { data_type: TYPE_FP32 dims: [ 1, 28, 28 ]
                                                                    random_data: true } } } ]
"""
LINEAR_CONFIG = """
backend: "onnxruntime"
max_batch_size: 4
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mnist_engine(device=None):
    import inferrt
    from inferrt.builder.builder import Builder
    from inferrt.logger import Logger, Severity
    from inferrt.models.mnist import build_mnist_network

    net = build_mnist_network(Builder(Logger(Severity.WARNING)).create_network(0))
    return inferrt.build_engine(net, profiles={"x": [(1, 1, 28, 28), (8, 1, 28, 28), (8, 1, 28, 28)]},
                                device=device)


def _linear_onnx(path):
    import torch

    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh())
    torch.onnx.export(m, (torch.randn(2, 6),), path, input_names=["a"], output_names=["b"], opset_version=17,
                      dynamic_axes={"a": {0: "n"}, "b": {0: "n"}}, dynamo=False)


def _start(repo, tmp_log):
    """Run ``inferrt serve`` on ``repo``; (process, http port, grpc port) once it is ready."""
    http, grpc = _free_port(), _free_port()
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    log = open(tmp_log, "w")
    proc = subprocess.Popen([sys.executable, "-m", "inferrt", "serve", "--model-repository", str(repo),
                             "--http-port", str(http), "--grpc-port", str(grpc)], stdout=log,
                            stderr=subprocess.STDOUT, env=env)
    log.close()
    deadline = time.time() + 180
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{http}/v2/health/ready", timeout=2).status_code == 200:
                return proc, http, grpc
        except requests.ConnectionError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail("inferrt serve did not become ready:\n" + open(tmp_log).read()[-3000:])
        time.sleep(0.5)


def _stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import inferrt

    repo = tmp_path_factory.mktemp("repo")
    os.makedirs(repo / "mnist" / "1")
    engine = _mnist_engine("cpu")     # instance_group asks for KIND_CPU
    inferrt.save_plan(engine, str(repo / "mnist" / "1" / "model.plan"))
    (repo / "mnist" / "config.pbtxt").write_text(MNIST_CONFIG)
    os.makedirs(repo / "linear" / "1")
    _linear_onnx(str(repo / "linear" / "1" / "model.onnx"))
    (repo / "linear" / "config.pbtxt").write_text(LINEAR_CONFIG)
    proc, http, grpc = _start(repo, repo / "server.log")
    ctx = engine.create_execution_context()
    yield {"url": f"http://127.0.0.1:{http}", "http": http, "grpc": grpc, "repo": repo,
           "run": lambda x: ctx.infer({"x": x})["prob"]}
    _stop(proc)


def _infer_json(url, model, inputs, **extra):
    body = {"inputs": [{"name": n, "datatype": dt, "shape": list(a.shape), "data": a.ravel().tolist()}
                       for n, (dt, a) in inputs.items()], **extra}
    return requests.post(f"{url}/v2/models/{model}/infer", json=body, timeout=60)


def _metric(url, name, model="mnist"):
    text = requests.get(f"{url}/metrics", timeout=10).text
    m = re.search(rf'^{name}{{model="{model}",version="1"}} (\S+)$', text, re.M)
    return float(m.group(1)) if m else None


def test_health_and_metadata(server):
    url = server["url"]
    assert requests.get(f"{url}/v2/health/live").json() == {"live": True}
    assert requests.get(f"{url}/v2/health/ready").json() == {"ready": True}
    assert requests.get(f"{url}/v2/models/mnist/ready").json()["ready"] is True
    assert requests.get(f"{url}/v2").json()["name"]
    meta = requests.get(f"{url}/v2/models/mnist").json()
    assert meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 1, 28, 28]}]
    assert meta["outputs"] == [{"name": "prob", "datatype": "FP32", "shape": [-1, 10]}]
    # the ONNX model's I/O came from the engine (no input/output in its config.pbtxt)
    meta = requests.get(f"{url}/v2/models/linear").json()
    assert meta["inputs"] == [{"name": "a", "datatype": "FP32", "shape": [-1, 6]}]
    assert requests.get(f"{url}/v2/models/nope/ready").status_code == 404


def test_json_infer_matches_engine(server):
    x = np.random.default_rng(1).standard_normal((3, 1, 28, 28)).astype(np.float32)
    r = _infer_json(server["url"], "mnist", {"x": ("FP32", x)}, id="req-7")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == "req-7" and body["model_version"] == "1"
    out = body["outputs"][0]
    assert out["name"] == "prob" and out["shape"] == [3, 10]
    rtol, atol = tolerance(np.float32)
    np.testing.assert_allclose(np.array(out["data"], np.float32).reshape(3, 10), server["run"](x), rtol, atol)


def test_binary_tensor_extension(server):
    x = np.random.default_rng(2).standard_normal((2, 1, 28, 28)).astype(np.float32)
    header = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 1, 28, 28],
                                     "parameters": {"binary_data_size": x.nbytes}}],
                         "outputs": [{"name": "prob", "parameters": {"binary_data": True}}]}).encode()
    r = requests.post(f"{server['url']}/v2/models/mnist/infer", data=header + x.tobytes(), timeout=60,
                      headers={"Inference-Header-Content-Length": str(len(header)),
                               "Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    n = int(r.headers["Inference-Header-Content-Length"])
    meta = json.loads(r.content[:n])
    assert meta["outputs"][0]["parameters"]["binary_data_size"] == 2 * 10 * 4
    got = np.frombuffer(r.content[n:], np.float32).reshape(2, 10)
    np.testing.assert_allclose(got, server["run"](x), *tolerance(np.float32))


def test_concurrent_requests_are_batched_and_bad_ones_isolated(server):
    url = server["url"]
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((1, 1, 28, 28)).astype(np.float32) for _ in range(24)]
    ok = np.ones((1, 1, 28, 28), np.float32)
    bad = [
        ({"y": ("FP32", ok)}, "unexpected inference input"),                     # wrong name
        ({"x": ("INT32", ok.astype(np.int32))}, "datatype INT32"),               # wrong dtype
        ({"x": ("FP32", np.ones((1, 1, 28, 27), np.float32))}, "shape"),        # wrong shape
        ({"x": ("FP32", np.ones((9, 1, 28, 28), np.float32))}, "max_batch_size"),  # batch too large
    ]
    execs0, count0 = _metric(url, "nv_inference_exec_count"), _metric(url, "nv_inference_count")
    fail0 = _metric(url, "nv_inference_request_failure")
    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        good = [pool.submit(_infer_json, url, "mnist", {"x": ("FP32", x)}) for x in xs]
        wrong = [pool.submit(_infer_json, url, "mnist", inputs) for inputs, _ in bad]
        short = pool.submit(requests.post, f"{url}/v2/models/mnist/infer", timeout=60, json={
            "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 1, 28, 28], "data": [0.0] * 100}]})
    rtol, atol = tolerance(np.float32)
    for x, f in zip(xs, good):
        r = f.result()
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(np.array(r.json()["outputs"][0]["data"], np.float32).reshape(1, 10),
                                   server["run"](x), rtol, atol)
    for (_, why), f in zip(bad, wrong):
        r = f.result()
        assert r.status_code == 400 and why in r.json()["error"], r.text
    assert short.result().status_code == 400
    execs = _metric(url, "nv_inference_exec_count") - execs0
    assert _metric(url, "nv_inference_count") - count0 == 24
    assert execs < 24, f"24 concurrent requests ran in {execs} executions (no batching)"
    assert _metric(url, "nv_inference_request_failure") - fail0 == len(bad) + 1


def test_metrics_endpoint(server):
    url = server["url"]
    assert _infer_json(url, "mnist", {"x": ("FP32", np.zeros((2, 1, 28, 28), np.float32))}).status_code == 200
    text = requests.get(f"{url}/metrics").text
    for name in ("nv_inference_request_success", "nv_inference_request_failure", "nv_inference_count",
                 "nv_inference_exec_count", "nv_inference_request_duration_us", "nv_inference_queue_duration_us",
                 "nv_inference_compute_infer_duration_us"):
        assert f"# TYPE {name} " in text
    assert _metric(url, "nv_inference_request_success") >= 1
    # warmup ran on both instances and is not counted as requests; the count includes the 2 rows above
    assert _metric(url, "nv_inference_count") >= 2
    assert _metric(url, "nv_inference_compute_infer_duration_us") > 0
    import torch

    assert ("nv_gpu_memory_used_bytes" in text) == torch.cuda.is_available()


def test_requests_are_not_logged_by_default(server):
    """Without --log-requests no line per request (uvicorn's access log, kserve's latency and timing traces)."""
    for _ in range(3):
        assert _infer_json(server["url"], "mnist", {"x": ("FP32", np.zeros((1, 1, 28, 28), np.float32))}).ok
    log = (server["repo"] / "server.log").read_text()
    assert "model 'mnist' version 1 ready: 2 instance(s) on ['cpu']" in log   # the server's own lines are there
    assert "/v2/models/mnist/infer" not in log and "kserve.trace" not in log, log[-2000:]


def test_onnx_model_built_on_load_matches_onnxruntime(server):
    ort = pytest.importorskip("onnxruntime")
    path = str(server["repo"] / "linear" / "1" / "model.onnx")
    assert os.path.isfile(str(server["repo"] / "linear" / "1" / "model.timing_cache"))
    a = np.random.default_rng(4).standard_normal((3, 6)).astype(np.float32)
    r = _infer_json(server["url"], "linear", {"a": ("FP32", a)})
    assert r.status_code == 200, r.text
    ref = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"a": a})[0]
    np.testing.assert_allclose(np.array(r.json()["outputs"][0]["data"], np.float32).reshape(3, 5), ref,
                               *tolerance(np.float32))


def test_tritonclient_http(server):
    httpclient = pytest.importorskip("tritonclient.http")
    client = httpclient.InferenceServerClient(f"127.0.0.1:{server['http']}")
    assert client.is_server_live() and client.is_model_ready("mnist")
    x = np.random.default_rng(5).standard_normal((4, 1, 28, 28)).astype(np.float32)
    for binary in (True, False):
        inp = httpclient.InferInput("x", list(x.shape), "FP32")
        inp.set_data_from_numpy(x, binary_data=binary)
        out = httpclient.InferRequestedOutput("prob", binary_data=binary)
        res = client.infer("mnist", [inp], outputs=[out])
        np.testing.assert_allclose(res.as_numpy("prob"), server["run"](x), *tolerance(np.float32))
    # the model repository, configuration and statistics extensions as tritonclient calls them
    assert client.get_model_config("mnist")["max_batch_size"] == 8
    assert client.get_inference_statistics("mnist")["model_stats"][0]["name"] == "mnist"
    assert {m["name"] for m in client.get_model_repository_index()} == {"mnist", "linear"}
    client.unload_model("linear")              # sends {"parameters": {"unload_dependents": false}}
    assert not client.is_model_ready("linear")
    from tritonclient.utils import InferenceServerException

    with pytest.raises(InferenceServerException, match="not supported"):
        client.load_model("linear", config='{"max_batch_size": 2}')
    client.load_model("linear")
    assert client.is_model_ready("linear")
    client.close()


_GRPC_CLIENT = """
import json
import sys
import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException
client = grpcclient.InferenceServerClient(sys.argv[1])
out = {}
assert client.is_server_live() and client.is_model_ready("mnist")
x = np.load(sys.argv[2])
inp = grpcclient.InferInput("x", list(x.shape), "FP32")
inp.set_data_from_numpy(x)
res = client.infer("mnist", [inp], outputs=[grpcclient.InferRequestedOutput("prob")])
np.save(sys.argv[3], res.as_numpy("prob"))

def refused(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
        return "ACCEPTED"
    except InferenceServerException as e:
        return f"{e.status()} {e.message()}"

bad = grpcclient.InferInput("x", [1, 1, 28, 27], "FP32")
bad.set_data_from_numpy(np.ones((1, 1, 28, 27), np.float32))
out["bad_infer"] = refused(client.infer, "mnist", [bad])
out["config"] = client.get_model_config("mnist", as_json=True)["config"]
out["linear_config"] = client.get_model_config("linear", as_json=True)["config"]
out["config_unknown"] = refused(client.get_model_config, "nope")
out["config_version"] = refused(client.get_model_config, "mnist", model_version="7")
out["stats"] = client.get_inference_statistics("mnist", as_json=True)["model_stats"]
out["stats_all"] = [m["name"] for m in client.get_inference_statistics(as_json=True)["model_stats"]]
out["index"] = client.get_model_repository_index(as_json=True)["models"]
out["unknown_ready"] = client.is_model_ready("nope")
client.unload_model("linear")
out["linear_ready_after_unload"] = client.is_model_ready("linear")
out["index_after_unload"] = {m["name"]: m["state"] for m in client.get_model_repository_index(as_json=True)["models"]}
out["unload_unknown"] = refused(client.unload_model, "nope")
out["load_with_config"] = refused(client.load_model, "linear", config='{"max_batch_size": 2}')
client.load_model("linear")
out["linear_ready_after_load"] = client.is_model_ready("linear")
print(json.dumps(out))
"""


def test_tritonclient_grpc(server, tmp_path):
    """tritonclient.grpc whole: infer (raw tensors), a refused request, and Triton's extensions over gRPC (model
    config, statistics, repository index, unload and load by name)."""
    # in its own process: tritonclient.grpc and kserve both register the v2 "inference" protos in protobuf's
    # default descriptor pool, so one process cannot import both
    import importlib.util

    if importlib.util.find_spec("tritonclient") is None or importlib.util.find_spec("tritonclient.grpc") is None:
        pytest.skip("tritonclient[grpc] is not installed")
    x = np.random.default_rng(6).standard_normal((2, 1, 28, 28)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    before = requests.get(f"{server['url']}/v2/models/mnist/stats").json()["model_stats"][0]
    r = subprocess.run([sys.executable, "-c", _GRPC_CLIENT, f"127.0.0.1:{server['grpc']}", str(tmp_path / "x.npy"),
                        str(tmp_path / "y.npy")], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), server["run"](x), *tolerance(np.float32))
    assert out["bad_infer"].startswith("StatusCode.INVALID_ARGUMENT") and "shape" in out["bad_infer"]
    cfg = out["config"]
    assert (cfg["name"], cfg["platform"], cfg["max_batch_size"]) == ("mnist", "tensorrt_plan", 8)
    assert cfg["dynamic_batching"] == {"preferred_batch_size": [8], "max_queue_delay_microseconds": "30000"}
    assert cfg["instance_group"] == [{"count": 2, "kind": "KIND_CPU"}]
    assert cfg["input"] == [{"name": "x", "data_type": "TYPE_FP32", "dims": ["1", "28", "28"]}]
    assert out["linear_config"]["output"] == [{"name": "b", "data_type": "TYPE_FP32", "dims": ["5"]}]
    assert out["config_unknown"].startswith("StatusCode.NOT_FOUND") and "nope" in out["config_unknown"]
    assert out["config_version"].startswith("StatusCode.NOT_FOUND") and "version 1 is served" in out["config_version"]
    (st,) = out["stats"]
    assert (st["name"], st["version"]) == ("mnist", "1")
    # the one request of this test (2 items) is counted, as the HTTP statistics count it
    assert int(st["inference_count"]) == before["inference_count"] + 2
    assert int(st["inference_stats"]["success"]["count"]) == before["inference_stats"]["success"]["count"] + 1
    assert int(st["inference_stats"]["fail"]["count"]) == before["inference_stats"]["fail"]["count"] + 1
    assert sum(int(b["batch_size"]) * int(b["compute_infer"]["count"]) for b in st["batch_stats"]) \
        == int(st["inference_count"])
    assert set(out["stats_all"]) == {"mnist", "linear"}
    assert {m["name"]: m["state"] for m in out["index"]} == {"mnist": "READY", "linear": "READY"}
    assert out["unknown_ready"] is False
    assert out["linear_ready_after_unload"] is False
    assert out["index_after_unload"] == {"mnist": "READY", "linear": "UNAVAILABLE"}
    assert out["unload_unknown"].startswith("StatusCode.NOT_FOUND")
    assert out["load_with_config"].startswith("StatusCode.INVALID_ARGUMENT") and "parameters" in \
        out["load_with_config"]
    assert out["linear_ready_after_load"] is True
    assert requests.get(f"{server['url']}/v2/models/linear/ready").json()["ready"] is True


def test_grpc_infer_typed_and_raw_contents(server):
    """gRPC ModelInfer with typed contents (fp32_contents, gRPC's JSON-like form) and raw contents (what
    tritonclient sends), both checked against the engine; a short tensor is INVALID_ARGUMENT."""
    import grpc
    from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb

    x = np.random.default_rng(8).standard_normal((2, 1, 28, 28)).astype(np.float32)
    typed = pb.ModelInferRequest(model_name="mnist", inputs=[pb.ModelInferRequest.InferInputTensor(
        name="x", datatype="FP32", shape=list(x.shape), contents=pb.InferTensorContents(fp32_contents=x.ravel()))])
    raw = pb.ModelInferRequest(model_name="mnist", raw_input_contents=[x.tobytes()], inputs=[
        pb.ModelInferRequest.InferInputTensor(name="x", datatype="FP32", shape=list(x.shape))])
    short = pb.ModelInferRequest(model_name="mnist", inputs=[pb.ModelInferRequest.InferInputTensor(
        name="x", datatype="FP32", shape=list(x.shape), contents=pb.InferTensorContents(fp32_contents=[0.0] * 9))])
    with grpc.insecure_channel(f"127.0.0.1:{server['grpc']}") as channel:
        infer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                                    request_serializer=pb.ModelInferRequest.SerializeToString,
                                    response_deserializer=pb.ModelInferResponse.FromString)
        for request in (typed, raw):
            r = infer(request, timeout=60)
            assert r.outputs[0].name == "prob" and list(r.outputs[0].shape) == [2, 10]
            got = np.frombuffer(r.raw_output_contents[0], np.float32).reshape(2, 10)
            np.testing.assert_allclose(got, server["run"](x), *tolerance(np.float32))
        with pytest.raises(grpc.RpcError) as e:
            infer(short, timeout=60)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_triton_grpc_extensions_on_the_wire(server):
    """The server's gRPC port answers Triton's extension methods (what tritonclient.grpc calls), here with
    inferrt's own message classes so it runs without tritonclient."""
    import grpc

    from inferrt.serve import grpc_messages as tpb

    with grpc.insecure_channel(f"127.0.0.1:{server['grpc']}") as channel:
        def call(method, request, response):
            return channel.unary_unary(f"/inference.GRPCInferenceService/{method}",
                                       request_serializer=request.SerializeToString,
                                       response_deserializer=response.FromString)(request, timeout=30)

        cfg = call("ModelConfig", tpb.ModelConfigRequest(name="mnist"), tpb.ModelConfigResponse).config
        assert (cfg.name, cfg.max_batch_size, [t.name for t in cfg.input]) == ("mnist", 8, ["x"])
        index = call("RepositoryIndex", tpb.RepositoryIndexRequest(ready=True), tpb.RepositoryIndexResponse)
        assert {m.name for m in index.models} == {"mnist", "linear"}
        stats = call("ModelStatistics", tpb.ModelStatisticsRequest(name="mnist"), tpb.ModelStatisticsResponse)
        assert stats.model_stats[0].name == "mnist"
        with pytest.raises(grpc.RpcError) as e:
            call("ModelConfig", tpb.ModelConfigRequest(name="nope"), tpb.ModelConfigResponse)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_repository_unload_load_index_while_serving(server):
    url = server["url"]
    a = np.ones((1, 6), np.float32)
    index = {m["name"]: m for m in requests.post(f"{url}/v2/repository/index").json()}
    assert index["linear"]["state"] == "READY" and index["mnist"]["version"] == "1"
    assert requests.post(f"{url}/v2/repository/index", json={"bogus": 1}).status_code == 400
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        # mnist keeps answering while linear is unloaded and loaded again
        busy = [pool.submit(_infer_json, url, "mnist", {"x": ("FP32", np.zeros((1, 1, 28, 28), np.float32))})
                for _ in range(8)]
        assert requests.post(f"{url}/v2/repository/models/linear/unload", timeout=60).status_code == 200
        assert requests.get(f"{url}/v2/models/linear/ready").status_code != 200
        assert _infer_json(url, "linear", {"a": ("FP32", a)}).status_code != 200
        index = {m["name"]: m for m in requests.post(f"{url}/v2/repository/index").json()}
        assert index["linear"]["state"] == "UNAVAILABLE"
        ready = requests.post(f"{url}/v2/repository/index", json={"ready": True}).json()
        assert [m["name"] for m in ready] == ["mnist"]
        assert requests.post(f"{url}/v2/repository/models/linear/load", timeout=120).status_code == 200
        assert all(f.result().status_code == 200 for f in busy)
    assert requests.get(f"{url}/v2/models/linear/ready").json()["ready"] is True
    assert _infer_json(url, "linear", {"a": ("FP32", a)}).status_code == 200
    r = requests.post(f"{url}/v2/repository/models/nothere/load", timeout=60)
    assert r.status_code >= 400 and "nothere" in r.text
    # Triton's load parameters (a config override, model files) are refused, not dropped; unload_dependents is
    # accepted (no ensembles), and an empty JSON body is a plain load
    r = requests.post(f"{url}/v2/repository/models/linear/load", timeout=60,
                      json={"parameters": {"config": '{"max_batch_size": 2}'}})
    assert r.status_code == 400 and "['config'] are not supported" in r.json()["error"]
    assert requests.post(f"{url}/v2/repository/models/linear/load", data="{x", timeout=60).status_code == 400
    assert requests.post(f"{url}/v2/repository/models/linear/load", json={}, timeout=120).status_code == 200
    assert requests.post(f"{url}/v2/repository/models/linear/unload", timeout=60,
                         json={"parameters": {"unload_dependents": True}}).status_code == 200
    assert requests.get(f"{url}/v2/models/linear/ready").status_code != 200
    assert requests.post(f"{url}/v2/repository/models/linear/load", timeout=120).status_code == 200
    assert _infer_json(url, "linear", {"a": ("FP32", a)}).status_code == 200


def test_model_config_and_statistics(server):
    url = server["url"]
    cfg = requests.get(f"{url}/v2/models/mnist/config").json()
    assert cfg["name"] == "mnist" and cfg["max_batch_size"] == 8
    assert cfg["dynamic_batching"]["preferred_batch_size"] == [8]
    assert cfg["instance_group"] == [{"count": 2, "kind": "KIND_CPU"}]
    # the ONNX model's config listed no tensors: the served config has them from the engine
    cfg = requests.get(f"{url}/v2/models/linear/config").json()
    assert cfg["input"] == [{"name": "a", "data_type": "TYPE_FP32", "dims": ["6"]}]
    assert cfg["output"] == [{"name": "b", "data_type": "TYPE_FP32", "dims": ["5"]}]
    assert requests.get(f"{url}/v2/models/nope/config").status_code == 404

    before = requests.get(f"{url}/v2/models/mnist/stats").json()["model_stats"][0]
    assert _infer_json(url, "mnist", {"x": ("FP32", np.zeros((3, 1, 28, 28), np.float32))}).status_code == 200
    after = requests.get(f"{url}/v2/models/mnist/stats").json()["model_stats"][0]
    assert (after["name"], after["version"]) == ("mnist", "1")
    assert after["inference_count"] == before["inference_count"] + 3
    assert after["execution_count"] == before["execution_count"] + 1
    assert after["inference_stats"]["success"]["count"] == before["inference_stats"]["success"]["count"] + 1
    assert after["inference_stats"]["compute_infer"]["ns"] > before["inference_stats"]["compute_infer"]["ns"]
    sizes = {b["batch_size"]: b["compute_infer"]["count"] for b in after["batch_stats"]}
    assert sum(b * n for b, n in sizes.items()) == after["inference_count"]
    assert after["last_inference"] > 0
    names = {m["name"] for m in requests.get(f"{url}/v2/models/stats").json()["model_stats"]}
    assert {"mnist", "linear"} <= names


@pytest.mark.gpu
def test_gpu_instances(tmp_path):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    import inferrt

    os.makedirs(tmp_path / "mnist" / "1")
    engine = _mnist_engine("cuda")
    inferrt.save_plan(engine, str(tmp_path / "mnist" / "1" / "model.plan"))
    (tmp_path / "mnist" / "config.pbtxt").write_text(MNIST_CONFIG.replace("KIND_CPU", "KIND_GPU gpus: [ 0 ]"))
    proc, http, _ = _start(tmp_path, tmp_path / "server.log")
    try:
        url = f"http://127.0.0.1:{http}"
        ctx = engine.create_execution_context()
        xs = [np.random.default_rng(i).standard_normal((1, 1, 28, 28)).astype(np.float32) for i in range(16)]
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            futs = [pool.submit(_infer_json, url, "mnist", {"x": ("FP32", x)}) for x in xs]
        rtol, atol = tolerance("tf32")
        for x, f in zip(xs, futs):
            r = f.result()
            assert r.status_code == 200, r.text
            np.testing.assert_allclose(np.array(r.json()["outputs"][0]["data"], np.float32).reshape(1, 10),
                                       ctx.infer({"x": x})["prob"], rtol, atol)
        text = requests.get(f"{url}/metrics").text
        m = re.search(r'^nv_gpu_memory_used_bytes{gpu_uuid="GPU-[^"]+"} (\S+)$', text, re.M)
        assert m and float(m.group(1)) > 0
    finally:
        _stop(proc)
