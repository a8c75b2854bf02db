"""The build pipeline: validate -> lower -> passes -> post-pipeline passes (reduced-precision range guard,
precision, formats) -> shapes per profile -> tactics -> memory -> plan bytes."""
from __future__ import annotations

import time

from ..device import fingerprint, resolve_device
from ..enums import BuilderFlag
from ..errors import BuildError
from ..ir.kinds import Kind
from ..logger import Severity
from ..ops.base import OpError
from ..passes.pipeline import POST_PIPELINE, PassContext, run_pipeline, selected_pipeline
from ..plan.format import BlobWriter, write_plan
from ..plan.schema import BuildInfo, IOTensor, Profile, write_manifest
from ..runtime.profile_memory import WHICH, arena_bytes, profile_input_specs
from ..refit.record import refit_mode
from .calibrate import quantize_for_build
from .debug_tensors import add_unfused_debug_tensors, protect_debug_tensors, split_debug_tensors
from .flags import flag_refusals, flag_warnings
from .lower_network import lower_network
from .progress import BUILD, KERNELS, MEMORY, OPTIMIZE, PHASES, SERIALIZE, TACTICS, ProgressDriver

def pin_static_profile_shapes(graph, profiles) -> dict:
    """Dynamic inputs whose every profile allows one shape only (min == max, the same in all profiles) are
    optimized at that shape, as TensorRT does: shape arithmetic folds away at build time and the fusions see
    constants. The engine still reports the declared (dynamic) shape; the profiles reject any other. Returns the
    pinned shapes."""
    from ..ops import Spec

    pinned = {}
    for n in graph.inputs:
        spec = graph.specs[n]
        if spec.shape is None or spec.static or spec.value is not None:
            continue
        got = {(tuple(p[n][0]), tuple(p[n][2])) for p in profiles if n in p}
        if len(got) != 1 or any(n not in p for p in profiles):
            continue
        ((lo, hi),) = got
        if lo == hi:
            graph.specs[n] = Spec(spec.dtype, lo)
            pinned[n] = lo
    return pinned


def resolve_profiles(network, config) -> list[dict[str, tuple]]:
    """Profiles as {input: (min, opt, max)}; an implicit one when every input is static."""
    net = network.internal
    dynamic = [t for t in net.inputs if any(d < 0 for d in net.input_shape(t))]
    profiles = []
    for pi, prof in enumerate(config._profiles):
        shapes = {}
        for t in net.inputs:
            got = prof._shapes.get(t.name)
            if got is None:
                if t in dynamic:
                    raise BuildError(f"optimization profile {pi} has no shapes for dynamic input {t.name!r} "
                                     f"{net.input_shape(t)}; call profile.set_shape({t.name!r}, min, opt, max)")
                continue
            for which, shp in zip(("min", "opt", "max"), got):
                if len(shp) != len(net.input_shape(t)):
                    raise BuildError(f"optimization profile {pi}: {which} shape {shp} of input {t.name!r} has rank "
                                     f"{len(shp)} but the input has rank {len(net.input_shape(t))}")
                for i, (d, dd) in enumerate(zip(shp, net.input_shape(t))):
                    if dd >= 0 and d != dd:
                        raise BuildError(f"optimization profile {pi}: {which} shape {shp} of input {t.name!r} sets "
                                         f"dimension {i} to {d} but the network fixes it to {dd}")
            shapes[t.name] = tuple(tuple(s) for s in got)
        unknown = set(prof._shapes) - {t.name for t in net.inputs}
        if unknown:
            raise BuildError(f"optimization profile {pi} names {sorted(unknown)}, which are not network inputs "
                             f"(inputs: {[t.name for t in net.inputs]})")
        profiles.append(shapes)
    if not profiles:
        if dynamic:
            t = dynamic[0]
            raise BuildError(f"input {t.name!r} has dynamic shape {net.input_shape(t)}; add an optimization profile "
                             f"(profile = builder.create_optimization_profile(); profile.set_shape({t.name!r}, min, "
                             f"opt, max); config.add_optimization_profile(profile))")
        profiles.append({})
    return profiles


def build_plan(network, config, log, progress: ProgressDriver | None = None) -> bytes:
    """``progress`` reports the phases to ``config.progress_monitor`` (builder/progress.py)."""
    t_start = time.perf_counter()
    net = network.internal
    errors = net.layer_errors() + net.logged_errors()
    if errors:
        raise BuildError("the network is invalid:\n  " + "\n  ".join(errors))
    if not net.outputs:
        raise BuildError("the network has no outputs; call network.mark_output(tensor) on at least one tensor")
    for t in net.outputs:
        if net.producer(t) is None:
            raise BuildError(f"network input {t.name!r} is also marked as an output; add an identity layer "
                             f"(network.add_identity) and mark its output instead")
    for t in net.inputs:
        if net.input_dtype(t) is None:
            raise BuildError(f"network input {t.name!r} has no dtype")
    try:
        device = resolve_device(config.device)
    except (RuntimeError, ValueError) as e:
        raise BuildError(f"config.device: {e}") from None
    refused = flag_refusals(config, network)
    if refused:
        raise BuildError("\n  ".join(refused))
    for warning in flag_warnings(config, device, network):
        log(Severity.WARNING, warning)
    for errs in getattr(config, "_rejected_profiles", []):
        raise BuildError("an optimization profile given to config.add_optimization_profile was rejected: "
                         + "; ".join(errs))
    profiles = resolve_profiles(network, config)
    graph = lower_network(network)
    declared = {n: graph.specs[n] for n in graph.inputs}
    pinned = pin_static_profile_shapes(graph, profiles)
    if pinned:
        log(Severity.INFO, f"optimizing for the only shapes the profiles allow: {pinned}")
    quantize_for_build(network, graph, config, profiles, device, log)   # TensorRT 10 INT8: calibrate, insert Q/DQ
    recorder = None
    if refit_mode(config) is not None:   # keep the graph before any pass: the refit recipe (refit/record.py)
        from ..refit.record import RefitRecorder

        recorder = RefitRecorder(network, graph, config, log)
    ctx = PassContext(config, log, device, profiles)
    debug = protect_debug_tensors(network, graph)
    progress = progress or ProgressDriver()
    progress.start(BUILD, len(PHASES))
    passes = selected_pipeline(config)
    progress.start(OPTIMIZE, len(passes) + len(POST_PIPELINE))
    for step in passes:   # one pass at a time, each a progress step
        run_pipeline(graph, ctx, [step])
        progress.step()
    for step in POST_PIPELINE:
        run_pipeline(graph, ctx, [step], required=True)
        progress.step()
    progress.finish()
    split_debug_tensors(graph, debug)
    add_unfused_debug_tensors(network, graph)

    profile_records = []
    opt_specs = None
    p0_specs = []  # profile 0's specs at its min, opt and max shapes
    progress.start(MEMORY, 3 * len(profiles))
    for pi, shapes in enumerate(profiles):
        memory = 0
        for which in range(3):
            specs_in = profile_input_specs(graph, shapes, which)
            try:
                specs = graph.infer(specs_in)
            except OpError as e:
                raise BuildError(f"shape inference failed at the {WHICH[which]} shapes of optimization profile {pi} "
                                 f"({ {k: tuple(v.shape) for k, v in specs_in.items()} }): {e}") from None
            _check_sizes(specs, device, f"the {WHICH[which]} shapes of optimization profile {pi}")
            memory = max(memory, arena_bytes(graph, specs))
            if pi == 0:
                p0_specs.append(specs)
            if which == 1 and pi == 0:
                opt_specs = specs
            progress.step()
        profile_records.append(Profile(shapes, memory))
    progress.finish()

    from ..tactics.select import select_tactics

    progress.start(TACTICS, sum(1 for n in graph.nodes if n.kind != Kind.CONSTANT))
    select_tactics(graph, opt_specs, device, config, log, on_layer=progress.step,
                   range_specs=(p0_specs[0], p0_specs[2]) if len(p0_specs) == 3 else None)
    progress.finish()
    from ..tactics import kernel_store
    from ..tactics.select import compiled_kernels

    progress.start(KERNELS, 1)
    kernels = compiled_kernels(graph, opt_specs, device)
    progress.step()
    progress.finish()
    progress.start(SERIALIZE, 1)

    blobs = recorder.blob_writer(graph) if recorder is not None else BlobWriter()
    graph.specs.update(declared)  # the engine reports the declared input shapes (-1 where dynamic)
    _check_sizes(graph.specs, device, "the shapes recorded in the plan")
    io = [IOTensor(n, "INPUT", graph.specs[n].dtype.name, list(graph.specs[n].shape)) for n in graph.inputs]
    io += [IOTensor(n, "OUTPUT", graph.specs[n].dtype.name,
                    list(graph.specs[n].shape) if graph.specs[n].shape is not None else []) for n in graph.outputs
           if n not in graph.debug]
    build = BuildInfo(flags=[f.name for f in BuilderFlag if config.get_flag(f)],
                      optimization_level=config.builder_optimization_level, layers_before=network.num_layers,
                      layers_after=sum(1 for n in graph.nodes if n.kind != Kind.CONSTANT))
    manifest = write_manifest(device=fingerprint(device), name=network.name, graph=graph.to_json(blobs), io=io,
                              kernels=kernel_store.to_manifest(kernels, blobs), profiles=profile_records,
                              profiling_verbosity=config.profiling_verbosity.name, build=build,
                              refit=recorder.section(graph, blobs, [p[0] for p in passes]) if recorder else None)
    plan = write_plan(manifest, blobs)
    progress.step()
    progress.finish()
    progress.finish()
    log(Severity.INFO, f"built a plan of {len(plan)} bytes for {fingerprint(device)['name']} in "
                       f"{time.perf_counter() - t_start:.2f} s ({build.layers_after} layers)")
    return plan


def device_memory_bytes(device) -> int:
    """Total memory of ``device`` (physical memory for the CPU); 0 if unknown."""
    try:
        if str(device).startswith("cuda"):
            import torch

            return int(torch.cuda.get_device_properties(torch.device(device)).total_memory)
        import os

        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, RuntimeError, AttributeError):
        return 0


def _check_sizes(specs, device, where: str) -> None:
    """Refuse a value larger than the device's memory (or than the loader accepts): the plan could never run."""
    import math

    from ..dtypes import itemsize
    from ..runtime.validate import MAX_TENSOR_BYTES

    limit = device_memory_bytes(device) or MAX_TENSOR_BYTES
    for name, spec in specs.items():
        if spec.shape is not None and any(int(d) < -1 for d in spec.shape):
            raise BuildError(f"tensor {name!r} gets the invalid shape {tuple(spec.shape)} at {where}; the layer "
                             f"producing it has inconsistent parameters")
        if spec.shape is None or not spec.static:
            continue
        volume = math.prod(int(d) for d in spec.shape)
        try:
            n = volume * itemsize(spec.dtype)
        except TypeError:
            n = volume
        if volume * 8 > MAX_TENSOR_BYTES or n > limit:  # the loader's bound: 8 bytes an element
            raise BuildError(f"tensor {name!r} would have shape {tuple(spec.shape)} ({n} bytes) at {where}, more "
                             f"than the {limit} bytes of memory of the device ({device}); check the model's shapes "
                             f"or lower the profile's shapes")
