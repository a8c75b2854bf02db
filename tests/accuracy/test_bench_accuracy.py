"""``bench/accuracy.py`` prints the agreement table and writes its JSON (a subset of paths, on the CPU)."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("sklearn", reason="the digits data ships with scikit-learn (dev extra)")

from bench import accuracy  # noqa: E402


def test_table_and_json(tmp_path, capsys):
    out = tmp_path / "acc.json"
    assert accuracy.main(["--models", "digits_cnn", "--paths", "fp16", "int8-entropy", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "digits_cnn" in text and "int8-entropy" in text and "device: cpu" in text
    data = json.loads(out.read_text())
    paths = data["models"]["digits_cnn"]["paths"]
    assert set(paths) == {"fp32", "fp16", "int8-entropy"}
    assert paths["fp32"]["agreement"] == 1.0 and paths["int8-entropy"]["agreement"] >= 0.99
    assert data["models"]["digits_cnn"]["held_out"] == 360
