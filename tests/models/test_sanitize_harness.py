"""bench/sanitize.py without a GPU: compute-sanitizer and the zoo run are faked, the table's counts are checked."""
from __future__ import annotations

import json
import subprocess

from bench import sanitize


def _fake_run(rows, summaries):
    def run(cmd, cwd, capture_output, text, timeout):
        out_json = cmd[cmd.index("--json") + 1]
        with open(out_json, "w") as f:
            json.dump({"rows": rows}, f)
        text_out = "".join(f"========= ERROR SUMMARY: {n} errors\n" for n in summaries)
        return subprocess.CompletedProcess(cmd, 0, text_out, "")
    return run


def test_counts_errors_and_passed_zoo_rows(monkeypatch, tmp_path):
    rows = [{"model": "a", "passed": True}, {"model": "b", "passed": False}, {"model": "c", "passed": True}]
    monkeypatch.setattr(sanitize.shutil, "which", lambda name: "/usr/bin/compute-sanitizer")
    monkeypatch.setattr(sanitize.subprocess, "run", _fake_run(rows, [0, 3]))
    r = sanitize.run_one(["a", "b", "c"], "torchscript", "1", True, 10, str(tmp_path))
    assert (r["zoo_rows"], r["zoo_passed"]) == (3, 2)
    assert (r["processes"], r["errors"]) == (2, 3)
    assert (tmp_path / "sanitize_graphs.log").read_text().count("ERROR SUMMARY") == 2
