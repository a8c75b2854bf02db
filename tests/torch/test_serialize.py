"""inferrt.torch.save / load: a fresh process loads and runs without building, and damaged files are refused."""
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

import inferrt.torch as itorch
from inferrt.errors import PlanError, ShapeError
from tests.helpers import assert_close
from tests.torch.models import Cond, WithCustomOp, cnn, reference

_LOAD = """
import sys, numpy as np, torch
import inferrt.torch as it
import inferrt.torch.convert_graph as cg
cg.convert = lambda *a, **k: (_ for _ in ()).throw(AssertionError("load must not build"))
m = it.load(sys.argv[1])
x = torch.from_numpy(np.load(sys.argv[2]))
np.save(sys.argv[3], m(x).detach().numpy())
try:
    m(torch.randn(9, *x.shape[1:]))
except Exception as e:
    print("ERR", type(e).__name__, e)
"""


def _roundtrip_in_fresh_process(tmp_path, compiled, x):
    path = tmp_path / "model.inferrt"
    itorch.save(compiled, path)
    np.save(tmp_path / "x.npy", x.numpy())
    r = subprocess.run([sys.executable, "-c", _LOAD, str(path), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return np.load(tmp_path / "y.npy"), r.stdout, path


def test_dynamic_cnn_loads_in_fresh_process(tmp_path):
    m = cnn()
    batch = torch.export.Dim("batch", min=1, max=4)
    c = itorch.compile(m, (torch.randn(2, 3, 32, 32),), dynamic_shapes=({0: batch},))
    x = torch.randn(3, 3, 32, 32)
    y, out, path = _roundtrip_in_fresh_process(tmp_path, c, x)
    assert_close(y, reference(m, x))
    assert "ERR ShapeError" in out and "outside the compiled profile [1, 4]" in out
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        index = json.loads(z.read("index.json"))
    assert {"index.json", "program.json", "engine_0.plan"} <= names
    assert index["engines"][0]["inputs"][0]["dims"][0] == [1, 2, 4]


def test_partitioned_module_roundtrip(tmp_path):
    m = WithCustomOp().eval()
    c = itorch.compile(m, (torch.randn(4, 6),))
    x = torch.randn(4, 6)
    y, _, _ = _roundtrip_in_fresh_process(tmp_path, c, x)
    assert_close(y, reference(m, x))
    loaded = itorch.load(tmp_path / "model.inferrt")
    assert loaded.num_engines == 2
    with pytest.raises(ShapeError):
        loaded(torch.randn(5, 6))


def test_cond_branch_engines_roundtrip(tmp_path):
    m = Cond().eval()
    c = itorch.compile(m, (torch.randn(3, 4),))
    for sign in (1, -1):
        x = 100 * torch.randn(3, 4)
        x = x if (m.lin(x).sum() > 0) == (sign > 0) else -x  # one input per branch (the bias is small)
        assert (m.lin(x).sum() > 0) == (sign > 0)
        y, _, _ = _roundtrip_in_fresh_process(tmp_path, c, x)
        assert_close(y, reference(m, x))
    assert len(itorch.load(tmp_path / "model.inferrt").engines) == 4


def test_damaged_files_are_refused(tmp_path):
    c = itorch.compile(cnn(), (torch.randn(1, 3, 32, 32),))
    good = tmp_path / "good.inferrt"
    itorch.save(c, good)
    with pytest.raises(PlanError, match="not an inferrt.torch file"):
        (tmp_path / "junk").write_bytes(b"not a zip")
        itorch.load(tmp_path / "junk")
    bad = tmp_path / "bad.inferrt"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
        for item in zin.namelist():
            data = zin.read(item)
            if item == "engine_0.plan":
                data = data[: len(data) // 2]
            zout.writestr(item, data)
    with pytest.raises(PlanError):
        itorch.load(bad)
    other = tmp_path / "other.inferrt"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(other, "w") as zout:
        for item in zin.namelist():
            data = zin.read(item)
            if item == "index.json":
                d = json.loads(data)
                d["engines"][0]["nodes"] = ["no_such_node"]
                data = json.dumps(d).encode()
            zout.writestr(item, data)
    with pytest.raises(PlanError, match="saved partition does not match"):
        itorch.load(other)


def test_save_refuses_other_objects(tmp_path):
    with pytest.raises(TypeError, match="inferrt.torch.compile"):
        itorch.save(torch.nn.Linear(2, 2), tmp_path / "x")


@pytest.mark.gpu
def test_gpu_module_roundtrip(tmp_path):
    m = cnn().cuda()
    c = itorch.compile(m, (torch.randn(2, 3, 32, 32, device="cuda"),), precision="fp16")
    x = torch.randn(2, 3, 32, 32, device="cuda")
    expected = c(x).float().cpu().numpy()
    path = tmp_path / "gpu.inferrt"
    itorch.save(c, path)
    loaded = itorch.load(path)
    out = loaded(x)
    assert out.is_cuda
    # same plan, same kernels (only atomics-based reductions may differ in the last bits)
    assert_close(out.float().cpu().numpy(), expected, dtype=np.float16)


def test_files_hold_no_pickle_and_loading_unpickles_nothing(tmp_path, monkeypatch):
    """The program's weights are raw tensor files, not torch.save pickles; load never reaches an unpickler."""
    import pickle

    m = cnn()
    c = itorch.compile(m, (torch.randn(1, 3, 32, 32),))
    path = tmp_path / "m.inferrt"
    itorch.save(c, path)
    with zipfile.ZipFile(path) as z:
        index = json.loads(z.read("index.json"))
        raw = {e["file"] for e in index["tensors"]}
        assert raw and all(f.startswith("tensors/") for f in raw)
        for item in z.namelist():   # the rest: JSON and plans (raw tensor bytes may start with any byte)
            data = z.read(item)
            assert item in raw or (not data.startswith(b"\x80") and not data.startswith(b"PK")), item
            assert not item.endswith((".pkl", ".pt", ".pt2")), item

    def refuse(*a, **k):
        raise AssertionError("unpickling while loading an inferrt.torch file")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    loaded = itorch.load(path)
    x = torch.randn(1, 3, 32, 32)
    assert_close(loaded(x), reference(m, x))


def test_save_works_with_the_older_torch_serialize_signature(tmp_path, monkeypatch):
    """torch 2.11's torch._export.serde.serialize.serialize has no serialize_state_dict/... switches (it always
    pickles the weights beside the JSON): save still stores the same program JSON and raw tensors, no pickle."""
    import torch._export.serde.serialize as serde

    real = serde.serialize
    calls = []

    def old_serialize(exported_program, opset_version=None, pickle_protocol=2):
        calls.append(1)
        return real(exported_program, opset_version, pickle_protocol)

    m = cnn()
    c = itorch.compile(m, (torch.randn(1, 3, 32, 32),))
    itorch.save(c, tmp_path / "new.inferrt")
    monkeypatch.setattr(serde, "serialize", old_serialize)
    itorch.save(c, tmp_path / "old.inferrt")
    assert calls
    with zipfile.ZipFile(tmp_path / "new.inferrt") as new, zipfile.ZipFile(tmp_path / "old.inferrt") as old:
        assert sorted(new.namelist()) == sorted(old.namelist())
        for item in new.namelist():
            assert new.read(item) == old.read(item), item
    monkeypatch.undo()
    x = torch.randn(1, 3, 32, 32)
    assert_close(itorch.load(tmp_path / "old.inferrt")(x), reference(m, x))


def test_a_damaged_tensor_table_is_refused(tmp_path):
    c = itorch.compile(cnn(), (torch.randn(1, 3, 32, 32),))
    good = tmp_path / "good.inferrt"
    itorch.save(c, good)
    for change, why in ((lambda t: t[0].update(dtype="os.system"), "not a torch dtype"),
                        (lambda t: t[0].update(shape=[10 ** 6]), "bytes where"),
                        (lambda t: t[0].update(group="globals"), "malformed")):
        bad = tmp_path / "bad.inferrt"
        with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
            for item in zin.namelist():
                data = zin.read(item)
                if item == "index.json":
                    d = json.loads(data)
                    change(d["tensors"])
                    data = json.dumps(d).encode()
                zout.writestr(item, data)
        with pytest.raises(PlanError, match=why):
            itorch.load(bad)


def _retarget_tensors(path, out, device):
    """A copy of the inferrt.torch file ``path`` whose tensor table says every tensor was saved on ``device``."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "index.json":
                index = json.loads(data)
                for e in index["tensors"]:
                    e["device"] = device
                data = json.dumps(index).encode()
            dst.writestr(info, data)


def test_tensors_record_and_regain_their_device(tmp_path):
    """Each stored tensor records its device, and loading puts it back there (torch.export.load does the same):
    a GPU module's weights must not come back on the CPU."""
    from inferrt.torch.program_store import read_program

    m = cnn()
    c = itorch.compile(m, (torch.randn(1, 3, 32, 32),))
    path = tmp_path / "m.inferrt"
    itorch.save(c, path)
    with zipfile.ZipFile(path) as z:
        table = json.loads(z.read("index.json"))["tensors"]
    assert table and {e["device"] for e in table} == {"cpu"}
    meta = tmp_path / "meta.inferrt"
    _retarget_tensors(path, meta, "meta")
    with zipfile.ZipFile(meta) as z:
        table = json.loads(z.read("index.json"))["tensors"]
        ep = read_program(z, table)
        assert {t.device.type for t in ep.state_dict.values()} == {"meta"}
        ep = read_program(z, table, device="cpu")   # load(device=...) wins over the recorded device
        assert {t.device.type for t in ep.state_dict.values()} == {"cpu"}


def test_a_device_that_is_not_there_is_a_plan_error(tmp_path):
    m = cnn()
    c = itorch.compile(m, (torch.randn(1, 3, 32, 32),))
    path = tmp_path / "m.inferrt"
    itorch.save(c, path)
    for device, message in (("cuda:7" if torch.cuda.device_count() < 8 else "cuda:99", "cannot go there"),
                            ("warp-drive", "is not a torch device")):
        bad = tmp_path / "bad.inferrt"
        _retarget_tensors(path, bad, device)
        with pytest.raises(PlanError, match=message):
            itorch.load(bad)
