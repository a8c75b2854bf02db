"""``inferrt serve --ray``: deployment options from the flags, and (slow) the MNIST model on a local Ray Serve
cluster with two replicas behind kserve's front, checked against the engine."""
import concurrent.futures
import os
import subprocess

import numpy as np
import pytest

from bench.serve_load import start_server, wait_ready
from inferrt.cli.main import main
from inferrt.serve.ray_serve import deployment_options


def test_deployment_options():
    assert deployment_options() == {"ray_actor_options": {"num_gpus": 0.0, "num_cpus": 1}, "num_replicas": 1}
    assert deployment_options(replicas=3, gpus_per_replica=0.5)["num_replicas"] == 3
    assert deployment_options(gpus_per_replica=0.5)["ray_actor_options"]["num_gpus"] == 0.5
    auto = deployment_options(min_replicas=0, max_replicas=4, target_ongoing_requests=16)["autoscaling_config"]
    assert auto == {"min_replicas": 0, "max_replicas": 4, "initial_replicas": 1, "target_ongoing_requests": 16}
    assert deployment_options(max_replicas=2)["autoscaling_config"]["target_ongoing_requests"] == 64.0


@pytest.mark.parametrize("kwargs, match", [
    ({"replicas": 0}, "--ray-replicas"),
    ({"replicas": 2, "max_replicas": 4}, "give one of them"),
    ({"min_replicas": 1}, "--ray-max-replicas"),
    ({"target_ongoing_requests": 8}, "--ray-max-replicas"),
    ({"min_replicas": 5, "max_replicas": 4}, "min <= max"),
    ({"max_replicas": 0}, "max >= 1"),
    ({"gpus_per_replica": -1}, "--ray-gpus-per-replica"),
    ({"max_replicas": 2, "target_ongoing_requests": 0}, "--ray-target-ongoing-requests"),
])
def test_deployment_option_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        deployment_options(**kwargs)


def test_ray_flags_need_ray(tmp_path, capsys):
    assert main(["serve", "--model-repository", str(tmp_path), "--ray-replicas", "2"]) == 2
    assert "--ray-replicas needs --ray" in capsys.readouterr().err
    assert main(["serve", "--model-repository", str(tmp_path), "--ray", "--ray-replicas", "2",
                 "--ray-max-replicas", "3"]) == 2
    assert "give one of them" in capsys.readouterr().err


@pytest.mark.slow
def test_ray_replicas_serve_the_repository(tmp_path):
    pytest.importorskip("ray")
    pytest.importorskip("kserve")
    pytest.importorskip("requests")
    from tests.helpers import tolerance
    from tests.serve.test_server_e2e import _free_port, _infer_json, _mnist_engine

    import inferrt

    os.makedirs(tmp_path / "mnist" / "1")
    engine = _mnist_engine("cpu")
    inferrt.save_plan(engine, str(tmp_path / "mnist" / "1" / "model.plan"))
    (tmp_path / "mnist" / "config.pbtxt").write_text(
        'platform: "tensorrt_plan" max_batch_size: 8 dynamic_batching { max_queue_delay_microseconds: 5000 } '
        "instance_group [ { kind: KIND_CPU } ]")
    http = _free_port()
    log = open(tmp_path / "server.log", "w")
    proc = start_server(tmp_path, http, log, "--ray", "--ray-replicas", "2")
    url = f"http://127.0.0.1:{http}"
    try:
        if not wait_ready(url, proc, 240, poll_s=1):
            pytest.fail("inferrt serve --ray did not become ready:\n" + (tmp_path / "server.log").read_text()[-3000:])
        ctx = engine.create_execution_context()
        xs = [np.random.default_rng(i).standard_normal((1, 1, 28, 28)).astype(np.float32) for i in range(12)]
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            futs = [pool.submit(_infer_json, url, "mnist", {"x": ("FP32", x)}) for x in xs]
        for x, f in zip(xs, futs):
            r = f.result()
            assert r.status_code == 200, r.text
            np.testing.assert_allclose(np.array(r.json()["outputs"][0]["data"], np.float32).reshape(1, 10),
                                       ctx.infer({"x": x})["prob"], *tolerance(np.float32))
        r = _infer_json(url, "mnist", {"x": ("FP32", np.ones((1, 1, 28, 27), np.float32))})
        assert r.status_code == 400
        assert r.json()["error"].startswith("model 'mnist': input 'x' has shape [1, 1, 28, 27]"), r.text
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
