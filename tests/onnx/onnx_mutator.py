"""Protobuf-level mutations of small ONNX models, and the oracle the fuzz test applies to each mutant.

``seed_models()`` builds the models (a CNN, a dynamic-batch MLP block, shape arithmetic, resize + batch norm, a model
with local functions, an opset-6 model). ``mutate(model, rng)`` applies one or two random mutations: removed,
duplicated or reordered nodes, dangling names, cycles, wrong attribute types and absurd values, wrong initializer
sizes and types, huge/zero/negative dims, unknown ops, domains and opsets, broken I/O, truncated or flipped bytes. It
returns the mutant's bytes and the names of the mutations. ``run_case(data)`` parses, builds on the CPU, reloads the
plan, runs it, and classifies the outcome (see ``Outcome``)."""
from __future__ import annotations

import random
import re
import signal

import numpy as np
import onnx
from onnx import TensorProto as TP, helper as oh, numpy_helper as nh

HUGE = [2 ** 31, 2 ** 40, 2 ** 62, 10 ** 6]
ABSURD_INTS = [0, -1, -7, 1, 3, 2 ** 31 - 1, 2 ** 63 - 1, -2 ** 63, 10 ** 6]
VALUE_INTS = [0, -1, -7, 1, 3, 2 ** 31 - 1, 2 ** 63 - 1, -2 ** 63, 10 ** 5, -2, 2, 5, 100, -100]
OPS = ["Relu", "Add", "Conv", "MatMul", "Reshape", "Concat", "Softmax", "Gather", "Transpose", "PRelu", "Pad",
       "Slice", "Resize", "Loop", "If", "TopK", "NonZero", "Shape", "Cast", "Expand", "Split", "Einsum", "Gemm",
       "BatchNormalization", "LayerNormalization", "MaxPool", "ConvTranspose", "Where", "Tile", "ScatterND"]


# ---------------------------------------------------------------------------------------------------- seeds
def _model(nodes, inputs, outputs, inits=(), opset=17, functions=(), extra_opsets=()):
    g = oh.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", opset)] + list(extra_opsets), functions=list(functions))
    m.ir_version = 8 if opset >= 7 else 3
    return m


def _f(shape, rng, scale=0.5):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def seed_models() -> dict:
    """name -> ModelProto; every seed parses, builds and runs on the CPU."""
    r = np.random.default_rng(0)
    vi = oh.make_tensor_value_info
    init = nh.from_array
    seeds = {}
    seeds["cnn"] = _model(
        [oh.make_node("Conv", ["x", "W", "B"], ["c"], name="conv", pads=[1, 1, 1, 1], strides=[1, 1]),
         oh.make_node("PRelu", ["c", "slope"], ["p"], name="prelu"),
         oh.make_node("MaxPool", ["p"], ["m"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
         oh.make_node("Pad", ["m", "pads"], ["pd"], name="pad", mode="constant"),
         oh.make_node("Relu", ["pd"], ["r"], name="relu"),
         oh.make_node("GlobalAveragePool", ["r"], ["gp"], name="gap"),
         oh.make_node("Flatten", ["gp"], ["fl"], name="flatten", axis=1),
         oh.make_node("Gemm", ["fl", "G", "GB"], ["gm"], name="fc", transB=1),
         oh.make_node("Softmax", ["gm"], ["y"], name="softmax", axis=-1)],
        [vi("x", TP.FLOAT, [1, 3, 8, 8])], [vi("y", TP.FLOAT, [1, 5])],
        [init(_f((4, 3, 3, 3), r), "W"), init(_f((4,), r), "B"), init(_f((4, 1, 1), r), "slope"),
         init(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads"), init(_f((5, 4), r), "G"),
         init(_f((5,), r), "GB")])
    seeds["mlp"] = _model(
        [oh.make_node("MatMul", ["x", "M"], ["mm"], name="matmul"),
         oh.make_node("Add", ["mm", "MB"], ["a"], name="bias"),
         oh.make_node("LayerNormalization", ["a", "LS", "LB"], ["ln"], name="norm", axis=-1, epsilon=1e-5),
         oh.make_node("Div", ["ln", "sqrt2"], ["d"], name="div"),
         oh.make_node("Erf", ["d"], ["e"], name="erf"),
         oh.make_node("Add", ["e", "one"], ["e1"], name="erf_plus_1"),
         oh.make_node("Mul", ["ln", "e1"], ["g"], name="gelu"),
         oh.make_node("Transpose", ["g"], ["t"], name="transpose", perm=[0, 2, 1]),
         oh.make_node("Reshape", ["t", "shape"], ["y"], name="reshape")],
        [vi("x", TP.FLOAT, ["N", 4, 8])], [vi("y", TP.FLOAT, ["N", 24])],
        [init(_f((8, 6), r), "M"), init(_f((6,), r), "MB"), init(_f((6,), r) + 1, "LS"), init(_f((6,), r), "LB"),
         init(np.array(1.4142135, np.float32), "sqrt2"), init(np.array(1.0, np.float32), "one"),
         init(np.array([-1, 24], np.int64), "shape")])
    seeds["shapes"] = _model(
        [oh.make_node("Shape", ["x"], ["s"], name="shape"),
         oh.make_node("Gather", ["s", "zero"], ["b"], name="batch", axis=0),
         oh.make_node("Unsqueeze", ["b", "axes0"], ["b1"], name="unsq"),
         oh.make_node("Concat", ["b1", "m1"], ["ns"], name="concat_shape", axis=0),
         oh.make_node("Reshape", ["x", "ns"], ["flat"], name="flatten"),
         oh.make_node("Slice", ["flat", "st", "en", "ax"], ["sl"], name="slice"),
         oh.make_node("ReduceMean", ["sl"], ["rm"], name="mean", axes=[1], keepdims=1),
         oh.make_node("Greater", ["sl", "rm"], ["gt"], name="greater"),
         oh.make_node("Where", ["gt", "sl", "rm"], ["w"], name="where"),
         oh.make_node("ArgMax", ["w"], ["am"], name="argmax", axis=1, keepdims=0),
         oh.make_node("Cast", ["am"], ["y"], name="cast", to=TP.INT32),
         oh.make_node("TopK", ["w", "k"], ["tv", "ti"], name="topk", axis=1),
         oh.make_node("Expand", ["tv", "ex"], ["z"], name="expand")],
        [vi("x", TP.FLOAT, ["N", 2, 6])], [vi("y", TP.INT32, ["N"]), vi("z", TP.FLOAT, [3, "N", 2])],
        [init(np.array(0, np.int64), "zero"), init(np.array([0], np.int64), "axes0"),
         init(np.array([-1], np.int64), "m1"), init(np.array([1], np.int64), "st"),
         init(np.array([11], np.int64), "en"), init(np.array([1], np.int64), "ax"),
         init(np.array([2], np.int64), "k"), init(np.array([3, 1, 1], np.int64), "ex")])
    seeds["resize"] = _model(
        [oh.make_node("BatchNormalization", ["x", "bs", "bb", "bm", "bv"], ["bn"], name="bn", epsilon=1e-5),
         oh.make_node("Resize", ["bn", "", "scales"], ["rs"], name="resize", mode="nearest"),
         oh.make_node("Sigmoid", ["rs"], ["sg"], name="sigmoid"),
         oh.make_node("Mul", ["rs", "sg"], ["sw"], name="swish"),
         oh.make_node("AveragePool", ["sw"], ["ap"], name="avgpool", kernel_shape=[2, 2], strides=[2, 2]),
         oh.make_node("Concat", ["ap", "x"], ["cc"], name="concat", axis=1),
         oh.make_node("ConvTranspose", ["cc", "CT"], ["y"], name="deconv", strides=[2, 2])],
        [vi("x", TP.FLOAT, [1, 2, 4, 4])], [vi("y", TP.FLOAT, [1, 3, 8, 8])],
        [init(_f((2,), r) + 1, "bs"), init(_f((2,), r), "bb"), init(_f((2,), r), "bm"),
         init(np.abs(_f((2,), r)) + 0.5, "bv"), init(np.array([1, 1, 2, 2], np.float32), "scales"),
         init(_f((4, 3, 2, 2), r), "CT")])
    fn = oh.make_function("local", "ScaledTanh", ["a"], ["b"],
                          [oh.make_node("Constant", [], ["c"], value=nh.from_array(np.array(0.5, np.float32))),
                           oh.make_node("Mul", ["a", "c"], ["ac"]), oh.make_node("Tanh", ["ac"], ["b"])],
                          [oh.make_opsetid("", 17)])
    seeds["function"] = _model(
        [oh.make_node("ScaledTanh", ["x"], ["h"], name="f1", domain="local"),
         oh.make_node("Constant", [], ["k"], name="const", value=nh.from_array(_f((3,), r))),
         oh.make_node("Add", ["h", "k"], ["hk"], name="add"),
         oh.make_node("ScaledTanh", ["hk"], ["h2"], name="f2", domain="local"),
         oh.make_node("Split", ["h2", "sp"], ["s0", "s1"], name="split", axis=0),
         oh.make_node("Sub", ["s0", "s1"], ["y"], name="sub")],
        [vi("x", TP.FLOAT, [2, 3])], [vi("y", TP.FLOAT, [1, 3])],
        [init(np.array([1, 1], np.int64), "sp")], functions=[fn], extra_opsets=[oh.make_opsetid("local", 1)])
    then = oh.make_graph([oh.make_node("Mul", ["x", "two"], ["t_out"], name="then_mul")], "then", [],
                         [vi("t_out", TP.FLOAT, [2, 3])])
    other = oh.make_graph([oh.make_node("Sub", ["x", "two"], ["e_out"], name="else_sub")], "else", [],
                          [vi("e_out", TP.FLOAT, [2, 3])])
    body = oh.make_graph([oh.make_node("Identity", ["cond_in"], ["cond_out"], name="body_cond"),
                          oh.make_node("Add", ["acc_in", "x"], ["acc_out"], name="body_add"),
                          oh.make_node("Relu", ["acc_out"], ["scan_out"], name="body_relu")], "body",
                         [vi("i", TP.INT64, []), vi("cond_in", TP.BOOL, []), vi("acc_in", TP.FLOAT, [2, 3])],
                         [vi("cond_out", TP.BOOL, []), vi("acc_out", TP.FLOAT, [2, 3]),
                          vi("scan_out", TP.FLOAT, [2, 3])])
    seeds["control"] = _model(
        [oh.make_node("ReduceSum", ["x"], ["s"], name="sum", keepdims=0),
         oh.make_node("Greater", ["s", "zero"], ["c"], name="positive"),
         oh.make_node("If", ["c"], ["branch"], name="if", then_branch=then, else_branch=other),
         oh.make_node("Loop", ["trips", "", "branch"], ["acc", "scan"], name="loop", body=body),
         oh.make_node("ReduceMean", ["scan"], ["y"], name="mean", axes=[0], keepdims=0)],
        [vi("x", TP.FLOAT, [2, 3])], [vi("acc", TP.FLOAT, [2, 3]), vi("y", TP.FLOAT, [2, 3])],
        [init(np.array(2.0, np.float32), "two"), init(np.array(0.0, np.float32), "zero"),
         init(np.array(3, np.int64), "trips")])
    seeds["opset6"] = _model(
        [oh.make_node("Relu", ["x"], ["r"], name="relu"),
         oh.make_node("Add", ["r", "b"], ["a"], name="add"),
         oh.make_node("Mul", ["a", "b"], ["y"], name="mul")],
        [vi("x", TP.FLOAT, [2, 3]), vi("b", TP.FLOAT, [2, 3])], [vi("y", TP.FLOAT, [2, 3])], opset=6)
    return seeds


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


# ---------------------------------------------------------------------------------------------------- oracle
INTERNAL = re.compile(r"please report|INTERNAL_ERROR|Traceback", re.I)
NAMES_LAYER = re.compile(r"\b(layer|node)\b '|\b(layer|node) \"", re.I)
RUN_LIMIT = 1 << 26  # bytes of inputs + activations a fuzz case may run with


class Outcome:
    """Kinds: refused_parse, refused_build, ran, run_error (an inferrt error naming the layer), too_big (built,
    more memory than the test runs with); bad kinds fail the test: internal (an internal-error message), raw (an
    exception that is not an inferrt error), plan_rejected (the loader refused a plan the builder wrote),
    unnamed_run_error (an inferrt run-time error naming no layer), hang."""

    GOOD = ("refused_parse", "refused_build", "ran", "run_error", "too_big")

    def __init__(self, kind, detail=""):
        self.kind = kind
        self.detail = detail

    def __repr__(self):
        return f"{self.kind}: {self.detail[:500]}"


class _Hang(BaseException):  # not an Exception: code under test must not catch it
    pass


def _alarm(signum, frame):
    raise _Hang


def _input_shapes(engine) -> dict:
    return {name: tuple(engine.get_tensor_profile_shape(name, 0)[1]) if -1 in tuple(engine.get_tensor_shape(name))
            else tuple(engine.get_tensor_shape(name)) for name in engine.input_names}


def _feed(engine, shapes, rng_np):
    feeds = {}
    for name, shape in shapes.items():
        dt = engine.get_tensor_dtype(name).name
        if dt in ("FLOAT", "HALF", "BF16"):
            arr = rng_np.standard_normal(shape).astype(np.float16 if dt == "HALF" else np.float32)
            if dt == "BF16":
                import torch

                arr = torch.from_numpy(arr).to(torch.bfloat16)
        elif dt == "BOOL":
            arr = rng_np.random(shape) < 0.5
        else:
            np_dt = {"INT64": np.int64, "INT32": np.int32, "INT8": np.int8, "UINT8": np.uint8}.get(dt, np.int32)
            arr = rng_np.integers(0, 3, shape).astype(np_dt)
        feeds[name] = arr
    return feeds


def _profiles(builder, network, config):
    for i in range(network.num_inputs):
        t = network.get_input(i)
        shape = tuple(t.shape)
        if any(d < 0 for d in shape):
            fixed = tuple(2 if d < 0 else d for d in shape)
            p = builder.create_optimization_profile()
            p.set_shape(t.name, fixed, fixed, fixed)
            config.add_optimization_profile(p)
            # one profile with every dynamic input
            for j in range(network.num_inputs):
                u = network.get_input(j)
                if j != i and any(d < 0 for d in u.shape):
                    f2 = tuple(2 if d < 0 else d for d in u.shape)
                    p.set_shape(u.name, f2, f2, f2)
            return


def run_case(data: bytes, seed: int = 0, timeout_s: int = 120) -> Outcome:
    """Parse, build (CPU), reload the plan, run; the outcome kind and what it said. A case still running after
    ``timeout_s`` is a hang (the slowest legitimate mutants, Loops whose trip count became 10**6, take about a
    minute on one CPU core)."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout_s)
    try:
        return _run_case(data, seed)
    except _Hang:
        return Outcome("hang", f"no outcome within {timeout_s} s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _run_case(data, seed):
    import inferrt
    from inferrt.errors import BuildError, InferrtError, PlanError
    from inferrt.logger import Logger, Severity
    from inferrt.onnx.parser import OnnxParser

    logger = Logger(Severity.INTERNAL_ERROR)
    builder = inferrt.Builder(logger)
    if seed % 8 == 0:  # TensorRT's supports_model walks the same paths with its own bookkeeping
        try:
            OnnxParser(builder.create_network(), logger).supports_model(data)
        except _Hang:
            raise
        except Exception as e:  # noqa: BLE001
            return Outcome("raw", f"supports_model raised {type(e).__name__}: {e}")
    network = builder.create_network()
    parser = OnnxParser(network, logger)
    try:
        ok = parser.parse(data)
    except _Hang:
        raise
    except Exception as e:  # noqa: BLE001
        return Outcome("raw", f"parse raised {type(e).__name__}: {e}")
    if not ok:
        errs = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        if not errs:
            return Outcome("internal", "parse returned False without an error")
        bad = [e for e in errs if INTERNAL.search(e)]
        return Outcome("internal", bad[0]) if bad else Outcome("refused_parse", errs[0])
    config = builder.create_builder_config()
    config.device = "cpu"
    try:
        _profiles(builder, network, config)
        plan = builder.build(network, config)
    except _Hang:
        raise
    except BuildError as e:
        return Outcome("internal", str(e)) if INTERNAL.search(str(e)) else Outcome("refused_build", str(e))
    except Exception as e:  # noqa: BLE001
        return Outcome("raw", f"build raised {type(e).__name__}: {e}")
    try:
        engine = inferrt.load_engine(bytes(plan))
    except PlanError as e:
        return Outcome("plan_rejected", str(e))
    except Exception as e:  # noqa: BLE001
        return Outcome("raw", f"load raised {type(e).__name__}: {e}")
    try:
        shapes = _input_shapes(engine)
        need = engine.device_memory_size + sum(8 * int(np.prod(s, dtype=object)) for s in shapes.values())
        if need > RUN_LIMIT:
            return Outcome("too_big", f"{need} bytes")
        feeds = _feed(engine, shapes, np.random.default_rng(seed))
        ctx = engine.create_execution_context()
        if ctx is None:
            return Outcome("raw", "create_execution_context returned None")
        ctx.infer(feeds)
    except _Hang:
        raise
    except InferrtError as e:
        if INTERNAL.search(str(e)):
            return Outcome("internal", str(e))
        return Outcome("run_error", str(e)) if NAMES_LAYER.search(str(e)) else Outcome("unnamed_run_error", str(e))
    except Exception as e:  # noqa: BLE001
        return Outcome("raw", f"run raised {type(e).__name__}: {e}")
    return Outcome("ran")


def cases(n: int, seed: int = 0):
    """``n`` deterministic (index, seed name, mutation names, bytes) cases over the seed models."""
    seeds = seed_models()
    names = sorted(seeds)
    for i in range(n):
        rng = random.Random(seed * 1_000_003 + i)
        name = names[i % len(names)]
        data, muts = mutate(seeds[name], rng)
        yield i, name, muts, data
