"""``--layerPrecisions`` and ``--layerOutputTypes`` (trtexec's per-layer specs) onto the network's layers.

A spec is ``layerName:type[,name2:type2]``; a name may hold one ``*`` wildcard (``conv*``, ``*``), and an output
type spec may give one type per output (``split:fp16+fp32``; one type is used for every output). A layer takes the
exact name's entry, else the last wildcard entry that matches it (later entries override earlier ones, as trtexec's
help says); wildcard entries skip layers whose output is not floating point (shape and index layers), as trtexec's
do. Every name must match a layer: a misspelt one is an error before the build, listing the network's layers.
"""
from __future__ import annotations

from ..dtypes import FLOAT_TYPES
from .exec_args import ExecArgError, spec_entries

#: trtexec's type names -> inferrt DataType names, for the types inferrt builds
TYPES = {"fp32": "FLOAT", "fp16": "HALF", "bf16": "BF16"}


def parse_layer_spec(flag: str, spec: str | None, multi: bool = False) -> dict:
    """'conv1:fp32,*:fp16' -> {'conv1': 'FLOAT', '*': 'HALF'} (``multi``: values are tuples, 'fp16+fp32')."""
    out: dict = {}
    for part, name, types in spec_entries(spec):
        if not name or not types:
            raise ExecArgError(f"{flag}: {part!r} is not like layerName:fp16")
        if name.count("*") > 1:
            raise ExecArgError(f"{flag}: {name!r} has more than one '*' (a name may hold one wildcard)")
        got = types.split("+") if multi else [types]
        for t in got:
            if t not in TYPES:
                raise ExecArgError(f"{flag}: layer {name!r}: type {t!r} is not one inferrt builds "
                                   f"({', '.join(TYPES)})")
        if name in out:
            raise ExecArgError(f"{flag}: layer {name!r} is given twice")
        dts = tuple(TYPES[t] for t in got)
        out[name] = dts if multi else dts[0]
    return out


def _matches(pattern: str, name: str) -> bool:
    if "*" not in pattern:
        return pattern == name
    head, tail = pattern.split("*")
    return len(name) >= len(head) + len(tail) and name.startswith(head) and name.endswith(tail)


def resolve(flag: str, wanted: dict, layers: dict) -> dict:
    """{layer name: value} for ``layers`` ({name: ILayer}) from ``wanted`` (a parsed spec). Raises ExecArgError
    for a name or pattern that matches no layer."""
    for pattern in wanted:
        if not any(_matches(pattern, n) for n in layers):
            some = ", ".join(repr(n) for n in list(layers)[:12]) + (", ..." if len(layers) > 12 else "")
            what = f"no layer matches {pattern!r}" if "*" in pattern else f"the network has no layer {pattern!r}"
            raise ExecArgError(f"{flag}: {what}; its layers are {some}")
    out = {}
    for name, layer in layers.items():
        if name in wanted:
            out[name] = wanted[name]
            continue
        hits = [p for p in wanted if "*" in p and _matches(p, name)]
        if hits and all(layer.get_output(i).dtype in FLOAT_TYPES for i in range(layer.num_outputs)):
            out[name] = wanted[hits[-1]]
    return out


def _needs_flag(flag: str, name: str, dtype: str, args) -> None:
    need = {"HALF": ("--fp16", args.fp16), "BF16": ("--bf16", args.bf16)}.get(dtype)
    if need is not None and not need[1]:
        raise ExecArgError(f"{flag}: layer {name!r} in {dtype} needs {need[0]} (inferrt lowers layers to a reduced "
                           f"type only under its builder flag)")
    if dtype == "BF16" and args.fp16:
        raise ExecArgError(f"{flag}: layer {name!r} in BF16 cannot be honoured with --fp16 (or --best): inferrt "
                           f"lowers every reduced layer to one type, FP16 when it is allowed")


def apply_layer_specs(args, trt, network, config, info) -> None:
    """--layerPrecisions / --layerOutputTypes onto the network, with --precisionConstraints (prefer when not
    given). An output type inferrt's builder would not produce is an error, not a silent change of meaning."""
    precisions, out_types = args.layer_precision_dict, args.layer_output_dict
    constraints = args.precision_constraints
    if (precisions or out_types) and constraints is None:
        constraints = "prefer"
        info("--layerPrecisions/--layerOutputTypes given without --precisionConstraints: using "
             "--precisionConstraints=prefer")
    if constraints == "prefer":
        config.set_flag(trt.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
    elif constraints == "obey":
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    if not precisions and not out_types:
        return
    layers = {network.get_layer(i).name: network.get_layer(i) for i in range(network.num_layers)}
    prec_of = resolve("--layerPrecisions", precisions, layers)
    types_of = resolve("--layerOutputTypes", out_types, layers)
    reduced = "HALF" if args.fp16 else ("BF16" if args.bf16 else None)
    for name, dtype in prec_of.items():
        _needs_flag("--layerPrecisions", name, dtype, args)
    for name, dtypes in types_of.items():
        layer = layers[name]
        if len(dtypes) not in (1, layer.num_outputs):
            raise ExecArgError(f"--layerOutputTypes: layer {name!r} has {layer.num_outputs} outputs but "
                               f"{len(dtypes)} types are given; give one type, or one per output joined by '+'")
        for dt in dtypes:
            _needs_flag("--layerOutputTypes", name, dt, args)
            # inferrt's builder writes a layer's output in the type the layer computes in: FLOAT, or the reduced
            # type when the layer is lowered (--fp16/--bf16 and no FLOAT precision on it)
            computes = "FLOAT" if reduced is None or prec_of.get(name) == "FLOAT" else reduced
            if dt != computes:
                fix = ("add --layerPrecisions=" + f"{name}:fp32" if dt == "FLOAT" else
                       f"drop --layerPrecisions={name}:fp32")
                raise ExecArgError(f"--layerOutputTypes: layer {name!r} computes in {computes}, and inferrt writes a "
                                   f"layer's output in the type it computes in, so its output cannot be {dt}; {fix} "
                                   f"or change the output type")
    for name, dtype in prec_of.items():
        layers[name].precision = getattr(trt.DataType, dtype)
        info(f"Set layer {name} to precision {dtype}")
    for name, dtypes in types_of.items():
        layer = layers[name]
        for i in range(layer.num_outputs):
            dt = dtypes[0] if len(dtypes) == 1 else dtypes[i]
            layer.set_output_type(i, getattr(trt.DataType, dt))
            info(f"Set output {i} of layer {name} to type {dt}")
