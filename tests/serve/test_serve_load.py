"""bench/serve_load.py end to end on the CPU (tiny model, two clients, one second): it stops by itself and reports
the issue's figures, consistent with each other."""
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("kserve")
pytest.importorskip("requests")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_serve_load_reports_the_figures():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "serve_load.py"), "--model", "mnist",
                        "--device", "cpu", "--clients", "2", "--client-procs", "1", "--seconds", "1",
                        "--max-batch", "4", "--instances", "1"], capture_output=True, text=True, timeout=400,
                       cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["errors"] == 0 and out["requests"] > 0
    assert 1.0 <= out["seconds"] < 30          # the clock starts when the clients are up, not at their spawn
    assert out["items_per_s"] == pytest.approx(out["requests"] / out["seconds"], rel=0.02)
    assert out["ratio"] == pytest.approx(out["items_per_s"] / out["engine_batch4_items_per_s"], abs=0.002)
    assert out["target"] == 0.8 and out["meets_target"] == (out["ratio"] >= 0.8)
    assert 1.0 <= out["avg_batch"] <= 2.0      # two clients of one item each
    assert 0 < out["p50_ms"] <= out["p99_ms"]
    assert 0 < out["server_batch_ms"] and 0 <= out["server_queue_ms"] < out["server_request_ms"]
