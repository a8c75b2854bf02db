"""OnnxParser and ParserError: TensorRT's ONNX parser API on top of the importer registry.

Parsing is all-or-nothing: the model is validated (protobuf, checker, strict shape inference, opsets; onnx's C++
steps run in a helper process, ``native_worker``, so that an abort in them fails the parse, not the process),
model-local functions and ops without an importer that ONNX defines as functions are expanded, every unsupported
node is reported at once, nodes are sorted topologically (dangling references and cycles are reported by node), and then
imported through ``registry.lookup``. On any error the network is restored to what it was before ``parse``.
"""
from __future__ import annotations

import os

import numpy as np

from ..enums import OnnxParserFlag, ParserErrorCode
from ..interface import ContextManaged
from ..logger import Severity
from ..plugin import onnx_fallback as plugin_fallback
from . import registry
from .context import ImportContext, NodeView, onnx_dtype
from .expand_functions import free_names as _free_names, infer_types as _infer_types, instantiate as _instantiate
from .expand_functions import schema_function as _schema_function
from .model_tools import max_opset as _max_opset, opset_map as _opset_map
from .native_worker import NativeFailure, prestart as _native_prestart
from .model_tools import restore as _restore, snapshot as _snapshot, value_types as _value_types
from .load_model import MIN_OPSET, ModelLoader  # noqa: F401 - MIN_OPSET re-exported
from .parser_error import ParseAbort as _Abort, ParserError  # noqa: F401 - ParserError is trt.ParserError
from .registry import ImportFailure


class OnnxParser(ModelLoader, ContextManaged):
    """TensorRT's ``OnnxParser(network, logger)``."""

    def __init__(self, network, logger=None):
        self.network = network
        self.logger = logger
        self._errors: list[ParserError] = []
        self._flags = 1 << int(OnnxParserFlag.NATIVE_INSTANCENORM)
        self._node_outputs: dict[str, list] = {}
        self._subgraphs: list[tuple[list[int], bool]] = []
        self.model = None           # the validated, shape-inferred ModelProto of the last parse
        self._model_dir = None
        _native_prestart()          # onnx's C++ checks run in a helper process; start it while the model is read

    # ------------------------------------------------------------------ flags and errors
    @property
    def flags(self) -> int:
        return self._flags

    @flags.setter
    def flags(self, value):
        self._flags = int(value)

    def set_flag(self, flag):
        self._flags |= 1 << int(OnnxParserFlag.parse(flag))

    def clear_flag(self, flag):
        self._flags &= ~(1 << int(OnnxParserFlag.parse(flag)))

    def get_flag(self, flag) -> bool:
        return bool(self._flags >> int(OnnxParserFlag.parse(flag)) & 1)

    @property
    def num_errors(self) -> int:
        return len(self._errors)

    def get_error(self, index: int):
        return self._errors[index] if 0 <= index < len(self._errors) else None

    def clear_errors(self):
        self._errors.clear()

    def _error(self, code, desc, node: NodeView | None = None, func="parse", index=None, top=None):
        """``top``: the top-level NodeProto the error is about, where there is no NodeView yet."""
        name, op = (node.name, node.op_type) if node else (top.name, top.op_type) if top is not None else ("", "")
        err = ParserError(code, desc, node=(index if index is not None else (node.index if node else -1)),
                          node_name=name, node_operator=op,
                          func=func, stack=node.function_stack if node else (), file=__file__)
        self._errors.append(err)
        if self.logger is not None:
            self.logger.log(Severity.ERROR, str(err))
        return err

    def set_builder_config(self, config) -> bool:
        """TensorRT 10.x: the config the network will be built with (kept for API parity)."""
        self.builder_config = config
        return True

    def get_used_vc_plugin_libraries(self):
        return []

    def get_layer_output_tensor(self, name: str, i: int):
        outs = self._node_outputs.get(name) or []
        return outs[i] if 0 <= i < len(outs) else None

    @staticmethod
    def supports_operator(op_type: str) -> bool:
        """Whether ``op_type`` (ai.onnx) has an importer, or ONNX defines it as a function of supported ops."""
        if op_type == "Constant" or op_type in registry.supported_ops(""):
            return True
        return _schema_function(op_type, None, _max_opset(), {}) is not None

    # ------------------------------------------------------------------ parse entry points
    def parse_from_file(self, path: str) -> bool:
        path = os.fspath(path)
        if not os.path.isfile(path):
            self._error(ParserErrorCode.MODEL_DESERIALIZE_FAILED, f"cannot read {path!r}: no such file",
                        func="parse_from_file")
            return False
        with open(path, "rb") as f:
            data = f.read()
        return self.parse(data, path)

    def parse(self, model_bytes, path=None) -> bool:
        try:
            model, base_dir = self._load(model_bytes, path)
            return self._import_model(model, base_dir, self.network)
        except _Abort:
            return False

    def parse_with_weight_descriptors(self, model_bytes) -> bool:
        return self.parse(model_bytes)

    def supports_model_v2(self, model_bytes, path=None) -> bool:
        from ..ir.network import INetworkDefinition

        self._subgraphs = []
        try:
            model, base_dir = self._load(model_bytes, path)
        except _Abort:
            return False
        self._types = _value_types(model.graph)
        model_opsets = _opset_map(model)
        try:
            nodes = self._expanded(model.graph, model_opsets, top=True)
        except _Abort:
            return False
        status = [self._supported(n, {**model_opsets, **opsets}) for n, opsets, _, _ in nodes]
        n_err = len(self._errors)
        scratch = INetworkDefinition(getattr(self.network, "builder", None), getattr(self.network, "flags", 0))
        ok = all(status)
        if ok:
            try:
                ok = self._import_model(model, base_dir, scratch)
            except _Abort:
                ok = False
            for e in self._errors[n_err:]:
                for k, (n, _, origin, _) in enumerate(nodes):
                    if origin == e.node():
                        status[k] = False
        runs: list[tuple[list[int], bool]] = []
        for (_, _, origin, _), s in zip(nodes, status):
            if runs and runs[-1][1] == s:
                if origin not in runs[-1][0]:
                    runs[-1][0].append(origin)
            else:
                runs.append(([origin], s))
        self._subgraphs = runs
        return ok and all(status)

    def supports_model(self, model_bytes, path=None):
        ok = self.supports_model_v2(model_bytes, path)
        return ok, [(nodes, s) for nodes, s in self._subgraphs]

    @property
    def num_subgraphs(self) -> int:
        return len(self._subgraphs)

    def is_subgraph_supported(self, index: int) -> bool:
        return 0 <= index < len(self._subgraphs) and self._subgraphs[index][1]

    def get_subgraph_nodes(self, index: int) -> list[int]:
        return list(self._subgraphs[index][0]) if 0 <= index < len(self._subgraphs) else []

    # ------------------------------------------------------------------ loading and validation
    # ------------------------------------------------------------------ import
    def _import_model(self, model, base_dir, network) -> bool:
        snapshot = _snapshot(network)
        n_err = len(self._errors)
        self.model, self._model_dir = model, base_dir
        self._types = _value_types(model.graph)
        ctx = ImportContext(network, _opset_map(model), base_dir=base_dir, import_graph=self._import_graph)
        self._node_outputs = {}
        try:
            unsupported = self._collect_unsupported(model.graph, ctx.opsets, top=True)
            if unsupported:
                for node in unsupported:
                    doms = node.domain or "ai.onnx"
                    self._error(ParserErrorCode.UNSUPPORTED_NODE,
                                f"no importer for operator {doms}::{node.op_type} at opset "
                                f"{node.opsets.get(node.domain, ctx.opsets.get(node.domain, 1))}, and ONNX defines "
                                f"no function to expand it into supported ops; a plugin creator registered under "
                                f"{node.op_type!r} (and the node's plugin_namespace) would import it", node)
                raise _Abort
            for msg in getattr(self, "_deferred", []):
                self._error(ParserErrorCode.INVALID_GRAPH, msg, self._node_named_in(msg, model.graph))
            if getattr(self, "_deferred", []):
                raise _Abort
            self._import_graph(ctx, model.graph, top=True)
            errs = network.internal.layer_errors()
            if errs:
                for e in errs:
                    self._error(ParserErrorCode.INVALID_NODE, e)
                raise _Abort
        except _Abort:
            _restore(network, snapshot)
            return False
        except Exception as e:  # noqa: BLE001 - any other failure is reported, and the network restored
            self._error(ParserErrorCode.INTERNAL_ERROR, f"the parser failed with {type(e).__name__}: {e}; please "
                        f"report this")
            _restore(network, snapshot)
            return False
        return len(self._errors) == n_err

    def _node_named_in(self, msg, graph):
        """The top-level node an onnx checker / shape inference message names ("node name: X"), or None."""
        import re

        m = re.search(r"node name: ([^)]*)\)", msg) or re.search(r"Node \(([^)]*)\)", msg)
        if m is None:
            return None
        index = getattr(self, "_orig_index", None)
        for i, p in enumerate(graph.node):
            if p.name and p.name == m.group(1):
                return NodeView(p, index[i] if index and len(index) == len(graph.node) else i)
        return None

    def _supported(self, proto, opsets) -> bool:
        dom = "" if proto.domain in ("", "ai.onnx") else proto.domain
        if dom == "" and proto.op_type == "Constant":
            return True
        return registry.lookup(dom, proto.op_type, opsets.get(dom, 1)) is not None or \
            plugin_fallback.creator_for_proto(proto) is not None  # a registered plugin of that op type

    def _collect_unsupported(self, graph, opsets, out=None, top=False):
        out = [] if out is None else out
        for proto, node_opsets, origin, stack in self._expanded(graph, opsets, top=top):
            eff = dict(opsets)
            eff.update(node_opsets)
            if not self._supported(proto, eff):
                out.append(NodeView(proto, origin, node_opsets, function_stack=stack))
            for a in proto.attribute:
                for g in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                    self._collect_unsupported(g, eff, out)
        return out

    def _expanded(self, graph, opsets, top=False):
        """(NodeProto, opset overrides, original node index, function stack) with function ops expanded."""
        out = []
        index = getattr(self, "_orig_index", None) if top else None
        for i, proto in enumerate(graph.node):
            origin = index[i] if index and len(index) == len(graph.node) else i
            out.extend(self._expand_node(proto, opsets, {}, origin, [], 0))
        return out

    def _expand_node(self, proto, opsets, node_opsets, origin, stack, depth):
        eff = dict(opsets)
        eff.update(node_opsets)
        if self._supported(proto, eff) or depth > 16:
            return [(proto, node_opsets, origin, stack)]
        dom = "" if proto.domain in ("", "ai.onnx") else proto.domain
        try:
            body = _schema_function(proto.op_type, proto, eff.get(dom, 1), self._types, dom)
        except NativeFailure as e:
            self._native_failed("building the ONNX function body", e, proto, origin, stack)
        if body is None:
            return [(proto, node_opsets, origin, stack)]
        sub_opsets = dict(node_opsets)
        sub_opsets.update({("" if o.domain in ("", "ai.onnx") else o.domain): o.version for o in body.opset_import})
        out = []
        eff_body = dict(eff)
        eff_body.update(sub_opsets)
        for p in _instantiate(proto, body, f"{proto.name or proto.op_type}_{origin}_{depth}/"):
            try:
                _infer_types(p, eff_body, self._types)
            except NativeFailure as e:
                self._native_failed("ONNX type inference of the function body", e, proto, origin, stack)
            out.extend(self._expand_node(p, opsets, sub_opsets, origin, stack + [proto.op_type], depth + 1))
        return out

    def _native_failed(self, what, e, proto, origin, stack):
        why = "allow this process to start subprocesses" if e.startup else "the node is malformed"
        self._error(ParserErrorCode.INTERNAL_ERROR if e.startup else ParserErrorCode.INVALID_NODE,
                    f"node {proto.name!r} ({proto.op_type}): {what} failed: its helper process {e}; {why}",
                    NodeView(proto, origin, function_stack=stack))
        raise _Abort from None

    def _import_graph(self, ctx, graph, top=False):
        """Import ``graph`` into ``ctx``; returns its output tensors."""
        from onnx import numpy_helper

        network = ctx.network
        for init in graph.initializer:
            try:
                ctx.add_constant_value(init.name, numpy_helper.to_array(init, ctx.base_dir or ""), init.data_type)
            except (ValueError, TypeError, OSError, KeyError, IndexError, MemoryError) as e:
                self._error(ParserErrorCode.INVALID_VALUE, f"initializer {init.name!r} (data_type {init.data_type}, "
                            f"dims {list(init.dims)}) cannot be read: {_why(e)}; check its type, dims and data")
                raise _Abort from None
        for sp in graph.sparse_initializer:
            from .context import _sparse_to_dense

            try:
                ctx.add_constant_value(sp.values.name, _sparse_to_dense(sp), sp.values.data_type)
            except (ValueError, TypeError, KeyError, IndexError, MemoryError) as e:
                self._error(ParserErrorCode.INVALID_VALUE, f"sparse initializer {sp.values.name!r} cannot be read: "
                            f"{_why(e)}; check its dims, indices and values")
                raise _Abort from None
        for vi in graph.input:
            if ctx.is_local(vi.name):
                continue
            if not top:
                self._error(ParserErrorCode.INVALID_GRAPH, f"subgraph input {vi.name!r} was not bound by the "
                            f"importer of the node that owns the subgraph")
                raise _Abort
            ctx.bind(vi.name, self._add_input(network, vi))
            ctx.record_onnx_type(vi.name, vi.type.tensor_type.elem_type)
        nodes = self._expanded(graph, ctx.opsets, top=top)
        for proto, node_opsets, origin, stack in self._toposort(nodes, ctx.has):
            view = NodeView(proto, origin, node_opsets, ctx.base_dir, stack)
            self._import_node(ctx, view)
        outs = []
        for vi in graph.output:
            try:
                t = ctx.tensor(vi.name)
            except ImportFailure as e:
                self._error(e.code, f"graph output {vi.name!r}: {e.message}")
                raise _Abort from None
            if top:
                if t.is_network_input or t.is_network_output or network.internal.producer(t) is None:
                    t = network.add_identity(t).get_output(0)
                if t.name != vi.name and not network.internal.has_tensor_name(vi.name):
                    t.name = vi.name
                network.mark_output(t)
            outs.append(t)
        return outs

    def _add_input(self, network, vi):
        tt = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
        if tt is None or not tt.HasField("shape"):
            self._error(ParserErrorCode.UNSUPPORTED_GRAPH, f"graph input {vi.name!r} has no tensor type with a "
                        f"shape; give it one (dims may be symbolic)")
            raise _Abort
        try:
            dt = onnx_dtype(tt.elem_type, f"graph input {vi.name!r}: ")
        except ImportFailure as e:
            self._error(e.code, e.message)
            raise _Abort from None
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tt.shape.dim]
        t = network.add_input(vi.name, dt, dims)
        if t is None:
            self._error(ParserErrorCode.INVALID_GRAPH, f"cannot add graph input {vi.name!r} with shape {dims}")
            raise _Abort
        for i, d in enumerate(tt.shape.dim):
            if d.HasField("dim_param") and d.dim_param:
                t.set_dimension_name(i, d.dim_param)
        return t

    def _toposort(self, nodes, known):
        """``nodes`` in dependency order; ParserErrors for dangling references and cycles (iterative DFS)."""
        produced = {}
        for k, (p, _, _, _) in enumerate(nodes):
            for o in p.output:
                if o:
                    produced[o] = k
        deps = []
        for k, (p, ops, origin, stack) in enumerate(nodes):
            need = set(i for i in p.input if i)
            for a in p.attribute:
                for g in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                    need |= _free_names(g)
            d = set()
            for name in need:
                if name in produced:
                    d.add(produced[name])
                elif not known(name):
                    self._error(ParserErrorCode.INVALID_GRAPH,
                                f"input {name!r} is not produced by any node and is not a graph input or "
                                f"initializer (dangling reference)", NodeView(p, origin, function_stack=stack))
                    raise _Abort
            deps.append(d)
        order, state = [], [0] * len(nodes)
        for root in range(len(nodes)):
            stack = [(root, False)]
            while stack:
                k, done = stack.pop()
                if done:
                    state[k] = 2
                    order.append(nodes[k])
                    continue
                if state[k]:
                    continue
                state[k] = 1
                stack.append((k, True))
                for j in sorted(deps[k], reverse=True):
                    if state[j] == 1:
                        p = nodes[j][0]
                        self._error(ParserErrorCode.INVALID_GRAPH, "the graph has a cycle through this node; ONNX "
                                    "graphs must be acyclic", NodeView(p, nodes[j][2]))
                        raise _Abort
                    if state[j] == 0:
                        stack.append((j, False))
        return order

    def _layer_names(self, network, n_layers):
        """Names of the network's first ``n_layers`` layers, kept incrementally across nodes (a full scan per node
        made parsing quadratic)."""
        names = getattr(self, "_names", None)
        upto = getattr(self, "_names_upto", None)
        if names is None or upto is None or upto[0] is not network or upto[1] > n_layers:
            names = self._names = set()
            upto = (network, 0)
        names.update(l.name for l in network.internal.layers[upto[1]:n_layers])
        return names

    def _import_node(self, ctx, view):
        network = ctx.network
        ctx.node = view
        if view.op_type == "Constant" and view.domain == "":
            try:
                value, etype = _constant_value(view)
            except ImportFailure as e:
                self._error(e.code, e.message, view)
                raise _Abort from None
            ctx.add_constant_value(view.outputs[0], value, etype)
            self._node_outputs[view.name] = []
            return
        fn = registry.lookup(view.domain, view.op_type, ctx.opset(view.domain)) or plugin_fallback.plugin_importer(view)
        n_layers = network.num_layers
        try:
            outs = fn(ctx, view)
            if outs is not None and len(outs) > len(view.outputs):
                outs = list(outs)[:len(view.outputs)]  # optional trailing outputs the node does not ask for
            if outs is None:
                raise ImportFailure(ParserErrorCode.INTERNAL_ERROR, f"the importer returned {outs!r} for "
                                    f"{len(view.outputs)} output(s)")
        except ImportFailure as e:
            msg = e.message if view.name in e.message else f"node {view.name!r} ({view.op_type}): {e.message}"
            self._error(e.code, msg, view)
            raise _Abort from None
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, ArithmeticError, MemoryError) as e:
            # absurd attribute or constant values (inf scales, zero divisors, huge sizes) end here
            self._error(ParserErrorCode.INVALID_NODE, f"node {view.name!r} ({view.op_type}) cannot be imported: "
                        f"{type(e).__name__}: {e}", view)
            raise _Abort from None
        except (_Abort, KeyboardInterrupt):
            raise
        except Exception as e:  # noqa: BLE001 - an importer bug must become a ParserError, never a crash
            self._error(ParserErrorCode.INTERNAL_ERROR, f"node {view.name!r} ({view.op_type}): the importer "
                        f"failed with {type(e).__name__}: {e}; please report this", view)
            raise _Abort from None
        new_layers = network.internal.layers[n_layers:]
        taken = self._layer_names(network, n_layers)
        for j, layer in enumerate(new_layers):
            if layer.name.startswith("(Unnamed Layer"):
                name = view.name if len(new_layers) == 1 else f"{view.name}_{j}"
                while name in taken:  # "X_1" of a multi-layer node X must not collide with a node named X_1
                    name += "'"
                layer.name = name
            taken.add(layer.name)
            layer.metadata = f"onnx:{view.op_type}:{view.name}"
        self._names_upto = (network, network.num_layers)
        for name, t in zip(view.outputs, outs):
            if not name or t is None:
                continue
            if ctx.is_bound(t) or network.internal.producer(t) is None or t.is_network_output:
                t = network.add_identity(t).get_output(0)
            if t.name != name and not network.internal.has_tensor_name(name):
                t.name = name
            ctx.bind(name, t)
        self._node_outputs[view.name] = [t for t in outs]
        network.internal.refresh()  # re-infer layers whose attributes the importer set after creating them
        errs = [e for e in map(network.internal.layer_error, new_layers) if e]
        if errs:
            self._error(ParserErrorCode.INVALID_NODE, f"node {view.name!r} ({view.op_type}): {errs[0]}", view)
            raise _Abort
        ctx.node = None


# ---------------------------------------------------------------------------------------------------- helpers
def _why(e: Exception) -> str:
    if isinstance(e, KeyError):
        return f"unknown key {e.args[0]!r} (an unknown data type?)" if e.args else "KeyError"
    return f"{type(e).__name__}: {e}"


def _constant_value(view):
    from onnx import TensorProto, numpy_helper

    p = view.proto
    if not p.attribute:
        raise ImportFailure(ParserErrorCode.INVALID_NODE, f"Constant node {view.name!r} has no value attribute")
    a = p.attribute[0]
    v = view.attr(a.name)
    if a.name == "value":
        return v, a.t.data_type
    if a.name == "sparse_value":
        return v, a.sparse_tensor.values.data_type
    table = {"value_float": (np.float32, TensorProto.FLOAT), "value_floats": (np.float32, TensorProto.FLOAT),
             "value_int": (np.int64, TensorProto.INT64), "value_ints": (np.int64, TensorProto.INT64)}
    if a.name in table:
        dt, et = table[a.name]
        return np.array(v, dtype=dt), et
    raise ImportFailure(ParserErrorCode.UNSUPPORTED_NODE_ATTR,
                        f"Constant node {view.name!r}: attribute {a.name!r} (string constants) is not supported")


