"""Loading and validating an ONNX model for OnnxParser: protobuf, external data (resolved next to the model, never
outside its folder), opsets (7 to the newest onnx defines; older ones converted), local-function inlining, a
topological presort, the ONNX checker and strict shape inference. Errors are recorded with ``self._error`` and
end the parse with ParseAbort; checker findings are deferred so unsupported nodes are reported first. onnx's C++
entry points run in a helper process (``native_worker``): if one crashes or hangs on the model, the parse fails with
a ParserError saying which step did."""
from __future__ import annotations

import os

from ..enums import ParserErrorCode
from ..logger import Severity
from . import native_worker as _native, registry
from .model_tools import fill_output_types as _fill_output_types, first_line as _first_line
from .model_tools import light_copy as _light_copy, max_opset as _max_opset, opset_map as _opset_map
from .parser_error import ParseAbort as _Abort

MIN_OPSET = 7


class ModelLoader:
    """Mixin of OnnxParser (uses its ``_error``, ``_toposort`` and ``logger``)."""

    def _load(self, model_bytes, path):
        import onnx
        from google.protobuf.message import DecodeError

        if isinstance(model_bytes, onnx.ModelProto):
            model = onnx.ModelProto()
            model.CopyFrom(model_bytes)
        else:
            model = onnx.ModelProto()
            try:   # a buffer only: bytes(n) of an int n would be n zero bytes
                model.ParseFromString(memoryview(model_bytes).tobytes())
            except (DecodeError, TypeError, ValueError, RuntimeError) as e:
                what = (f"a {type(model_bytes).__name__} is not the bytes of an ONNX model (bytes, bytearray, "
                        f"memoryview or onnx.ModelProto)" + ("; parse_from_file takes a path" if isinstance(
                            model_bytes, (str, os.PathLike)) else "")) if isinstance(e, TypeError) else \
                    f"the bytes are not a valid ONNX ModelProto ({type(e).__name__}: {e})"
                self._error(ParserErrorCode.MODEL_DESERIALIZE_FAILED, f"{what}; pass the content of a .onnx file")
                raise _Abort from None
        if not model.HasField("graph"):
            self._error(ParserErrorCode.MODEL_DESERIALIZE_FAILED, "the model has no graph (empty or not an ONNX "
                        "model)")
            raise _Abort
        bad = _non_text(model)
        if bad:
            self._error(ParserErrorCode.MODEL_DESERIALIZE_FAILED, f"{bad} is not valid UTF-8 text (damaged model "
                        f"bytes?); names, op types and domains must be text")
            raise _Abort
        bad = _unknown_type(model.graph)
        if bad:
            self._error(ParserErrorCode.INVALID_VALUE, f"{bad} is not an ONNX data type (TensorProto.DataType); "
                        f"the model is damaged or needs a newer onnx package")
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
            try:
                info = ext.ExternalDataInfo(t)
            except (ValueError, TypeError) as e:
                self._error(ParserErrorCode.INVALID_VALUE, f"initializer {t.name!r}: invalid external data "
                            f"fields ({e}); give a location, offset >= 0 and length >= 0")
                raise _Abort from None
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
                model = self._native("the ONNX version converter", _native.convert_version, model, MIN_OPSET)
            except _Abort:
                raise
            except Exception as e:  # noqa: BLE001 - the converter raises many types
                self._error(ParserErrorCode.UNSUPPORTED_GRAPH,
                            f"the model uses ai.onnx opset {ver} (< {MIN_OPSET}) and could not be converted to "
                            f"opset {MIN_OPSET}: {e}; re-export it with a newer opset")
                raise _Abort from None
        if model.functions:
            try:
                model = self._native("the ONNX function inliner", _native.inline_local_functions, model)
            except _Abort:
                raise
            except Exception as e:  # noqa: BLE001
                self._error(ParserErrorCode.INVALID_GRAPH, f"cannot inline the model's local functions: {e}")
                raise _Abort from None
        self._presort(model.graph)
        bad = _mistyped_attribute(model.graph, _opset_map(model).get("", MIN_OPSET))
        if bad:   # the checker stops at its first finding (often an untyped output) and may never see it
            index, message = bad
            self._error(ParserErrorCode.INVALID_NODE, message, index=self._orig_index[index],
                        top=model.graph.node[index])
            raise _Abort
        self._native("ONNX shape inference", _fill_output_types, model)
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
            self._native("the ONNX checker", _native.check_model, model)
        except onnx.checker.ValidationError as e:
            if self._has_importer_for_unknown(str(e)):
                if self.logger is not None:  # ops ONNX dropped (experimental ones) that inferrt still imports
                    self.logger.log(Severity.WARNING, f"ONNX checker: {_first_line(e)} (inferrt imports it)")
            elif "is required but missing" in str(e) and ("'value_info'" in str(e) or "of 'type'" in str(e)):
                if self.logger is not None:  # untyped / unshaped outputs: onnxruntime accepts them, so do we
                    self.logger.log(Severity.WARNING, f"ONNX checker: {_first_line(e)} (ignored)")
            else:
                self._deferred.append(f"the ONNX checker rejects the model: {_first_line(e)}")
        except _native.NativeError as e:
            self._deferred.append(f"the ONNX checker rejects the model: {_first_line(e)}")
        except ValueError:
            pass  # over 2 GiB: the checker needs a path; shape inference below still runs per node
        try:
            inferred = self._native("ONNX shape inference", _native.infer_shapes, model, check_type=True,
                                    strict_mode=not self._deferred)
        except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError) as e:
            if str(e).count("(op_type:") > 1 or self._has_importer_for_unknown(str(e)):
                # inside an op's function body (ONNX's own issue), or an op only inferrt knows: importers decide
                if self.logger is not None:
                    self.logger.log(Severity.WARNING, f"ONNX shape inference: {_first_line(e)} (ignored)")
                try:
                    inferred = self._native("ONNX shape inference", _native.infer_shapes, model)
                except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, _native.NativeError) as e2:
                    self._deferred.append(f"ONNX shape inference fails: {_first_line(e2)}")
            else:
                self._deferred.append(f"ONNX shape inference fails: {_first_line(e)}")
        except _native.NativeError as e:
            self._deferred.append(f"ONNX shape inference fails: {_first_line(e)}")
        except ValueError:
            pass
        return inferred

    def _native(self, what, fn, *args, **kwargs):
        """``fn`` (an onnx C++ entry point run in the helper process); a crash or hang of it ends the parse."""
        try:
            return fn(*args, **kwargs)
        except _native.NativeFailure as e:
            self._error(ParserErrorCode.INTERNAL_ERROR if e.startup else ParserErrorCode.INVALID_GRAPH,
                        _native.failure_message(what, e))
            raise _Abort from None

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


def _mistyped_attribute(graph, opset: int, top_index=None) -> tuple[int, str] | None:
    """(index of the top-level node, message) for the first ai.onnx node, subgraphs included, with an attribute whose
    type is not the one its operator's schema declares (importers would read it as the declared type), or None."""
    import onnx
    from onnx import defs

    for i, node in enumerate(graph.node):
        index = i if top_index is None else top_index
        schema = None
        if node.domain in ("", "ai.onnx"):
            try:
                schema = defs.get_schema(node.op_type, opset, "")
            except defs.SchemaError:
                schema = None   # no such op at this opset: the unsupported-node check reports it
        for a in node.attribute:
            want = schema.attributes.get(a.name) if schema is not None else None
            if want is not None and a.type != int(want.type.value):
                got = onnx.AttributeProto.AttributeType.Name(a.type) if a.type in \
                    onnx.AttributeProto.AttributeType.values() else f"type {a.type}"
                return index, (f"node {node.name!r} ({node.op_type}): attribute {a.name!r} is {got}, but "
                               f"{node.op_type} at opset {opset} takes {want.type.name}; fix the attribute's type "
                               f"(the exporter wrote it wrongly)")
            for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                bad = _mistyped_attribute(sub, opset, index)
                if bad:
                    return bad
    return None


def _non_text(model) -> str | None:
    """Where the model holds a name that protobuf could not decode as UTF-8 (it then hands out bytes), or None."""
    for o in model.opset_import:
        if not isinstance(o.domain, str):
            return f"an opset_import domain ({o.domain!r})"
    for f in model.functions:
        for field in ("name", "domain"):
            if not isinstance(getattr(f, field), str):
                return f"function field {field!r} ({getattr(f, field)!r})"
        where = _graph_non_text(f, f"function {f.name!r}")
        if where:
            return where
    return _graph_non_text(model.graph, "the graph")


def _graph_non_text(graph, where) -> str | None:
    for vi in list(getattr(graph, "value_info", [])):
        if not isinstance(vi.name, str):
            return f"{where}: value_info name {vi.name!r}"
    for field in ("input", "output"):
        for v in getattr(graph, field):
            name = v if isinstance(v, (str, bytes)) else v.name
            if not isinstance(name, str):
                return f"{where}: {field} name {name!r}"
    for t in getattr(graph, "initializer", []):
        if not isinstance(t.name, str):
            return f"{where}: initializer name {t.name!r}"
    for i, n in enumerate(graph.node):
        for field in ("name", "op_type", "domain"):
            if not isinstance(getattr(n, field), str):
                return f"{where}: node {i} field {field!r} ({getattr(n, field)!r})"
        for field in ("input", "output"):
            for name in getattr(n, field):
                if not isinstance(name, str):
                    return f"{where}: node {n.name!r} {field} name {name!r}"
        for a in n.attribute:
            if not isinstance(a.name, str):
                return f"{where}: node {n.name!r} attribute name {a.name!r}"
            for g in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                found = _graph_non_text(g, f"{where}: node {n.name!r} attribute {a.name!r}")
                if found:
                    return found
    return None


def _unknown_type(graph) -> str | None:
    """Where the top-level graph declares an element type onnx does not define, or None."""
    import onnx

    known = set(onnx.TensorProto.DataType.values())
    for t in graph.initializer:
        if t.data_type not in known:
            return f"initializer {t.name!r}: data_type {t.data_type}"
    for field in ("input", "output", "value_info"):
        for v in getattr(graph, field):
            if v.type.HasField("tensor_type") and v.type.tensor_type.elem_type not in known:
                return f"graph {field} {v.name!r}: elem_type {v.type.tensor_type.elem_type}"
    return None
