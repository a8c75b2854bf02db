"""The plan manifest's structure, in one place: its key names, one typed record per section, the writer the builder
calls and the reader (with every type check) the runtime calls. Outside plan/, no code indexes the manifest's JSON:
the runtime reads the typed ``Manifest``; its ``graph`` and ``kernels`` sections are decoded by ``Graph.from_json``
and tactics/kernel_store.py.

=========================  ===========================================================================================
key                        value
=========================  ===========================================================================================
``inferrt_version``        the inferrt that built the plan (loaders accept the same major.minor)
``device``                 the device fingerprint (``kind`` "cpu" or "cuda", name, capability...; see device.py)
``name``                   the network's name
``graph``                  the optimized graph (``Graph.to_json``; plugin layers: plugin/plan_record.py)
``io``                     ``IOTensor`` entries: inputs in order, then outputs
``kernels``                compiled GPU kernels, AOT plugin kernels included (tactics/kernel_store.py)
``profiles``               ``Profile`` entries: {input: [min, opt, max]} and the activation memory they need
``profiling_verbosity``    a ProfilingVerbosity name
``build``                  ``BuildInfo``: builder flags by name, optimization level, layer counts (for the inspector)
``refit``                  refittable engines only: the refit recipe and weight digests (inferrt/refit/record.py)
``blobs``                  the blob table (written and checked by plan/format.py)
=========================  ===========================================================================================

The JSON is written with sorted keys, so the order of fields here does not change a plan's bytes.
"""
from __future__ import annotations

from dataclasses import dataclass

from .._version import __version__
from ..enums import DataType, ProfilingVerbosity
from ..errors import PlanError

VERSION = "inferrt_version"
DEVICE = "device"
NAME = "name"
GRAPH = "graph"
IO = "io"
KERNELS = "kernels"
PROFILES = "profiles"
PROFILING_VERBOSITY = "profiling_verbosity"
BUILD = "build"
BLOBS = "blobs"
REFIT = "refit"

#: the three shape points of an optimization profile, in the order a profile lists them
WHICH = ("min", "opt", "max")
MODES = ("INPUT", "OUTPUT")
MAX_DIM = 2 ** 40  # far beyond any real tensor; larger values are damage (tensor bytes are bounded at load)
DEFAULT_VERBOSITY = "LAYER_NAMES_ONLY"


@dataclass(frozen=True)
class IOTensor:
    """One I/O tensor of the engine: its declared shape (-1 where dynamic) and dtype by DataType name."""
    name: str
    mode: str
    dtype: str
    shape: list

    def to_json(self) -> dict:
        return {"name": self.name, "mode": self.mode, "dtype": self.dtype, "shape": list(self.shape)}


@dataclass(frozen=True)
class Profile:
    """An optimization profile: {input: [min, opt, max]} (inputs it leaves out are static) and the activation
    memory its largest shapes need."""
    shapes: dict
    device_memory: int

    def to_json(self) -> dict:
        return {"shapes": {k: [list(x) for x in v] for k, v in self.shapes.items()},
                "device_memory": self.device_memory}


@dataclass(frozen=True)
class BuildInfo:
    """What the builder was asked for, recorded for the inspector and for run-time choices (TF32)."""
    flags: list
    optimization_level: int
    layers_before: int
    layers_after: int

    def to_json(self) -> dict:
        return {"flags": list(self.flags), "optimization_level": self.optimization_level,
                "layers_before": self.layers_before, "layers_after": self.layers_after}


@dataclass(frozen=True)
class Header:
    """The fields checked before anything else: who built the plan and for which device."""
    version: str
    device: dict


@dataclass(frozen=True)
class Manifest:
    """A checked manifest. ``graph`` and ``kernels`` stay JSON: Graph.from_json and the kernel store decode them;
    ``build`` is the recorded BuildInfo as written (older fields may be missing); ``raw`` is the whole JSON."""
    version: str
    device: dict
    name: str
    graph: dict
    io: tuple
    kernels: object
    profiles: tuple
    profiling_verbosity: str
    build: dict
    raw: dict

    @property
    def device_kind(self) -> str:
        return self.device["kind"]

    @property
    def refit(self) -> dict | None:
        """The ``refit`` section of a refittable engine's plan, unchecked (inferrt/refit/state.py checks it)."""
        return self.raw.get(REFIT)

    @property
    def tf32(self) -> bool:
        """BuilderFlag.TF32 at build time (on for plans that do not record their flags)."""
        return "TF32" in self.build.get("flags", ["TF32"])


def write_manifest(*, device: dict, name: str, graph: dict, io: list, kernels: list, profiles: list,
                   profiling_verbosity: str, build: BuildInfo, refit: dict | None = None) -> dict:
    """The manifest's JSON (without the blob table, which write_plan adds) for a plan built by this inferrt."""
    return {VERSION: __version__, DEVICE: device, NAME: name, GRAPH: graph, IO: [e.to_json() for e in io],
            KERNELS: kernels, PROFILES: [p.to_json() for p in profiles], PROFILING_VERBOSITY: profiling_verbosity,
            BUILD: build.to_json(), **({REFIT: refit} if refit is not None else {})}


def _fail(msg: str):
    raise PlanError(f"corrupt plan: {msg}")


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_shape(v, what: str, allow_dynamic: bool) -> tuple:
    """A list of dimensions in [0 or -1, MAX_DIM]; PlanError naming ``what`` otherwise."""
    lo = -1 if allow_dynamic else 0
    if not isinstance(v, list) or not all(is_int(d) and lo <= d <= MAX_DIM for d in v):
        _fail(f"{what} must be a list of integers in [{lo}, {MAX_DIM}], got {str(v)[:120]}")
    return tuple(v)


def compatible_version(built: str) -> bool:
    return str(built).split(".")[:2] == __version__.split(".")[:2]


def read_header(manifest: dict) -> Header:
    """The builder's version (same major.minor as this inferrt) and the device fingerprint's presence."""
    built = manifest.get(VERSION)
    if not isinstance(built, str) or not compatible_version(built):
        raise PlanError(f"plan was built by inferrt {built}; this is inferrt {__version__}: rebuild the plan "
                        f"with this version")
    fp = manifest.get(DEVICE)
    if not isinstance(fp, dict) or fp.get("kind") not in ("cpu", "cuda"):
        raise PlanError("corrupt plan: its device fingerprint is missing")
    return Header(built, fp)


def read_manifest(manifest: dict) -> Manifest:
    """Check the type of every field the runtime reads (before the graph is decoded) and return them typed."""
    header = read_header(manifest)
    for key, typ in ((GRAPH, dict), (IO, list), (PROFILES, list), (DEVICE, dict)):
        if not isinstance(manifest.get(key), typ):
            _fail(f"manifest field {key!r} must be a{'n object' if typ is dict else ' list'}")
    name = manifest.get(NAME, "")
    if not isinstance(name, str):
        _fail(f"manifest field {NAME!r} must be a string")
    pv = manifest.get(PROFILING_VERBOSITY, DEFAULT_VERBOSITY)
    if not isinstance(pv, str) or pv not in ProfilingVerbosity.__members__:
        _fail(f"profiling_verbosity {str(pv)[:60]!r} is not a ProfilingVerbosity")
    build = manifest.get(BUILD, {})
    if not isinstance(build, dict):
        _fail(f"manifest field {BUILD!r} must be an object")
    io = _read_io(manifest[IO])
    profiles = manifest[PROFILES]
    if not profiles:
        _fail("the plan has no optimization profile")
    return Manifest(header.version, header.device, name, manifest[GRAPH], io,
                    manifest.get(KERNELS), tuple(_read_profile(pi, p) for pi, p in enumerate(profiles)), pv, build,
                    manifest)


def _read_io(entries: list) -> tuple:
    names, out = set(), []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("name"), str):
            _fail(f"I/O entry {i} must be an object with a string 'name'")
        name = e["name"]
        if name in names:
            _fail(f"I/O tensor {name!r} is listed twice")
        names.add(name)
        mode, dtype = e.get("mode"), e.get("dtype")
        if mode not in MODES:
            _fail(f"I/O tensor {name!r} has mode {str(mode)[:40]!r}; expected INPUT or OUTPUT")
        if not isinstance(dtype, str) or dtype not in DataType.__members__:
            _fail(f"I/O tensor {name!r} has unknown dtype {str(dtype)[:40]!r}")
        shape = e.get("shape")
        check_shape(shape, f"shape of I/O tensor {name!r}", True)
        out.append(IOTensor(name, mode, dtype, list(shape)))
    return tuple(out)


def _read_profile(pi: int, p) -> Profile:
    if not isinstance(p, dict) or not isinstance(p.get("shapes"), dict):
        _fail(f"optimization profile {pi} must be an object with a 'shapes' object")
    dm = p.get("device_memory")
    if not is_int(dm) or dm < 0:
        _fail(f"optimization profile {pi}: device_memory must be an integer >= 0, got {str(dm)[:40]}")
    for name, triple in p["shapes"].items():
        if not isinstance(triple, list) or len(triple) != 3:
            _fail(f"optimization profile {pi}: shapes of {name!r} must be [min, opt, max]")
        for which, s in zip(WHICH, triple):
            check_shape(s, f"optimization profile {pi}: {which} shape of {name!r}", False)
    return Profile(p["shapes"], dm)
