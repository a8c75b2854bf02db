"""Saved inputs and outputs round-trip in Polygraphy's layouts; nothing pickled is ever loaded."""
from __future__ import annotations

import numpy as np
import pytest

from inferrt.tools.data_io import DataFileError, load_data, load_inputs, save_inputs, save_outputs


def test_inputs_round_trip_json_and_npz(tmp_path):
    its = [{"x": np.arange(6, dtype=np.float16).reshape(2, 3), "ids": np.array([1, 2], np.int64)},
           {"x": np.ones((1, 3), np.float16), "ids": np.array([3], np.int64)}]
    save_inputs(its, tmp_path / "i.json")
    back = load_inputs(tmp_path / "i.json")
    for a, b in zip(its, back):
        for k in a:
            assert b[k].dtype == a[k].dtype
            np.testing.assert_array_equal(b[k], a[k])
    with pytest.raises(DataFileError, match="save to .json"):
        save_inputs(its, tmp_path / "i.npz")
    save_inputs(its[:1], tmp_path / "i.npz")
    assert load_data(tmp_path / "i.npz")[0] == "inputs"


def test_outputs_round_trip(tmp_path):
    res = [("r1", [{"y": np.float32([1, 2])}]), ("r2", [{"y": np.float32([3, 4])}])]
    for name in ("o.json", "o.npz"):
        save_outputs(res, tmp_path / name)
        kind, back = load_data(tmp_path / name)
        assert kind == "outputs" and [r for r, _ in back] == ["r1", "r2"]
        np.testing.assert_array_equal(back[1][1][0]["y"], [3, 4])


def test_pickled_arrays_are_refused(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    import base64
    import json

    raw = base64.b64encode((tmp_path / "obj.npy").read_bytes()).decode()
    (tmp_path / "p.json").write_text(json.dumps([{"x": {"array": raw, "polygraphy_class": "ndarray"}}]))
    with pytest.raises(DataFileError, match="cannot be decoded"):
        load_inputs(tmp_path / "p.json")
    np.savez(tmp_path / "p.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataFileError, match="cannot read"):
        load_inputs(tmp_path / "p.npz")


def test_unknown_types_and_files(tmp_path):
    (tmp_path / "t.json").write_text('{"polygraphy_class": "TacticReplayData"}')
    with pytest.raises(DataFileError, match="unsupported Polygraphy type"):
        load_data(tmp_path / "t.json")
    with pytest.raises(DataFileError, match="cannot read"):
        load_inputs(tmp_path / "none.json")
