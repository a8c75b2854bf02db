"""TensorRT's ``Refitter``: set new values for an engine's named weights, then ``refit_cuda_engine()``.

Every method follows TensorRT: bad input (unknown name, wrong count or dtype, an engine built without REFIT,
weights still missing) returns False with an ERROR logged and reported to ``error_recorder``, and leaves the engine
as it was, still usable. A refit recomputes every constant the engine derived from the weights
(inferrt/refit/recompute.py) and reports which weights changed (``changed_weights`` and an INFO log line). An
engine built with REFIT_IDENTICAL (and trtexec's --stripWeights) only accepts the weights it was built with: weights
whose digest differs from the plan's are refused, naming them.
"""
from __future__ import annotations

import numpy as np

from ..enums import DataType, ErrorCode, TensorLocation, WeightsRole
from ..ir.weights import Weights
from ..logger import Reporter, Severity
from .record import digest_of


def _numpy_dtype_name(arr) -> str:
    return str(arr.dtype).removeprefix("torch.")


class Refitter(Reporter):
    def __init__(self, engine, logger=None):
        self.engine = engine
        self.logger = logger
        self.error_recorder = None
        self.max_threads = 1
        #: TensorRT 10: check new weights for NaN/inf before refitting
        self.weights_validation = True
        self._pending: dict[str, object] = {}
        self._locations: dict[str, TensorLocation] = {}
        #: names of the weights whose values the last successful refit changed (Pythonic, not TensorRT)
        self.changed_weights: list[str] = []

    # ------------------------------------------------------------------ state
    @property
    def _state(self):
        return getattr(self.engine, "_refit", None)

    def _refittable(self, where: str) -> bool:
        if self._state is None:
            self._error(f"{where}: the engine was built without BuilderFlag.REFIT; rebuild it with "
                        f"config.set_flag(BuilderFlag.REFIT) (or REFIT_IDENTICAL / REFIT_INDIVIDUAL) to refit it",
                        ErrorCode.INVALID_STATE)
            return False
        return True

    def _known(self, name, where: str) -> bool:
        if not self._refittable(where):
            return False
        if not isinstance(name, str) or name not in self._state.weights:
            names = sorted(self._state.weights)
            self._error(f"{where}: the engine has no refittable weights named {name!r} (it has {len(names)}: "
                        f"{', '.join(names[:8])}{', ...' if len(names) > 8 else ''}); get_all_weights() lists them")
            return False
        return True

    # ------------------------------------------------------------------ TensorRT API
    def set_named_weights(self, name: str, weights, location=TensorLocation.HOST) -> bool:
        """Set new values for the weights ``name``; they must have its element count and dtype."""
        if not self._known(name, "set_named_weights"):
            return False
        spec = self._state.weights[name]
        arr = self._array(weights)
        if arr is None:
            self._error(f"set_named_weights({name!r}): expected weights (numpy array, torch tensor or Weights), got "
                        f"{type(weights).__name__}")
            return False
        want = int(np.prod(spec["shape"], dtype=np.int64))
        if int(arr.size if isinstance(arr, np.ndarray) else arr.numel()) != want:
            self._error(f"set_named_weights({name!r}): {int(np.prod(arr.shape))} values of shape {tuple(arr.shape)} "
                        f"given, but the weights hold {want} (shape {tuple(spec['shape'])})")
            return False
        if _numpy_dtype_name(arr) != spec["dtype"]:
            self._error(f"set_named_weights({name!r}): the values are {_numpy_dtype_name(arr)} but the weights are "
                        f"{spec['dtype']}; convert them first (e.g. array.astype(numpy.{spec['dtype']}))")
            return False
        if self.weights_validation and not self._finite(arr):
            self._error(f"set_named_weights({name!r}): the values hold NaN or infinity; check the weights (or set "
                        f"refitter.weights_validation = False to allow them)")
            return False
        self._pending[name] = arr.reshape(tuple(spec["shape"]))
        self._locations[name] = TensorLocation.parse(location) if hasattr(TensorLocation, "parse") else location
        return True

    def unset_named_weights(self, name: str) -> bool:
        if not self._known(name, "unset_named_weights"):
            return False
        self._pending.pop(name, None)
        return True

    def get_named_weights(self, name: str) -> Weights:
        """The values set for ``name`` since the last refit, else the engine's current ones (zeros of the right
        shape while a stripped plan lacks them); an empty Weights for an unknown name."""
        if not self._known(name, "get_named_weights"):
            return Weights()
        arr = self._pending.get(name)
        if arr is None:
            arr = self._state.source_weights(name)
        return Weights(arr if isinstance(arr, np.ndarray) else arr.float().numpy())

    def get_weights_prototype(self, name: str) -> Weights:
        """Empty-valued Weights with the dtype and count the weights ``name`` need."""
        if not self._known(name, "get_weights_prototype"):
            return Weights()
        spec = self._state.weights[name]
        from ..dtypes import from_numpy_dtype

        try:
            dt = from_numpy_dtype(np.dtype(spec["dtype"]))
        except (TypeError, ValueError, KeyError):
            dt = DataType.BF16
        return Weights(dt)

    def get_weights_location(self, name: str) -> TensorLocation:
        if not self._known(name, "get_weights_location"):
            return TensorLocation.HOST
        return self._locations.get(name, TensorLocation.HOST)

    def set_weights_location(self, name: str, location) -> bool:
        if not self._known(name, "set_weights_location"):
            return False
        self._locations[name] = location
        return True

    def get_all_weights(self) -> list[str]:
        return [] if self._state is None else sorted(self._state.weights)

    def get_missing_weights(self) -> list[str]:
        """Weights a refit still needs: those of a stripped plan not yet refitted and not set since."""
        if self._state is None:
            return []
        return sorted(self._state.missing - set(self._pending))

    def set_weights(self, layer_name: str, role, weights) -> bool:
        """TensorRT's older form: weights by layer name and role, for the weights a layer was given and left
        unnamed (named ``"<layer> [<role>]"`` by the builder)."""
        attr = {WeightsRole.KERNEL: "kernel", WeightsRole.BIAS: "bias", WeightsRole.SHIFT: "shift",
                WeightsRole.SCALE: "scale", WeightsRole.CONSTANT: "weights"}.get(WeightsRole.parse(role))
        name = f"{layer_name} [{attr}]"
        if self._state is not None and attr == "weights" and name not in self._state.weights:
            name = layer_name
        return self.set_named_weights(name, weights)

    def refit_cuda_engine(self) -> bool:
        return self._refit(None)

    def refit_cuda_engine_async(self, stream) -> bool:
        return self._refit(stream)

    # ------------------------------------------------------------------ the refit
    def _refit(self, stream) -> bool:
        if not self._refittable("refit_cuda_engine"):
            return False
        state = self._state
        missing = self.get_missing_weights()
        if missing:
            self._error(f"refit_cuda_engine: {len(missing)} weights are missing: {', '.join(missing[:8])}"
                        f"{', ...' if len(missing) > 8 else ''}; the plan was built without them (STRIP_PLAN), so "
                        f"every refittable weight must be set (refitter.set_named_weights, or "
                        f"OnnxParserRefitter.refit_from_file)", ErrorCode.INVALID_STATE)
            return False
        digests = {name: digest_of(arr) for name, arr in self._pending.items()}
        if state.mode == "REFIT_IDENTICAL":
            differ = sorted(n for n, d in digests.items() if d != state.weights[n]["sha256"])
            if differ:
                self._error(f"refit_cuda_engine: the engine was built with REFIT_IDENTICAL (or --stripWeights), so "
                            f"it must be refitted with the weights it was built with, but {len(differ)} differ from "
                            f"the plan's digest: {', '.join(differ[:8])}{', ...' if len(differ) > 8 else ''} (is "
                            f"this the model the engine was built from? to refit other weights, build with "
                            f"BuilderFlag.REFIT)", ErrorCode.INVALID_ARGUMENT)
                return False
        changed = sorted(n for n, d in digests.items()
                         if n in state.missing or d != digest_of(state.source_weights(n)))
        try:
            self._recompute_and_apply(stream)
        except Exception as e:  # noqa: BLE001 - TensorRT semantics: False + logged error, engine unchanged
            from .recompute import StructureChanged

            why = str(e) if isinstance(e, StructureChanged) else f"{type(e).__name__}: {e}"
            given = f"{', '.join(changed[:8])}{', ...' if len(changed) > 8 else ''}" if changed else "none"
            self._error(f"refit_cuda_engine failed, the engine is unchanged: {why} (weights changed by this refit: "
                        f"{given}); rebuild the engine with these weights",
                        ErrorCode.REFIT_FAILED if hasattr(ErrorCode, "REFIT_FAILED") else ErrorCode.INVALID_ARGUMENT)
            return False
        built = {n for n, d in digests.items() if d != state.weights[n]["sha256"]}
        self._log(Severity.INFO, f"refit: {len(changed)} of {len(state.weights)} weights changed"
                                 f"{': ' + ', '.join(changed[:16]) if changed else ''}"
                                 f"{', ...' if len(changed) > 16 else ''}; {len(built)} differ from the weights the "
                                 f"engine was built with")
        self.changed_weights = changed
        self._pending.clear()
        return True

    def _recompute_and_apply(self, stream) -> None:
        from .apply import apply_updates
        from .recompute import changed_nodes, recompute

        state, engine = self._state, self.engine
        by_node = {state.weights[n]["node"]: arr for n, arr in self._pending.items()}
        profiles = [{k: tuple(tuple(s) for s in v) for k, v in p.shapes.items()}
                    for p in engine.plan_info.profiles]
        new = recompute(state, engine.graph, by_node, engine.device_kind, profiles, self._log)
        updates = changed_nodes(new, engine.graph)
        if engine.device.type == "cuda" and stream is not None:
            import torch

            s = stream if isinstance(stream, torch.cuda.Stream) else torch.cuda.ExternalStream(
                int(stream), device=engine.device) if int(stream) else torch.cuda.current_stream(engine.device)
            with torch.cuda.stream(s):
                apply_updates(engine, updates)
        elif engine.device.type == "cuda":
            import torch

            apply_updates(engine, updates)
            # refit_cuda_engine is synchronous: the new weights are in place before any stream reads them
            torch.cuda.current_stream(engine.device).synchronize()
        else:
            apply_updates(engine, updates)
        for n in state.source.nodes:     # the engine's originals are now the new weights
            if n.name in by_node:
                from ..ops.base import Attrs

                n.attrs = Attrs(n.attrs)
                n.attrs.weights = by_node[n.name].reshape(tuple(n.attrs.weights.shape))
        state.missing -= set(self._pending)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _array(weights):
        if isinstance(weights, Weights):
            return None if weights.size == 0 else np.array(weights.numpy(), copy=True)
        if hasattr(weights, "detach"):
            t = weights.detach().cpu()
            import torch

            return t.clone() if t.dtype in (torch.bfloat16,) else t.numpy().copy()
        if isinstance(weights, np.ndarray):
            return np.array(weights, copy=True)
        return None

    @staticmethod
    def _finite(arr) -> bool:
        if isinstance(arr, np.ndarray):
            return arr.dtype.kind != "f" or bool(np.isfinite(arr).all())
        import torch

        return bool(torch.isfinite(arr).all())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
