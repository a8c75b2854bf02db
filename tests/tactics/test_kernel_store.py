"""Plan kernel entries are data: a crafted entry (a shared object, Python, a group index, a path, non-ASCII names,
shared or oversized blobs, metadata naming files) is refused before anything is written; a well-formed one is
written only into the private cache, under names inferrt derives, and served to Triton from there only."""
from __future__ import annotations

import json
import os
import re
import stat

import pytest
from kernel_tools import CUBIN, NAME, Blobs, all_files, entry, fake_hash, metadata, mutate_json, sandbox  # noqa: F401

import inferrt as trt
from inferrt.tactics import kernel_store, private_cache

SO_NAME = "cuda_utils.cpython-311-x86_64-linux-gnu.so"


def _install(entries, items, plan_size=64 << 20):
    return kernel_store.install(entries, Blobs(items), plan_size)


def _make_area():
    area = private_cache.area_path("kernels")
    os.makedirs(area)
    os.chmod(area, 0o700)
    return area


def _nothing_written(dirs):
    assert all_files(dirs["irt"]) == [] if dirs["irt"].exists() else True
    assert not dirs["triton"].exists() or all_files(dirs["triton"]) == []
    assert all_files(dirs["home"]) == [] and all_files(dirs["outside"]) == []


def test_well_formed_entry_goes_to_the_private_cache_only(sandbox):
    items = []
    e = entry(items)
    assert _install([e], items) == 2
    area = private_cache.area_path("kernels")
    st = os.lstat(area)
    assert stat.S_ISDIR(st.st_mode) and st.st_mode & 0o777 == 0o700 and st.st_uid == os.getuid()
    files = all_files(area)
    assert len(files) == 3 and {os.path.basename(f) for f in files} == {os.path.dirname(files[1]), "kernel.json",
                                                                          "kernel.cubin"}
    sub = os.path.dirname(files[1])
    assert sub == kernel_store._content_dir(e["hash"], NAME, {"json": items[0], "cubin": items[1]})
    assert open(os.path.join(area, sub, "kernel.cubin"), "rb").read() == CUBIN
    assert json.loads(open(os.path.join(area, sub, "kernel.json")).read())["hash"] == e["hash"]
    assert all_files(sandbox["home"]) == [] and not sandbox["triton"].exists()
    assert _install([e], items) == 0          # same content: nothing rewritten
    got = kernel_store.lookup(kernel_store.hash_b32(e["hash"]))
    assert got.group(f"{NAME}.json") == {f"{NAME}.json": os.path.join(area, sub, "kernel.json"),
                                         f"{NAME}.cubin": os.path.join(area, sub, "kernel.cubin")}
    assert got.group(f"{SO_NAME}") is None


def _so(items):
    e = entry(items)
    items.append(b"\x7fELF planted shared object")
    e["files"].append([f"{fake_hash()}/{SO_NAME}", len(items) - 1])
    return [e]


def _so_named_like_kernel(items):
    return [entry(items, files=[(f"{NAME}.json", json.dumps(metadata(fake_hash("1"))).encode()),
                                (SO_NAME, CUBIN)])]


def _py(items):
    e = entry(items)
    items.append(b"import os\nos.system('id')\n")
    e["files"][1] = [f"{NAME}.py", len(items) - 1]
    return [e]


def _grp(items):
    e = entry(items)
    items.append(json.dumps({"child_paths": {SO_NAME: "/tmp/x.so"}}).encode())
    e["files"].append([f"__grp__{NAME}.json", len(items) - 1])
    return [e]


def _old_dir_form(items):
    e = entry(items)
    return [{"dir": kernel_store.hash_b32(e["hash"]), "files": e["files"]}]


def _non_ascii_name(items):
    name = "pointwise_k\u00e9rnel"
    return [entry(items, name=name, meta=metadata(fake_hash("1"), name))]


def _dotdot_name(items):
    return [entry(items, name="..", meta=metadata(fake_hash("1"), ".."))]


def _shared_blob(items):
    e1 = entry(items)
    e2 = {"hash": fake_hash("x"), "name": NAME, "files": [list(f) for f in e1["files"]]}
    return [e1, e2]


def _amplified(items):
    """One 1 MiB cubin referenced by 100 entries (100 MiB written from a 1 MiB plan by the old store)."""
    big = b"\x7fELF" + bytes(1 << 20)
    items.append(big)
    out = []
    for k in range(100):
        h = fake_hash(f"a{k}")
        items.append(json.dumps(metadata(h)).encode())
        out.append({"hash": h, "name": NAME, "files": [[f"{NAME}.json", len(items) - 1], [f"{NAME}.cubin", 0]]})
    return out


CRAFTED = {
    "shared object with a path": (_so, "file name"),
    "shared object as the binary": (_so_named_like_kernel, "file name"),
    "python file": (_py, "file name"),
    "group index": (_grp, "file name"),
    "old dir form": (_old_dir_form, "old 'dir' form"),
    "non-ascii name": (_non_ascii_name, "ASCII identifier"),
    "dot-dot name": (_dotdot_name, "ASCII identifier"),
    "shared blob": (_shared_blob, "cannot share blobs"),
    "amplified": (_amplified, "cannot share blobs"),
    "bad hash": (lambda items: [entry(items, h="../../x")], "hex digits"),
    "metadata names a file": (lambda items: [entry(items, meta=metadata(fake_hash("1"), extern_libs=[
        ["libdevice", "/usr/lib/libdevice.10.bc"]]))], "names a file"),
    "metadata names a module": (lambda items: [entry(items, meta=metadata(fake_hash("1"), hook="evil.so"))],
                                "names a file"),
    "metadata ir override": (lambda items: [entry(items, meta=metadata(fake_hash("1"), ir_override="k.ptx"))],
                             "IR override"),
    "metadata of another kernel": (lambda items: [entry(items, h=fake_hash("1"), meta=metadata(fake_hash("2")))],
                                   "another kernel"),
    "metadata kernel name": (lambda items: [entry(items, meta=metadata(fake_hash("1"), "1 kernel"))],
                             "ASCII identifier"),
    "metadata private field": (lambda items: [entry(items, meta=metadata(fake_hash("1"), __class__=1))],
                               "plain identifier"),
    "metadata too deep": (lambda items: [entry(items, meta=metadata(fake_hash("1"), x=[[[[[[[[[[1]]]]]]]]]]))],
                          "deeper"),
    "metadata not json": (lambda items: [entry(items, files=[(f"{NAME}.json", b"\xff{"), (f"{NAME}.cubin", CUBIN)])],
                          "not JSON"),
    "binary not elf": (lambda items: [entry(items, cubin=b"#!/bin/sh\nid\n")], "ELF"),
    "hip target with cubin": (lambda items: [entry(items, meta=metadata(fake_hash("1"), target={
        "backend": "hip", "arch": "gfx942", "warp_size": 64}))], "do not match"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_entries_are_refused_before_anything_is_written(case, sandbox):
    make, why = CRAFTED[case]
    items = []
    entries = make(items)
    with pytest.raises(trt.PlanError, match="kernel entry") as err:
        _install(entries, items)
    assert why in str(err.value), str(err.value)
    _nothing_written(sandbox)
    assert kernel_store._REGISTRY == {} or all(v.name == NAME for v in kernel_store._REGISTRY.values())


def test_kernel_bytes_are_bounded_by_the_plan_size(sandbox):
    items = []
    entries = [entry(items) for _ in range(3)]
    size = sum(len(b) for b in items)
    with pytest.raises(trt.PlanError, match="more than the plan's"):
        _install(entries, items, plan_size=size - 1)
    _nothing_written(sandbox)
    assert _install(entries, items, plan_size=size) == 6


def test_too_many_entries_are_refused(sandbox, monkeypatch):
    monkeypatch.setattr(kernel_store, "MAX_KERNELS", 2)
    items = []
    with pytest.raises(trt.PlanError, match="limit of 2"):
        _install([entry(items) for _ in range(3)], items)


def test_symlinked_area_is_refused_and_its_target_untouched(sandbox):
    sandbox["irt"].mkdir()
    os.symlink(sandbox["outside"], private_cache.area_path("kernels"))
    items = []
    with pytest.raises(trt.PlanError, match="symbolic link"):
        _install([entry(items)], items)
    assert all_files(sandbox["outside"]) == []


def test_symlink_planted_at_the_content_directory_is_not_followed(sandbox):
    items = []
    e = entry(items)
    sub = kernel_store._content_dir(e["hash"], NAME, {"json": items[0], "cubin": items[1]})
    area = _make_area()
    os.symlink(sandbox["outside"], os.path.join(area, sub))
    with pytest.raises(trt.PlanError, match="link is never followed"):
        _install([e], items)
    assert all_files(sandbox["outside"]) == []


def test_symlink_planted_at_a_file_name_is_replaced_not_followed(sandbox):
    items = []
    e = entry(items)
    sub = kernel_store._content_dir(e["hash"], NAME, {"json": items[0], "cubin": items[1]})
    d = os.path.join(_make_area(), sub)
    os.mkdir(d, 0o700)
    victim = sandbox["outside"] / "victim"
    victim.write_bytes(b"precious")
    os.symlink(victim, os.path.join(d, "kernel.cubin"))
    _install([e], items)
    assert victim.read_bytes() == b"precious"
    assert not os.path.islink(os.path.join(d, "kernel.cubin"))
    assert open(os.path.join(d, "kernel.cubin"), "rb").read() == CUBIN


def test_symlink_at_the_temporary_name_is_never_written_through(sandbox, monkeypatch):
    """Temporary names are random; even a guessed one (forced here) is opened O_EXCL|O_NOFOLLOW, never followed."""
    monkeypatch.setattr(private_cache.secrets, "token_hex", lambda n: "guessed")
    area = _make_area()
    victim = sandbox["outside"] / "victim"
    victim.write_bytes(b"precious")
    os.symlink(victim, os.path.join(area, ".tmp-guessed"))
    fd = private_cache.open_area("kernels")
    try:
        with pytest.raises(private_cache.CacheDirError, match="temporary file"):
            private_cache.write_file(fd, "kernel.cubin", b"payload")
    finally:
        os.close(fd)
    assert victim.read_bytes() == b"precious"


def test_area_open_to_others_is_refused(sandbox):
    area = _make_area()
    os.chmod(area, 0o777)
    items = []
    with pytest.raises(trt.PlanError, match="chmod 700"):
        _install([entry(items)], items)
    assert all_files(area) == []


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to give the directory to another user")
def test_area_of_another_user_is_refused(sandbox):
    area = _make_area()
    os.chown(area, 12345, 12345)
    items = []
    with pytest.raises(trt.PlanError, match="belongs to user 12345"):
        _install([entry(items)], items)
    assert all_files(area) == []


def test_plan_kernel_cache_serves_plan_kernels_and_delegates_the_rest(sandbox):
    pytest.importorskip("triton")
    from triton import knobs
    from triton.runtime.cache import FileCacheManager, get_cache_manager

    items = []
    e = entry(items)
    _install([e], items)
    cls = knobs.cache.manager_class
    assert cls.inferrt_fallback is FileCacheManager
    mgr = get_cache_manager(e["hash"])
    group = mgr.get_group(f"{NAME}.json")
    assert set(group) == {f"{NAME}.json", f"{NAME}.cubin"}
    assert all(p.startswith(private_cache.area_path("kernels")) for p in group.values())
    assert not sandbox["triton"].exists()          # a plan kernel lookup touches nothing in Triton's cache
    # a host module asked for under the same key is never the plan's: Triton's own cache answers (empty here)
    assert mgr.get_file(SO_NAME) is None
    other = get_cache_manager(fake_hash("not from a plan"))
    assert other.get_group(f"{NAME}.json") is None
    path = other.put(b"data", "x.cubin")
    assert path.startswith(str(sandbox["triton"]))
    # a second plan does not wrap the manager twice
    items2 = []
    _install([entry(items2, h=fake_hash("second"))], items2)
    assert knobs.cache.manager_class is cls


def test_triton_compile_finds_a_plan_kernel_without_compiling(sandbox):
    """Triton's own ``compile`` gets the plan's metadata and binary from the private cache (a cache hit), on any
    machine: the cache lookup happens before any GPU is needed."""
    triton = pytest.importorskip("triton")
    from triton import knobs
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    @triton.jit
    def plan_probe_kernel(x_ptr, n):
        pass

    keys = []

    class _Record:
        def __init__(self, key, override=False, dump=False):
            keys.append(key)
            raise LookupError("recorded")

    src = ASTSource(plan_probe_kernel, {"x_ptr": "*fp32", "n": "i32"}, {})
    target = GPUTarget("cuda", 90, 32)
    knobs.cache.manager_class = _Record
    try:
        triton.compile(src, target=target)
    except LookupError:
        pass
    except Exception as e:  # noqa: BLE001 - this Triton cannot compute a CUDA cache key here (no toolchain)
        pytest.skip(f"Triton cannot prepare a CUDA compile on this machine: {type(e).__name__}: {e}")
    finally:
        knobs.cache.__dict__.pop("manager_class", None)
    assert keys
    h = kernel_store.base64.b32decode(keys[0] + "=" * (-len(keys[0]) % 8)).hex()
    items = []
    _install([entry(items, h=h, name="plan_probe_kernel")], items)
    hits = []
    knobs.compilation.listener = lambda **kw: hits.append(kw["cache_hit"])
    try:
        compiled = triton.compile(src, target=target)
    finally:
        knobs.compilation.listener = None
    assert hits == [True]
    assert compiled.kernel == CUBIN and compiled.hash == h
    assert not sandbox["triton"].exists() or "cubin" not in " ".join(all_files(sandbox["triton"]))


FUZZ_CASES = 3000
def test_fuzzed_kernel_entries_end_in_plan_error_or_a_valid_kernel(sandbox):
    """Structural mutations of entries and of their metadata (as JSON), and byte damage of the files: validate
    either returns well-formed kernels or raises PlanError, never anything else; nothing is written."""
    import random

    rng = random.Random(10)
    counts = {"refused": 0, "accepted": 0}
    for case in range(FUZZ_CASES):
        items = []
        entries = [entry(items) for _ in range(2)]
        what = rng.random()
        if what < 0.4:
            entries = mutate_json(rng, entries)
        elif what < 0.8:
            k = rng.randrange(len(items))
            if k % 2 == 0:   # metadata: mutate the parsed tree, serialize again
                items[k] = json.dumps(mutate_json(rng, json.loads(items[k]))).encode()
            else:
                items[k] = mutate_json(rng, items[k])
        else:
            k = rng.randrange(len(items))
            items[k] = mutate_json(rng, items[k])
        try:
            out = kernel_store.validate(entries, Blobs(items), 64 << 20)
        except trt.PlanError as e:
            assert "corrupt plan" in str(e)
            counts["refused"] += 1
            continue
        except IndexError:
            # Blobs in this test is a bare list: an out-of-range index is the BlobReader's PlanError in a plan
            counts["refused"] += 1
            continue
        except Exception as e:  # noqa: BLE001 - the point of the test
            pytest.fail(f"case {case}: validate raised {type(e).__name__}: {e}")
        for h, name, files in out:
            assert re.fullmatch(r"[0-9a-f]{64}", h) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)
            assert set(files) <= {"json", "cubin", "hsaco", "ptx"} and files.get("cubin", b"\x7fELF")[:4] == b"\x7fELF"
        counts["accepted"] += 1
    print(counts)
    assert counts["refused"] > FUZZ_CASES // 2, counts
    assert not sandbox["irt"].exists()
