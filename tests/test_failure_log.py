"""tests/conftest.py's INFERRT_FAILURE_LOG: failures are written out as they happen (a GPU run cut by its time limit
keeps the reasons of what failed so far)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path


def test_failures_are_appended_with_their_traceback(tmp_path):
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_sample.py").write_text("def test_fails():\n    assert 1 == 2, 'boom'\n\n\n"
                                             "def test_passes():\n    pass\n")
    log = tmp_path / "failures.txt"
    env = dict(os.environ, INFERRT_FAILURE_LOG=str(log))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_sample.py"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    text = log.read_text()
    assert "=== test_sample.py::test_fails (call)" in text and "AssertionError: boom" in text
    assert "test_passes" not in text


def test_durations_are_appended_per_phase(tmp_path):
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_sample.py").write_text("import time\n\n\ndef test_sleeps():\n    time.sleep(0.2)\n")
    log = tmp_path / "durations.txt"
    env = dict(os.environ, INFERRT_DURATION_LOG=str(log))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_sample.py"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = [line.split() for line in log.read_text().splitlines()]
    assert [r[1] for r in rows] == ["setup", "call", "teardown"]
    call = rows[1]
    assert call[2] == "test_sample.py::test_sleeps" and float(call[0]) >= 0.2
