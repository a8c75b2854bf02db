"""Protobuf-level mutations of the fuzz test's seed models (``onnx_fuzz_seeds``).

``mutate(model, rng)`` applies one or two random mutations: removed, duplicated or reordered nodes, dangling names,
cycles, wrong attribute types and absurd values, wrong initializer sizes, types and values, huge/zero/negative dims,
unknown ops, domains and opsets, broken I/O, damaged local functions, truncated or flipped bytes; node-level
mutations reach into If/Loop subgraphs. ``cases(n, seed)`` yields ``n`` deterministic mutants (``case(i, seed)`` is
the ``i``-th alone); the oracle that judges them is ``onnx_fuzz_oracle.run_case``."""
from __future__ import annotations

import random

import numpy as np
import onnx
from onnx import TensorProto as TP, helper as oh, numpy_helper as nh

from onnx_fuzz_seeds import seed_models

HUGE = [2 ** 31, 2 ** 40, 2 ** 62, 10 ** 6]
ABSURD_INTS = [0, -1, -7, 1, 3, 2 ** 31 - 1, 2 ** 63 - 1, -2 ** 63, 10 ** 6]
VALUE_INTS = [0, -1, -7, 1, 3, 2 ** 31 - 1, 2 ** 63 - 1, -2 ** 63, 10 ** 5, -2, 2, 5, 100, -100]
OPS = ["Relu", "Add", "Conv", "MatMul", "Reshape", "Concat", "Softmax", "Gather", "Transpose", "PRelu", "Pad",
       "Slice", "Resize", "Loop", "If", "TopK", "NonZero", "Shape", "Cast", "Expand", "Split", "Einsum", "Gemm",
       "BatchNormalization", "LayerNormalization", "MaxPool", "ConvTranspose", "Where", "Tile", "ScatterND"]


# ---------------------------------------------------------------------------------------------------- mutations
def _pick(rng, seq):
    return seq[rng.randrange(len(seq))] if len(seq) else None


def _names(g):
    return ([i.name for i in g.input] + [i.name for i in g.initializer] + [o for n in g.node for o in n.output])


def _graphs(g):
    out = [g]
    for n in g.node:
        for a in n.attribute:
            for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                out.extend(_graphs(sub))
    return out


class _Scoped:
    """The model seen through one of its graphs: ``graph`` is the main graph or, one time in three when the model
    has subgraphs, a subgraph; everything else passes through to the model."""

    def __init__(self, m, rng):
        self._m = m
        subs = _graphs(m.graph)[1:]
        self.graph = subs[rng.randrange(len(subs))] if subs and rng.random() < 1 / 3 else m.graph

    def __getattr__(self, name):
        return getattr(self._m, name)

    def __setattr__(self, name, value):
        if name in ("_m", "graph"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._m, name, value)


def m_remove_node(m, rng):
    if len(m.graph.node):
        del m.graph.node[rng.randrange(len(m.graph.node))]


def m_duplicate_node(m, rng):
    if len(m.graph.node):
        n = _pick(rng, m.graph.node)
        c = m.graph.node.add()
        c.CopyFrom(n)
        if rng.random() < 0.5:
            c.name = c.name + "_dup"


def m_shuffle_nodes(m, rng):
    nodes = list(m.graph.node)
    rng.shuffle(nodes)
    copies = []
    for n in nodes:
        c = onnx.NodeProto()
        c.CopyFrom(n)
        copies.append(c)
    del m.graph.node[:]
    m.graph.node.extend(copies)


def m_dangling_input(m, rng):
    n = _pick(rng, m.graph.node)
    if n is not None and len(n.input):
        n.input[rng.randrange(len(n.input))] = _pick(rng, ["nowhere", "", "x ", "y"])


def m_rewire_input(m, rng):
    """An input taken from another value (wrong shapes / types, or a cycle when it is a later output)."""
    n = _pick(rng, m.graph.node)
    names = _names(m.graph)
    if n is not None and len(n.input) and names:
        n.input[rng.randrange(len(n.input))] = _pick(rng, names)


def m_cycle(m, rng):
    nodes = m.graph.node
    if len(nodes) >= 2:
        i = rng.randrange(len(nodes) - 1)
        j = rng.randrange(i + 1, len(nodes))
        if len(nodes[i].input) and len(nodes[j].output):
            nodes[i].input[0] = nodes[j].output[0]


def m_extra_io(m, rng):
    n = _pick(rng, m.graph.node)
    if n is None:
        return
    if rng.random() < 0.5:
        n.input.append(_pick(rng, _names(m.graph) + [""]))
    else:
        n.output.append(f"extra_{rng.randrange(100)}")


def m_drop_io(m, rng):
    n = _pick(rng, m.graph.node)
    if n is None:
        return
    field = n.input if rng.random() < 0.6 else n.output
    if len(field):
        del field[rng.randrange(len(field))]


def m_rename_output(m, rng):
    n = _pick(rng, m.graph.node)
    if n is not None and len(n.output):
        n.output[rng.randrange(len(n.output))] = _pick(rng, ["x", "renamed", ""] + _names(m.graph))


def m_op_type(m, rng):
    n = _pick(rng, m.graph.node)
    if n is not None:
        n.op_type = _pick(rng, OPS + ["NoSuchOp", "", "relu", "Conv\x00", "Relu" * 40])


def m_domain(m, rng):
    n = _pick(rng, m.graph.node)
    if n is not None:
        n.domain = _pick(rng, ["com.unknown", "ai.onnx.ml", "com.microsoft", "local", "ai.onnx", " "])


def m_opset(m, rng):
    if len(m.opset_import) and rng.random() < 0.8:
        o = _pick(rng, m.opset_import)
        o.version = _pick(rng, [0, 1, 5, 6, 7, 9, 11, 13, 23, 24, 99, 1000, -1, 2 ** 40])
    elif rng.random() < 0.5:
        del m.opset_import[:]
    else:
        m.opset_import.append(oh.make_opsetid(_pick(rng, ["com.unknown", "", "local"]), rng.randrange(1, 30)))


def m_ir_version(m, rng):
    m.ir_version = _pick(rng, [0, 1, 2, 3, 4, 7, 10, 11, 99, -1])


def _attr(m, rng):
    nodes = [n for n in m.graph.node if len(n.attribute)]
    n = _pick(rng, nodes)
    return (n, _pick(rng, n.attribute)) if n is not None else (None, None)


def m_attr_type(m, rng):
    n, a = _attr(m, rng)
    if a is None:
        return
    name = a.name
    kind = rng.randrange(6)
    new = [oh.make_attribute(name, 1.5), oh.make_attribute(name, 3), oh.make_attribute(name, "str"),
           oh.make_attribute(name, [1.0, 2.0]), oh.make_attribute(name, [b"a", b"b"]),
           oh.make_attribute(name, nh.from_array(np.zeros((2, 2), np.float32)))][kind]
    a.CopyFrom(new)


def m_attr_value(m, rng):
    n, a = _attr(m, rng)
    if a is None:
        return
    if a.type == onnx.AttributeProto.INTS:
        k = rng.randrange(4)
        if k == 0 or not len(a.ints):
            del a.ints[:]
            a.ints.extend(_pick(rng, ABSURD_INTS) for _ in range(rng.randrange(0, 9)))
        elif k == 1:
            a.ints[rng.randrange(len(a.ints))] = _pick(rng, ABSURD_INTS)
        elif k == 2:
            a.ints.append(_pick(rng, ABSURD_INTS))
        else:
            del a.ints[-1]
    elif a.type == onnx.AttributeProto.INT:
        a.i = _pick(rng, ABSURD_INTS + [TP.STRING, TP.UNDEFINED, 999])
    elif a.type == onnx.AttributeProto.FLOAT:
        a.f = _pick(rng, [0.0, -1.0, float("nan"), float("inf"), 1e30, -1e-30])
    elif a.type == onnx.AttributeProto.STRING:
        a.s = _pick(rng, [b"", b"bogus", b"\xff\xfe", b"linear", b"cubic", b"reflect", b"edge"])
    else:
        a.type = _pick(rng, [onnx.AttributeProto.UNDEFINED, onnx.AttributeProto.GRAPH, onnx.AttributeProto.TENSORS])


def m_attr_remove_or_add(m, rng):
    n = _pick(rng, m.graph.node)
    if n is None:
        return
    if len(n.attribute) and rng.random() < 0.5:
        del n.attribute[rng.randrange(len(n.attribute))]
    elif len(n.attribute) and rng.random() < 0.5:
        c = n.attribute.add()
        c.CopyFrom(n.attribute[0])
    else:
        n.attribute.append(oh.make_attribute(_pick(rng, ["bogus", "axis", "pads", "perm", "to", "mode", "k"]),
                                             _pick(rng, [1, -3, [0, 1, 2], "x", 2.0])))


def _init(m, rng):
    return _pick(rng, m.graph.initializer)


def _values_of(t):
    """Move a tensor's values into raw_data, so size mutations work the same for every storage field."""
    if not t.raw_data and (t.float_data or t.int64_data or t.int32_data or t.double_data):
        try:
            t.CopyFrom(nh.from_array(nh.to_array(t), t.name))
        except Exception:  # noqa: BLE001 - damaged by an earlier mutation
            pass


def m_init_size(m, rng):
    t = _init(m, rng)
    if t is None:
        return
    _values_of(t)
    k = rng.randrange(3)
    if k == 0:
        t.raw_data = t.raw_data[:rng.randrange(len(t.raw_data) + 1)]
    elif k == 1:
        t.raw_data = t.raw_data + bytes(rng.randrange(1, 64))
    else:
        t.raw_data = bytes(rng.randrange(0, 8))


def m_init_dims(m, rng):
    t = _init(m, rng)
    if t is None:
        return
    k = rng.randrange(5)
    if k == 0 and len(t.dims):
        t.dims[rng.randrange(len(t.dims))] = _pick(rng, HUGE + [0, -1, -3])
    elif k == 1:
        t.dims.append(_pick(rng, [1, 2, 0, 2 ** 40]))
    elif k == 2:
        del t.dims[:]
    else:
        try:
            arr = nh.to_array(t).reshape(-1)
        except Exception:  # noqa: BLE001 - damaged by an earlier mutation
            return
        # consistent sizes but the wrong shape (k == 3), or one value more
        arr = (arr.reshape((1, -1)) if k == 3 else np.concatenate([arr, arr[:1]])) if arr.size else arr
        t.CopyFrom(nh.from_array(arr, t.name))


def m_init_dtype(m, rng):
    t = _init(m, rng)
    if t is not None:
        t.data_type = _pick(rng, [TP.FLOAT, TP.INT64, TP.INT32, TP.FLOAT16, TP.DOUBLE, TP.BOOL, TP.STRING,
                                  TP.UINT8, TP.COMPLEX64, TP.UNDEFINED, 999, TP.FLOAT8E4M3FN, TP.INT4])


def m_init_values(m, rng):
    """Same size and type, damaged values: absurd shape / index / pad / count integers, NaN and inf floats."""
    t = _init(m, rng)
    if t is None:
        return
    try:
        arr = nh.to_array(t).copy()
    except Exception:  # noqa: BLE001 - damaged by an earlier mutation
        return
    if not arr.size:
        return
    flat = arr.reshape(-1)
    for _ in range(rng.randrange(1, 3)):
        i = rng.randrange(flat.size)
        if arr.dtype.kind in "iu":
            # 10**5, not 10**6: a Loop trip count of 10**6 is a valid model that runs for a minute or two
            flat[i] = _pick(rng, [v for v in VALUE_INTS if np.iinfo(arr.dtype).min <= v <= np.iinfo(arr.dtype).max])
        elif arr.dtype.kind == "f":
            flat[i] = _pick(rng, [np.nan, np.inf, -np.inf, 0.0, -1.0, 1e30, 1e-30])
        else:
            flat[i] = not flat[i]
    t.CopyFrom(nh.from_array(arr, t.name))


def m_init_name(m, rng):
    t = _init(m, rng)
    if t is None:
        return
    if rng.random() < 0.5:
        t.name = _pick(rng, _names(m.graph) + ["", "unused"])
    else:
        c = m.graph.initializer.add()
        c.CopyFrom(t)


def m_init_location(m, rng):
    t = _init(m, rng)
    if t is not None:
        t.data_location = TP.EXTERNAL
        del t.external_data[:]
        for k, v in [("location", _pick(rng, ["../../etc/passwd", "/etc/passwd", "w.bin", ""])),
                     ("offset", "0"), ("length", _pick(rng, ["16", "-1", "99999999999"]))]:
            e = t.external_data.add()
            e.key, e.value = k, v


def m_input_dims(m, rng):
    vi = _pick(rng, m.graph.input)
    if vi is None:
        return
    shape = vi.type.tensor_type.shape
    k = rng.randrange(5)
    if k == 0 and len(shape.dim):
        d = shape.dim[rng.randrange(len(shape.dim))]
        d.dim_value = _pick(rng, HUGE + [0, -1, -5, 1, 7])
    elif k == 1:
        shape.dim.add().dim_value = _pick(rng, [1, 2, 0])
    elif k == 2 and len(shape.dim):
        del shape.dim[-1]
    elif k == 3:
        vi.type.tensor_type.ClearField("shape")
    else:
        for d in shape.dim:
            d.dim_param = "D"


def m_input_type(m, rng):
    vi = _pick(rng, m.graph.input)
    if vi is None:
        return
    if rng.random() < 0.8:
        vi.type.tensor_type.elem_type = _pick(rng, [TP.INT64, TP.INT32, TP.FLOAT16, TP.DOUBLE, TP.BOOL, TP.STRING,
                                                    TP.UINT8, TP.UNDEFINED, 999, TP.COMPLEX64, TP.BFLOAT16])
    else:
        vi.type.Clear()
        vi.type.sequence_type.elem_type.tensor_type.elem_type = TP.FLOAT


def m_graph_io(m, rng):
    g = m.graph
    k = rng.randrange(5)
    if k == 0 and len(g.output):
        del g.output[rng.randrange(len(g.output))]
    elif k == 1 and len(g.output):
        _pick(rng, g.output).name = _pick(rng, _names(g) + ["nowhere"])
    elif k == 2 and len(g.output):
        c = g.output.add()
        c.CopyFrom(g.output[0])
    elif k == 3 and len(g.input):
        del g.input[rng.randrange(len(g.input))]
    elif len(g.output):
        _pick(rng, g.output).type.tensor_type.elem_type = _pick(rng, [TP.INT64, TP.STRING, TP.UNDEFINED, 77])


def m_function(m, rng):
    if not len(m.functions):
        return m_op_type(m, rng)
    f = m.functions[0]
    k = rng.randrange(5)
    if k == 0 and len(f.node):
        del f.node[rng.randrange(len(f.node))]
    elif k == 1 and len(f.node):
        f.node[rng.randrange(len(f.node))].op_type = _pick(rng, ["ScaledTanh", "NoSuchOp", "Relu", "Loop"])
    elif k == 2:
        del f.input[:]
    elif k == 3:
        f.name = _pick(rng, ["Other", "", "Relu"])
    else:
        f.node.append(oh.make_node("ScaledTanh", ["b"], ["b2"], domain="local"))  # recursion


#: weighted: value damage that keeps the model well-formed reaches the builder and runtime more often
MUTATIONS = [m_remove_node, m_duplicate_node, m_shuffle_nodes, m_dangling_input, m_rewire_input, m_cycle,
             m_extra_io, m_drop_io, m_rename_output, m_op_type, m_domain, m_opset, m_ir_version, m_attr_type,
             m_attr_value, m_attr_value, m_attr_remove_or_add, m_init_size, m_init_dims, m_init_values,
             m_init_values, m_init_values, m_init_dtype, m_init_name, m_init_location, m_input_dims, m_input_dims,
             m_input_type, m_graph_io, m_function]


def mutate(model, rng: random.Random):
    """(mutant bytes, [mutation names]); one or two protobuf mutations, sometimes followed by byte damage."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    names = []
    for _ in range(1 if rng.random() < 0.7 else 2):
        fn = _pick(rng, MUTATIONS)
        fn(_Scoped(m, rng), rng)
        names.append(fn.__name__[2:])
    data = m.SerializeToString()
    k = rng.random()
    if k < 0.04 and data:
        data = data[:rng.randrange(len(data))]
        names.append("truncate")
    elif k < 0.08 and data:
        b = bytearray(data)
        for _ in range(rng.randrange(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        data = bytes(b)
        names.append("flip_bytes")
    return data, names


def case(i: int, seed: int = 0, seeds: dict | None = None):
    """The ``i``-th deterministic case of run ``seed``: (seed name, mutation names, bytes). ``seeds``: the seed
    models, when the caller already has them."""
    seeds = seed_models() if seeds is None else seeds
    names = sorted(seeds)
    rng = random.Random(seed * 1_000_003 + i)
    name = names[i % len(names)]
    data, muts = mutate(seeds[name], rng)
    return name, muts, data


def cases(n: int, seed: int = 0):
    """``n`` deterministic (index, seed name, mutation names, bytes) cases over the seed models."""
    seeds = seed_models()
    for i in range(n):
        yield (i, *case(i, seed, seeds))
