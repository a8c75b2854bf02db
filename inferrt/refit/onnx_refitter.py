"""TensorRT's ``OnnxParserRefitter``: refit an engine from the ONNX model it was built from (or a retrained copy).

The model is imported again by inferrt's ONNX parser into a scratch network, so weights the importers computed
(BatchNorm statistics folded into a Scale layer's scale and shift, ...) come out as the build saw them, under the
same names; every refittable weight of the engine is then set from it. Constants the engine cannot refit (integer
constants, weights not marked under REFIT_INDIVIDUAL) must equal the plan's: a model that differs there is another
model, and is refused naming the constant, since the engine would keep the old values.
"""
from __future__ import annotations

from ..enums import ErrorCode
from ..ir.kinds import Kind
from ..logger import Reporter


class OnnxParserRefitter(Reporter):
    def __init__(self, refitter, logger=None):
        self.refitter = refitter
        self.logger = logger
        self.error_recorder = None
        self.num_errors = 0
        self._errors: list[str] = []

    def get_error(self, index: int):
        return self._errors[index] if 0 <= index < len(self._errors) else None

    def clear_errors(self) -> None:
        self._errors.clear()
        self.num_errors = 0

    def _fail(self, msg: str) -> bool:
        self._errors.append(msg)
        self.num_errors = len(self._errors)
        self._error(msg, ErrorCode.INVALID_ARGUMENT)
        return False

    def refit_from_file(self, path: str) -> bool:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            return self._fail(f"refit_from_file: cannot read {path!r} ({e.strerror or e})")
        return self._refit_from(data, path)

    def refit_from_bytes(self, model: bytes, path: str | None = None) -> bool:
        return self._refit_from(bytes(model), path)

    def _refit_from(self, data: bytes, path) -> bool:
        """Set every refittable weight from the model (``refitter.refit_cuda_engine()`` applies them)."""
        state = getattr(self.refitter.engine, "_refit", None)
        if state is None:
            return self._fail("refit_from_file: the engine was built without BuilderFlag.REFIT; it cannot be refitted")
        source = self._import(data, path)
        if source is None:
            return False
        from ..builder.lower_network import lower_network
        from ..refit.record import RefitRecorder
        from ..builder.config import IBuilderConfig
        from ..enums import BuilderFlag

        network, _ = source
        graph = lower_network(network)
        config = IBuilderConfig()
        config.flags = 0
        config.set_flag(BuilderFlag[state.mode])
        found = RefitRecorder(network, graph, config, lambda *a: None, marks=set(state.weights)).weights
        nodes = {n.name: n for n in graph.nodes}
        absent = sorted(set(state.weights) - set(found))
        if absent:
            return self._fail(f"refit_from_file: the model has no weights named {', '.join(absent[:8])}"
                              f"{', ...' if len(absent) > 8 else ''}, which the engine has; refit from the model "
                              f"the engine was built from")
        refit_nodes = {w["node"] for w in state.weights.values()}
        import numpy as np

        for n in state.source.nodes:   # everything the refit cannot change must match the plan
            if n.kind != Kind.CONSTANT or n.name in refit_nodes:
                continue
            m = nodes.get(n.name)
            if m is None or tuple(m.attrs.shape) != tuple(n.attrs.shape) or \
                    np.asarray(m.attrs.weights).tobytes() != np.asarray(n.attrs.weights).tobytes():
                return self._fail(f"refit_from_file: constant {n.name!r} of the model differs from the engine's and "
                                  f"is not refittable; the model is not the one the engine was built from (rebuild "
                                  f"the engine from it)")
        ok = True
        for name in state.weights:
            ok = self.refitter.set_named_weights(name, nodes[found[name]].attrs.weights) and ok
        if not ok:
            return self._fail("refit_from_file: some weights of the model do not fit the engine (see the errors "
                              "above)")
        return True

    def _import(self, data, path):
        from ..builder.builder import Builder
        from ..onnx.parser import OnnxParser

        builder = Builder(None)
        network = builder.create_network(0)
        parser = OnnxParser(network, None)
        ok = parser.parse(data, path) if path else parser.parse(data)
        if not ok:
            errs = [str(parser.get_error(i)) for i in range(parser.num_errors)]
            self._fail(f"refit_from_file: the model cannot be parsed: {'; '.join(errs[:3]) or 'unknown error'}")
            return None
        return network, parser
