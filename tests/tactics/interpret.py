"""Run a Triton test module's ``__main__`` under the CPU interpreter (TRITON_INTERPRET=1) in a child process and
read back the JSON its last stdout line carries: the interpreter must be switched on before Triton is imported, so
the kernels cannot run in the pytest process itself."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_interpreted_module(module: str, *args: str):
    """``python -m module *args`` under TRITON_INTERPRET=1 from the repository root; fails the test with the child's
    stderr tail if it exits non-zero, else returns the JSON of its last stdout line. Skips without Triton."""
    pytest.importorskip("triton")
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
