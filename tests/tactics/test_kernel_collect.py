"""Build side of plan kernels: ``collect`` keeps the launch metadata (paths cut to base names) and the binary of
each compiled variant, nothing else, and what it writes is exactly what the loader accepts."""
from __future__ import annotations

import json

import pytest
from kernel_tools import CUBIN, NAME, Blobs, fake_hash, metadata, sandbox  # noqa: F401

from inferrt.plan.format import BlobWriter
from inferrt.tactics import kernel_store


class _Compiled:
    def __init__(self, h, group):
        self.hash = h
        self.metadata_group = group


class _Jit:
    def __init__(self, compiled):
        self.device_caches = {0: ({k: c for k, c in enumerate(compiled)}, None, None, None, None)}


def _compiled(tmp_path, h, store_paths=True):
    meta = metadata(h, extern_libs=[["libdevice", "/opt/triton/backends/nvidia/lib/libdevice.10.bc"]])
    files = {f"{NAME}.json": json.dumps(meta).encode(), f"{NAME}.cubin": CUBIN, f"{NAME}.source": b"module {}",
             f"{NAME}.ttir": b"tt.func", f"{NAME}.ptx": b".version 8.0", f"{NAME}.llir": b"define void"}
    group = {}
    d = tmp_path / h[:8]
    d.mkdir()
    for name, data in files.items():
        (d / name).write_bytes(data)
        group[name] = str(d / name)
    return _Compiled(h, group)


def test_collect_keeps_metadata_and_binary_only_and_the_loader_accepts_it(tmp_path):
    h1, h2 = fake_hash("c1"), fake_hash("c2")
    c1, c2 = _compiled(tmp_path, h1), _compiled(tmp_path, h2)
    entries = kernel_store.collect([_Jit([c1, c2]), _Jit([c1])])
    assert [e["hash"] for e in entries] == sorted([h1, h2])
    for e in entries:
        assert set(e["files"]) == {f"{NAME}.json", f"{NAME}.cubin"}
        meta = json.loads(e["files"][f"{NAME}.json"])
        assert meta["extern_libs"] == [["libdevice", "libdevice.10.bc"]] and meta["hash"] == e["hash"]
        assert e["files"][f"{NAME}.cubin"] == CUBIN
    writer = BlobWriter()
    manifest = kernel_store.to_manifest(entries, writer)
    checked = kernel_store.validate(json.loads(json.dumps(manifest)), Blobs(writer.items),
                                    sum(len(b) for b in writer.items))
    assert [(h, n, sorted(f)) for h, n, f in checked] == [(e["hash"], NAME, ["cubin", "json"]) for e in entries]


def test_collect_compiled_keeps_only_the_kernels_given(tmp_path):
    """The build stores the variants the chosen tactics ran (their launchers' compiled kernels), not every variant
    of their JIT functions (other tuning points compiled while timing)."""
    h1, h2 = fake_hash("ran"), fake_hash("timed only")
    ran, timed = _compiled(tmp_path, h1), _compiled(tmp_path, h2)
    assert [e["hash"] for e in kernel_store.collect_compiled([ran, ran])] == [h1]
    assert kernel_store.collect_compiled([ran]) == [e for e in kernel_store.collect([_Jit([ran, timed])])
                                                    if e["hash"] == h1]
    assert kernel_store.collect_compiled([]) == []


def test_collect_leaves_out_a_kernel_the_loader_would_refuse(tmp_path):
    c = _compiled(tmp_path, fake_hash("c3"))
    meta_path = c.metadata_group[f"{NAME}.json"]
    meta = json.loads(open(meta_path).read())
    meta["hook"] = "payload.so"
    open(meta_path, "w").write(json.dumps(meta))
    assert kernel_store.collect([_Jit([c])]) == []


def test_real_triton_kernel_round_trip_through_the_private_cache(tmp_path, sandbox):  # noqa: F811
    """A real Triton compile for an sm_90 target (no GPU needed): collect -> plan entry -> validate -> install into
    the private cache; with Triton's own cache emptied, compiling again is a cache hit served from the private cache
    with the identical cubin, and Triton's cache directory stays empty."""
    triton = pytest.importorskip("triton")
    import shutil

    from triton import knobs
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from inferrt.enums import DataType
    from inferrt.tactics.triton_codegen import kernel_source, load_kernel

    k = load_kernel(kernel_source([["input", 0], ["act", "RELU", 0.0, 0.0, 0]], [DataType.FLOAT], DataType.FLOAT,
                                  [True]))
    sig = {n: "*fp32" if n.endswith("_ptr") else "i32" for n in k.arg_names}
    sig.update(OUT_LINEAR="constexpr", BLOCK="constexpr")

    def src():
        return ASTSource(k, sig, {"OUT_LINEAR": True, "BLOCK": 1024})

    try:
        compiled = triton.compile(src(), target=GPUTarget("cuda", 90, 32))
    except Exception as e:  # noqa: BLE001 - e.g. no ptxas in this Triton install
        pytest.skip(f"Triton cannot compile for sm_90 here: {type(e).__name__}: {e}")
    entries = kernel_store.collect([_Jit([compiled])])
    assert len(entries) == 1 and set(entries[0]["files"]) == {"pointwise_kernel.json", "pointwise_kernel.cubin"}
    writer = BlobWriter()
    manifest = json.loads(json.dumps(kernel_store.to_manifest(entries, writer)))
    shutil.rmtree(sandbox["triton"])
    assert kernel_store.install(manifest, Blobs(writer.items), 1 << 24) == 2
    hits = []
    knobs.compilation.listener = lambda **kw: hits.append((kw["cache_hit"], sorted(kw["metadata_group"].values())))
    try:
        again = triton.compile(src(), target=GPUTarget("cuda", 90, 32))
    finally:
        knobs.compilation.listener = None
    assert [h for h, _ in hits] == [True]
    area = str(sandbox["irt"])
    assert all(p.startswith(area) for p in hits[0][1])
    assert again.kernel == compiled.kernel and again.hash == compiled.hash
    assert not sandbox["triton"].exists()
