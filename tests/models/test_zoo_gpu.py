"""The model zoo on the GPU (bench/zoo.py): every model, both exporters, batch 1, 64 and a dynamic-batch profile,
CUDA graphs on; FP32 (TF32 cleared) against onnxruntime, FP16 against eager PyTorch FP16. Each model runs in its own
subprocess (the harness's), so one crash cannot hide the rest; every row must pass."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("torchvision")
pytest.importorskip("transformers")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from bench.zoo import print_table  # noqa: E402
from bench.zoo_models import MODELS  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_zoo_model_on_gpu(model, tmp_path):
    out = tmp_path / "zoo.json"
    cmd = [sys.executable, "-m", "bench.zoo", "--device", "cuda", "--models", model, "--exporters",
           "dynamo,torchscript", "--batches", "1,64,dyn", "--dyn-profile", "1,8,64", "--dyn-batch", "7", "--jobs", "2",
           "--timeout", "900", "--json", str(out), "--log-dir", str(tmp_path / "logs")]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1900,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert out.exists(), f"the harness wrote no JSON:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    rows = json.loads(out.read_text())["rows"]
    keep = os.environ.get("INFERRT_ZOO_JSON_DIR")    # bench/gpu_suite.sh: the rows become the GPU zoo table
    if keep:
        os.makedirs(keep, exist_ok=True)
        with open(os.path.join(keep, f"{model}.json"), "w") as f:
            json.dump(rows, f, indent=1)
    assert len(rows) == 6, f"expected 2 exporters x 3 batches, got {[(r['exporter'], r['batch']) for r in rows]}"
    table = io.StringIO()
    print_table(rows, table)
    failed = [r for r in rows if not r["passed"]]
    assert not failed, table.getvalue() + "\n\n" + "\n\n".join(
        f"{r['exporter']} {r['batch']}: {r['error']}\n{r.get('log_tail', '')[-1500:]}" for r in failed)
    for r in rows:   # the FP16 checks ran (they are CUDA-only), with a finite result
        assert r["fp16_ratio"] is not None and r["fp16_finite"], r
