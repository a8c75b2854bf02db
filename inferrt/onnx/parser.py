"""OnnxParser and ParserError: TensorRT's ONNX parser API on top of the importer registry.

Parsing is all-or-nothing: the model is validated (protobuf, checker, strict shape inference, opsets), model-local
functions and ops without an importer that ONNX defines as functions are expanded, every unsupported node is
reported at once, nodes are sorted topologically (dangling references and cycles are reported by node), and then
imported through ``registry.lookup``. On any error the network is restored to what it was before ``parse``.
"""
from __future__ import annotations

import os

import numpy as np

from ..enums import OnnxParserFlag, ParserErrorCode
from ..logger import Severity
from . import registry
from .context import ImportContext, NodeView, onnx_dtype
from .registry import ImportFailure

MIN_OPSET = 7


class ParserError:
    """One parser error, as TensorRT's ``IParserError``."""

    def __init__(self, code, desc, node=-1, node_name="", node_operator="", func="", stack=(), file="", line=0):
        self._code = ParserErrorCode.parse(code)
        self._desc = str(desc)
        self._node = int(node)
        self._node_name = node_name or ""
        self._node_operator = node_operator or ""
        self._func = func
        self._stack = list(stack)
        self._file = file or __file__
        self._line = int(line)

    def code(self):
        return self._code

    def desc(self) -> str:
        return self._desc

    def file(self) -> str:
        return self._file

    def line(self) -> int:
        return self._line

    def func(self) -> str:
        return self._func

    def node(self) -> int:
        return self._node

    def node_name(self) -> str:
        return self._node_name

    def node_operator(self) -> str:
        return self._node_operator

    def local_function_stack(self) -> list[str]:
        return list(self._stack)

    def local_function_stack_size(self) -> int:
        return len(self._stack)

    def __str__(self):
        where = (f"In node {self._node} with name: {self._node_name} and operator: {self._node_operator} "
                 if self._node >= 0 or self._node_name else "")
        if self._stack:
            where += f"(in local functions {' -> '.join(self._stack)}) "
        return f"{where}({self._func}): {self._code.name}: {self._desc}"

    __repr__ = __str__


class _Abort(Exception):
    """Stops a parse after errors were recorded."""


class OnnxParser:
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

    def _error(self, code, desc, node: NodeView | None = None, func="parse", index=None):
        err = ParserError(code, desc, node=(index if index is not None else (node.index if node else -1)),
                          node_name=node.name if node else "", node_operator=node.op_type if node else "",
                          func=func, stack=node.function_stack if node else ())
        self._errors.append(err)
        if self.logger is not None:
            self.logger.log(Severity.ERROR, str(err))
        return err

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
        nodes = self._expanded(model.graph, model_opsets, top=True)
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
    def _load(self, model_bytes, path):
        import onnx
        from google.protobuf.message import DecodeError

        if isinstance(model_bytes, onnx.ModelProto):
            model = onnx.ModelProto()
            model.CopyFrom(model_bytes)
        else:
            model = onnx.ModelProto()
            try:
                model.ParseFromString(bytes(model_bytes))
            except (DecodeError, TypeError, ValueError, RuntimeError) as e:
                self._error(ParserErrorCode.MODEL_DESERIALIZE_FAILED,
                            f"the bytes are not a valid ONNX ModelProto ({type(e).__name__}: {e}); pass the "
                            f"content of a .onnx file")
                raise _Abort from None
        if not model.HasField("graph"):
            self._error(ParserErrorCode.MODEL_DESERIALIZE_FAILED, "the model has no graph (empty or not an ONNX "
                        "model)")
            raise _Abort
        base_dir = os.path.dirname(os.path.abspath(path)) if path else None
        self._load_external(model, base_dir)
        return self._validate(model), base_dir

    def _load_external(self, model, base_dir):
        from onnx import external_data_helper as ext

        tensors = [t for t in ext._get_all_tensors(model) if ext.uses_external_data(t)]
        if not tensors:
            return
        for t in tensors:
            info = ext.ExternalDataInfo(t)
            if base_dir is None:
                self._error(ParserErrorCode.INVALID_VALUE,
                            f"initializer {t.name!r} keeps its data in the external file {info.location!r}; use "
                            f"parse_from_file(path) or parse(bytes, path) so the file can be found")
                raise _Abort
            full = os.path.normpath(os.path.join(base_dir, info.location))
            if os.path.isabs(info.location) or not full.startswith(os.path.normpath(base_dir) + os.sep):
                self._error(ParserErrorCode.INVALID_VALUE, f"initializer {t.name!r}: external data location "
                            f"{info.location!r} points outside the model's folder {base_dir!r}")
                raise _Abort
            if not os.path.isfile(full):
                self._error(ParserErrorCode.INVALID_VALUE, f"initializer {t.name!r}: external data file {full!r} "
                            f"is missing; put it next to the model")
                raise _Abort
            size = os.path.getsize(full)
            if info.offset is not None and info.length is not None and info.offset + info.length > size:
                self._error(ParserErrorCode.INVALID_VALUE, f"initializer {t.name!r}: external data file {full!r} "
                            f"holds {size} bytes but offset {info.offset} + length {info.length} goes past it")
                raise _Abort
        try:
            ext.load_external_data_for_model(model, base_dir)
        except (OSError, ValueError) as e:
            self._error(ParserErrorCode.INVALID_VALUE, f"cannot load external data: {e}")
            raise _Abort from None

    def _validate(self, model):
        import onnx

        opsets = _opset_map(model)
        ver = opsets.get("", None)
        if ver is None:
            opsets[""] = ver = MIN_OPSET
        if ver > _max_opset():
            self._error(ParserErrorCode.UNSUPPORTED_GRAPH,
                        f"the model uses ai.onnx opset {ver}; this parser supports opsets {MIN_OPSET} to "
                        f"{_max_opset()} (upgrade the onnx package or export with an older opset)")
            raise _Abort
        if ver < MIN_OPSET:
            try:
                from onnx import version_converter

                model = version_converter.convert_version(model, MIN_OPSET)
            except Exception as e:  # noqa: BLE001 - the converter raises many types
                self._error(ParserErrorCode.UNSUPPORTED_GRAPH,
                            f"the model uses ai.onnx opset {ver} (< {MIN_OPSET}) and could not be converted to "
                            f"opset {MIN_OPSET}: {e}; re-export it with a newer opset")
                raise _Abort from None
        if model.functions:
            try:
                from onnx import inliner

                model = inliner.inline_local_functions(model)
            except Exception as e:  # noqa: BLE001
                self._error(ParserErrorCode.INVALID_GRAPH, f"cannot inline the model's local functions: {e}")
                raise _Abort from None
        self._presort(model.graph)
        _fill_output_types(model)
        self._deferred = []  # validation errors, reported after unsupported nodes (which the checker also flags)
        light = _light_copy(model)
        inferred = self._check_and_infer(light)
        if inferred is light:
            return model
        for field in ("node", "value_info", "output"):  # what shape inference added, onto the full model
            del getattr(model.graph, field)[:]
            getattr(model.graph, field).extend(getattr(inferred.graph, field))
        return model

    def _check_and_infer(self, model):
        """ONNX checker and strict shape inference (on a model whose large initializers were set aside)."""
        import onnx

        inferred = model
        try:
            onnx.checker.check_model(model)
        except onnx.checker.ValidationError as e:
            if self._has_importer_for_unknown(str(e)):
                if self.logger is not None:  # ops ONNX dropped (experimental ones) that inferrt still imports
                    self.logger.log(Severity.WARNING, f"ONNX checker: {_first_line(e)} (inferrt imports it)")
            elif "is required but missing" in str(e) and ("'value_info'" in str(e) or "of 'type'" in str(e)):
                if self.logger is not None:  # untyped / unshaped outputs: onnxruntime accepts them, so do we
                    self.logger.log(Severity.WARNING, f"ONNX checker: {_first_line(e)} (ignored)")
            else:
                self._deferred.append(f"the ONNX checker rejects the model: {_first_line(e)}")
        except ValueError:
            pass  # over 2 GiB: the checker needs a path; shape inference below still runs per node
        try:
            inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=not self._deferred)
        except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError) as e:
            if str(e).count("(op_type:") > 1 or self._has_importer_for_unknown(str(e)):
                # inside an op's function body (ONNX's own issue), or an op only inferrt knows: importers decide
                if self.logger is not None:
                    self.logger.log(Severity.WARNING, f"ONNX shape inference: {_first_line(e)} (ignored)")
                inferred = onnx.shape_inference.infer_shapes(model)
            else:
                self._deferred.append(f"ONNX shape inference fails: {_first_line(e)}")
        except ValueError:
            pass
        return inferred

    @staticmethod
    def _has_importer_for_unknown(message: str) -> bool:
        """Whether a checker / inference error is only about an op ONNX has no schema for but inferrt imports."""
        import re

        m = re.search(r"No (?:Op|Schema) registered for (\w+) with domain_version of (\d+)", message)
        return bool(m) and registry.lookup("", m.group(1), int(m.group(2))) is not None

    def _presort(self, graph):
        """Sort the top-level nodes topologically (ONNX requires it; exporters do not always comply), remembering
        each node's original index for error reports. Dangling references and cycles are reported here."""
        known = {v.name for v in graph.input} | {i.name for i in graph.initializer}
        known |= {sp.values.name for sp in graph.sparse_initializer}
        nodes = [(p, {}, i, []) for i, p in enumerate(graph.node)]
        order = self._toposort(nodes, known.__contains__)
        self._orig_index = [origin for _, _, origin, _ in order]
        if self._orig_index != list(range(len(nodes))):
            import onnx

            sorted_nodes = []
            for p, _, _, _ in order:
                c = onnx.NodeProto()
                c.CopyFrom(p)
                sorted_nodes.append(c)
            del graph.node[:]
            graph.node.extend(sorted_nodes)

    # ------------------------------------------------------------------ import
    def _import_model(self, model, base_dir, network) -> bool:
        snapshot = _snapshot(network)
        n_err = len(self._errors)
        self.model, self._model_dir = model, base_dir
        self._types = _value_types(model.graph)
        ctx = ImportContext(network, _opset_map(model), base_dir=base_dir, import_graph=self._import_graph)
        self._node_outputs = {}
        try:
            unsupported = self._collect_unsupported(model.graph, ctx._opsets, top=True)
            if unsupported:
                for node in unsupported:
                    doms = node.domain or "ai.onnx"
                    self._error(ParserErrorCode.UNSUPPORTED_NODE,
                                f"no importer for operator {doms}::{node.op_type} at opset "
                                f"{node.opsets.get(node.domain, ctx._opsets.get(node.domain, 1))}, and ONNX defines "
                                f"no function to expand it into supported ops", node)
                raise _Abort
            for msg in getattr(self, "_deferred", []):
                self._error(ParserErrorCode.INVALID_GRAPH, msg)
            if getattr(self, "_deferred", []):
                raise _Abort
            self._import_graph(ctx, model.graph, top=True)
            errs = network._layer_errors() if hasattr(network, "_layer_errors") else []
            if errs:
                for e in errs:
                    self._error(ParserErrorCode.INVALID_NODE, e)
                raise _Abort
        except _Abort:
            _restore(network, snapshot)
            return False
        return len(self._errors) == n_err

    def _supported(self, proto, opsets) -> bool:
        dom = "" if proto.domain in ("", "ai.onnx") else proto.domain
        if dom == "" and proto.op_type == "Constant":
            return True
        return registry.lookup(dom, proto.op_type, opsets.get(dom, 1)) is not None

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
        body = _schema_function(proto.op_type, proto, eff.get(dom, 1), self._types, dom)
        if body is None:
            return [(proto, node_opsets, origin, stack)]
        sub_opsets = dict(node_opsets)
        sub_opsets.update({("" if o.domain in ("", "ai.onnx") else o.domain): o.version for o in body.opset_import})
        out = []
        eff_body = dict(eff)
        eff_body.update(sub_opsets)
        for p in _instantiate(proto, body, f"{proto.name or proto.op_type}_{origin}_{depth}/"):
            _infer_types(p, eff_body, self._types)
            out.extend(self._expand_node(p, opsets, sub_opsets, origin, stack + [proto.op_type], depth + 1))
        return out

    def _import_graph(self, ctx, graph, top=False):
        """Import ``graph`` into ``ctx``; returns its output tensors."""
        from onnx import numpy_helper

        network = ctx.network
        for init in graph.initializer:
            try:
                ctx.add_constant_value(init.name, numpy_helper.to_array(init, ctx.base_dir or ""), init.data_type)
            except (ValueError, TypeError, OSError) as e:
                self._error(ParserErrorCode.INVALID_VALUE, f"initializer {init.name!r} cannot be read: {e}")
                raise _Abort from None
        for sp in graph.sparse_initializer:
            from .context import _sparse_to_dense

            ctx.add_constant_value(sp.values.name, _sparse_to_dense(sp), sp.values.data_type)
        for vi in graph.input:
            if ctx._local(vi.name):
                continue
            if not top:
                self._error(ParserErrorCode.INVALID_GRAPH, f"subgraph input {vi.name!r} was not bound by the "
                            f"importer of the node that owns the subgraph")
                raise _Abort
            ctx.bind(vi.name, self._add_input(network, vi))
        nodes = self._expanded(graph, ctx._opsets, top=top)
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
                if t.is_network_input or t.is_network_output or t._producer is None:
                    t = network.add_identity(t).get_output(0)
                if t.name != vi.name and vi.name not in network._tensors:
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
        fn = registry.lookup(view.domain, view.op_type, ctx.opset(view.domain))
        n_layers = len(network._layers)
        try:
            outs = fn(ctx, view)
            if outs is None or len(outs) > len(view.outputs):
                raise ImportFailure(ParserErrorCode.INTERNAL_ERROR, f"the importer returned {outs!r} for "
                                    f"{len(view.outputs)} output(s)")
        except ImportFailure as e:
            msg = e.message if view.name in e.message else f"node {view.name!r} ({view.op_type}): {e.message}"
            self._error(e.code, msg, view)
            raise _Abort from None
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
            self._error(ParserErrorCode.INVALID_NODE, f"node {view.name!r} ({view.op_type}) cannot be imported: "
                        f"{type(e).__name__}: {e}", view)
            raise _Abort from None
        new_layers = network._layers[n_layers:]
        taken = None
        for j, layer in enumerate(new_layers):
            if layer.name.startswith("(Unnamed Layer"):
                name = view.name if len(new_layers) == 1 else f"{view.name}_{j}"
                if taken is None:  # "X_1" of a multi-layer node X must not collide with a node named X_1
                    taken = {l.name for l in network._layers}
                while name in taken:
                    name += "'"
                taken.add(name)
                layer.name = name
            layer.metadata = f"onnx:{view.op_type}:{view.name}"
        bound = {id(t) for t in ctx._tensors.values()}
        for name, t in zip(view.outputs, outs):
            if not name or t is None:
                continue
            if id(t) in bound or t._producer is None or t.is_network_output:
                t = network.add_identity(t).get_output(0)
            if t.name != name and name not in network._tensors:
                t.name = name
            ctx.bind(name, t)
            bound.add(id(t))
        self._node_outputs[view.name] = [t for t in outs]
        errs = [l._error for l in new_layers if getattr(l, "_error", None)]
        if errs:
            self._error(ParserErrorCode.INVALID_NODE, f"node {view.name!r} ({view.op_type}): {errs[0]}", view)
            raise _Abort
        ctx.node = None


# ---------------------------------------------------------------------------------------------------- helpers
def _max_opset() -> int:
    import onnx.defs

    return onnx.defs.onnx_opset_version()


def _first_line(e) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


def _opset_map(model) -> dict:
    return {("" if o.domain in ("", "ai.onnx") else o.domain): int(o.version) for o in model.opset_import}


def _fill_output_types(model) -> None:
    """Give untyped graph outputs (accepted by onnxruntime, rejected by the checker) their inferred types."""
    import onnx

    if all(o.type.HasField("tensor_type") or o.type.WhichOneof("value") for o in model.graph.output):
        return
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - the strict pass later reports real problems
        return
    types = {v.name: v.type for v in inferred.graph.value_info}
    types.update({v.name: v.type for v in inferred.graph.output if v.type.WhichOneof("value")})
    for o in model.graph.output:
        if not o.type.WhichOneof("value") and o.name in types:
            o.type.CopyFrom(types[o.name])


def _value_types(graph) -> dict:
    types = {}
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        types[vi.name] = vi.type
    from onnx import helper

    for init in graph.initializer:
        types.setdefault(init.name, helper.make_tensor_type_proto(init.data_type, list(init.dims)))
    return types


def _schema_function(op_type, proto, opset, types, domain=""):
    """The FunctionProto ONNX defines for ``op_type`` at ``opset`` (context-dependent ones need ``proto``)."""
    import onnx
    import onnx.defs

    try:
        schema = onnx.defs.get_schema(op_type, opset, domain)
    except onnx.defs.SchemaError:
        return None
    body = None
    versions = [v for v in getattr(schema, "all_function_opset_versions", []) if v <= opset]
    fv = max(versions) if versions else opset   # the newest function body that this opset may use
    try:
        if schema.has_function:
            data = schema.get_function_with_opset_version(fv)
            body = onnx.FunctionProto.FromString(data) if data else None
        if body is None and schema.has_context_dependent_function:
            if proto is None:
                return True
            in_types = []
            for name in proto.input:
                if name and name not in types:
                    return None
                in_types.append(types[name].SerializeToString() if name else onnx.TypeProto().SerializeToString())
            data = schema.get_context_dependent_function_with_opset_version(fv, proto.SerializeToString(),
                                                                            in_types)
            body = onnx.FunctionProto.FromString(data) if data else None
    except Exception:  # noqa: BLE001 - onnx raises various errors for functions it cannot build
        return None
    if body is None or not len(body.node):
        return None
    return body


def _infer_types(node, opsets, types):
    """Add the ONNX types of ``node``'s outputs to ``types`` (nodes made by function expansion have none)."""
    import onnx
    import onnx.defs
    from onnx import shape_inference

    dom = "" if node.domain in ("", "ai.onnx") else node.domain
    try:
        schema = onnx.defs.get_schema(node.op_type, opsets.get(dom, 1), dom)
        known = {n: types[n] for n in node.input if n and n in types}
        ops = [onnx.helper.make_opsetid(d, v) for d, v in opsets.items()]
        res = shape_inference.infer_node_outputs(schema, node, known, opset_imports=ops)
    except Exception:  # noqa: BLE001 - missing types leave context-dependent functions unexpanded, nothing worse
        return
    for name, t in res.items():
        types.setdefault(name, t)


def _instantiate(node, body, prefix):
    """The nodes of function ``body`` bound to ``node``'s inputs, outputs and attributes."""
    import onnx

    rename = {}
    for formal, actual in zip(body.input, list(node.input) + [""] * len(body.input)):
        rename[formal] = actual
    for formal, actual in zip(body.output, node.output):
        rename[formal] = actual
    attrs = {a.name: a for a in node.attribute}
    defaults = {a.name: a for a in getattr(body, "attribute_proto", [])}
    out = []
    for k, n in enumerate(body.node):
        m = onnx.NodeProto()
        m.CopyFrom(n)
        del m.input[:]
        del m.output[:]
        m.input.extend(rename.get(i, prefix + i) if i else "" for i in n.input)
        m.output.extend(rename.get(o, prefix + o) if o else "" for o in n.output)
        m.name = f"{prefix}{n.name or n.op_type + '_' + str(k)}"
        del m.attribute[:]
        for a in n.attribute:
            if a.ref_attr_name:
                src = attrs.get(a.ref_attr_name) or defaults.get(a.ref_attr_name)
                if src is None:
                    continue
                b = onnx.AttributeProto()
                b.CopyFrom(src)
                b.name = a.name
                m.attribute.append(b)
            elif a.HasField("g") or len(a.graphs):
                b = onnx.AttributeProto()
                b.CopyFrom(a)
                for g in ([b.g] if b.HasField("g") else []) + list(b.graphs):
                    _rename_free(g, lambda name: rename.get(name, prefix + name), set())
                m.attribute.append(b)
            else:
                m.attribute.append(a)
        out.append(m)
    return out


def _rename_free(graph, fn, outer_local: set) -> None:
    """Rename, in place, the names ``graph`` (and its nested subgraphs) read from its enclosing scope."""
    local = set(outer_local) | {v.name for v in graph.input} | {i.name for i in graph.initializer}
    local |= {o for n in graph.node for o in n.output}
    for n in graph.node:
        for k, name in enumerate(n.input):
            if name and name not in local:
                n.input[k] = fn(name)
        for a in n.attribute:
            for g in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                _rename_free(g, fn, local)
    for o in graph.output:
        if o.name not in local:
            o.name = fn(o.name)


def _free_names(graph) -> set:
    """Names a subgraph reads from its outer scope."""
    local = {v.name for v in graph.input} | {i.name for i in graph.initializer}
    local |= {o for n in graph.node for o in n.output}
    need = set()
    for n in graph.node:
        need |= {i for i in n.input if i}
        for a in n.attribute:
            for g in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                need |= _free_names(g)
    need |= {o.name for o in graph.output}
    return need - local


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


def _snapshot(network):
    return (len(network._layers), list(network._inputs), list(network._outputs), dict(network._tensors))


def _restore(network, snap):
    n, inputs, outputs, tensors = snap
    del network._layers[n:]
    network._inputs[:] = inputs
    network._outputs[:] = outputs
    network._tensors.clear()
    network._tensors.update(tensors)
    network._invalidate()
    if hasattr(network, "_errors"):
        network._errors = [e for e in network._errors if not e.startswith("layer ")]


_LIGHT_BYTES = 1 << 16


def _light_copy(model):
    """The model without the data of its large initializers (they become typed graph inputs). The checker and
    shape inference serialize the whole model, which costs seconds for hundreds of MB of weights; they need only
    types and shapes of weights that large (small ones are kept: shape computations read their values)."""
    import onnx

    light = onnx.ModelProto()
    for f in ("ir_version", "producer_name", "producer_version", "domain", "model_version", "doc_string"):
        setattr(light, f, getattr(model, f))
    light.opset_import.extend(model.opset_import)
    light.functions.extend(model.functions)
    g, lg = model.graph, light.graph
    lg.name = g.name
    lg.node.extend(g.node)
    lg.input.extend(g.input)
    lg.output.extend(g.output)
    lg.value_info.extend(g.value_info)
    lg.sparse_initializer.extend(g.sparse_initializer)
    names = {i.name for i in g.input}
    for t in g.initializer:
        if t.data_location == 0 and len(t.raw_data) >= _LIGHT_BYTES:
            if t.name not in names:
                lg.input.append(onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
        else:
            lg.initializer.append(t)
    return light
