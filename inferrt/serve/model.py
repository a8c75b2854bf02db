"""One repository model served through kserve: a ``kserve.Model`` whose ``predict`` validates the v2 request,
queues it on the model's dynamic batcher and answers with the request's share of the batch's outputs."""
from __future__ import annotations

import asyncio
import logging
import time

import numpy as np

from .kserve_import import import_kserve

import_kserve()
from kserve import Model  # noqa: E402
from kserve.errors import InferenceError, InvalidInput  # noqa: E402
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse  # noqa: E402

from ..errors import BuildError  # noqa: E402
from .batcher import DynamicBatcher  # noqa: E402
from .placement import place_instances  # noqa: E402
from .repository import ModelEntry  # noqa: E402
from .tensors import check_shape, resolve_io  # noqa: E402

log = logging.getLogger("inferrt.serve")


class InferrtModel(Model):
    """A repository model's newest selected version on its instances (one execution context each)."""

    def __init__(self, entry: ModelEntry, metrics, logger=None):
        super().__init__(entry.name)
        self.entry, self.config, self.metrics, self._logger = entry, entry.config, metrics, logger
        self.version = entry.latest
        self.inputs = self.outputs = []
        self._batcher = None

    @property
    def version_label(self) -> str:
        return str(self.version)

    def load(self) -> bool:
        cfg = self.config
        if len(self.entry.versions) > 1:
            log.warning("model %r: version_policy selects versions %s; kserve's v2 routes serve one version per "
                        "model, so version %d is served", cfg.name, sorted(self.entry.versions), self.version)
        model_file = self.entry.versions[self.version]
        devices, engines = place_instances(model_file, cfg, self._logger)   # instance_group across the devices
        self.inputs, self.outputs = resolve_io(next(iter(engines.values())), cfg)
        # a context, and every batch it runs, uses its engine's GPU as the thread's current device
        self._gpu = [engines[d].device.index if engines[d].device.type == "cuda" else None for d in devices]
        self._contexts, self._streams = [], []
        for d, g in zip(devices, self._gpu):
            with _on_gpu(g):
                self._contexts.append(engines[d].create_execution_context())
                self._streams.append(_new_stream(g))   # instances on one GPU overlap on their own streams
        db = cfg.dynamic_batching if cfg.HasField("dynamic_batching") else None
        self._batcher = DynamicBatcher(
            self._run_batch, max_batch_size=cfg.max_batch_size,
            preferred_batch_sizes=tuple(db.preferred_batch_size) if db else (),
            max_queue_delay_us=db.max_queue_delay_microseconds if db else 0,
            instances=len(self._contexts), merge=db is not None, on_batch=self._on_batch, name=cfg.name)
        try:
            self._warmup()
        except BaseException:
            self.stop()   # no instance threads left behind by a model that failed to load
            raise
        self.metrics.add(self.name, self.version_label)   # a loaded model's counters exist from the start, at 0
        self.ready = True
        log.info("model %r version %d ready: %d instance(s) on %s, max_batch_size %d, dynamic batching %s",
                 cfg.name, self.version, len(devices), sorted(set(devices)), cfg.max_batch_size,
                 "on" if db else "off")
        return self.ready

    def stop(self):
        if self._batcher is not None:
            self._batcher.close()
            self._batcher = None
        self.ready = False

    # ---------------------------------------------------------------- metadata
    def completed_config(self):
        """config.pbtxt as served: inputs and outputs the file left out are filled in from the engine."""
        from .model_config import DataType

        cfg = type(self.config)()
        cfg.CopyFrom(self.config)
        for field, specs in ((cfg.input, self.inputs), (cfg.output, self.outputs)):
            if not len(field):
                for s in specs:
                    field.add(name=s.name, data_type=DataType.values_by_name[s.triton_type].number, dims=s.dims)
        return cfg

    def get_input_types(self):
        return [s.metadata(self.config.max_batch_size > 0) for s in self.inputs]

    def get_output_types(self):
        return [s.metadata(self.config.max_batch_size > 0) for s in self.outputs]

    # ---------------------------------------------------------------- execution
    def _run_batch(self, instance: int, inputs: dict) -> dict:
        batched = self.config.max_batch_size > 0
        n = next(iter(inputs.values())).shape[0] if batched else None
        feed = {s.name: inputs[s.name] if s.engine_dims == s.dims
                else inputs[s.name].reshape(((n,) if batched else ()) + s.engine_dims) for s in self.inputs}
        stream = self._streams[instance]
        if stream is None:
            out = self._contexts[instance].infer(feed)
        else:
            import torch

            # the stream is current too, so the input uploads and the output downloads are ordered with the run
            with torch.cuda.device(self._gpu[instance]), torch.cuda.stream(stream):
                out = self._contexts[instance].infer(feed, stream=stream)
                stream.synchronize()
        return {s.name: np.asarray(out[s.name]) if s.engine_dims == s.dims
                else np.asarray(out[s.name]).reshape(((n,) if batched else ()) + s.dims) for s in self.outputs}

    def _on_batch(self, instance, batch_size, n_requests, queue_s, compute_s):
        self.metrics.add(self.name, self.version_label, nv_inference_count=batch_size, nv_inference_exec_count=1,
                         nv_inference_queue_duration_us=sum(queue_s) * 1e6,
                         nv_inference_compute_infer_duration_us=compute_s * 1e6 * n_requests)
        self.metrics.add_batch(self.name, self.version_label, batch_size, compute_s)

    def _validate(self, request: InferRequest) -> tuple[dict, int]:
        specs = {s.name: s for s in self.inputs}
        given = {i.name: i for i in request.inputs}
        unknown = sorted(set(given) - set(specs))
        if unknown:
            raise InvalidInput(f"unexpected inference input(s) {unknown} for model {self.name!r}; it takes "
                               f"{sorted(specs)}")
        missing = sorted(n for n in specs if n not in given)
        if missing:
            raise InvalidInput(f"model {self.name!r} expects input(s) {missing}, which the request lacks")
        arrays, sizes = {}, set()
        for name, inp in given.items():
            spec = specs[name]
            if inp.datatype != spec.datatype:
                raise InvalidInput(f"input {name!r} has datatype {inp.datatype}, model {self.name!r} takes "
                                   f"{spec.datatype}")
            why = check_shape(spec, inp.shape, self.config.max_batch_size)
            if why:
                raise InvalidInput(f"model {self.name!r}: {why}")
            try:
                arr = inp.as_numpy()
            except (ValueError, TypeError) as e:
                raise InvalidInput(f"input {name!r}: its data does not fill shape {list(inp.shape)} "
                                   f"({spec.datatype}): {e}") from None
            arrays[name] = np.require(arr, spec.dtype, ["C", "W"])   # frombuffer views of the body are read-only
            sizes.add(arr.shape[0] if self.config.max_batch_size else 1)
        if len(sizes) > 1:
            raise InvalidInput(f"model {self.name!r}: the inputs have different batch sizes {sorted(sizes)}")
        outputs = {s.name for s in self.outputs}
        for r in request.request_outputs or []:
            if r.name not in outputs:
                raise InvalidInput(f"requested output {r.name!r} is not an output of model {self.name!r} "
                                   f"({sorted(outputs)})")
        return arrays, sizes.pop()

    async def predict(self, payload, headers=None):
        if not isinstance(payload, InferRequest):
            self.metrics.add(self.name, self.version_label, nv_inference_request_failure=1)
            raise InvalidInput(f"model {self.name!r} serves the v2 (Open Inference) protocol: POST "
                               f"/v2/models/{self.name}/infer")
        t0 = time.perf_counter()
        try:
            arrays, size = self._validate(payload)
            if self._batcher is None:
                raise InferenceError(f"model {self.name!r} is not loaded")
            outputs = await asyncio.wrap_future(self._batcher.submit(arrays, size))
        except InvalidInput:
            self.metrics.add(self.name, self.version_label, nv_inference_request_failure=1)
            raise
        except Exception as e:   # noqa: BLE001 - execution errors reach the client as the protocol's error
            self.metrics.add(self.name, self.version_label, nv_inference_request_failure=1)
            log.error("model %r: inference failed: %s", self.name, e)
            raise InferenceError(f"model {self.name!r}: {type(e).__name__}: {e}") from None
        self.metrics.add(self.name, self.version_label, nv_inference_request_success=1,
                         nv_inference_request_duration_us=(time.perf_counter() - t0) * 1e6)
        infer_outputs = []
        for s in self.outputs:
            out = InferOutput(name=s.name, shape=list(outputs[s.name].shape), datatype=s.datatype)
            # held as raw bytes: kserve's gRPC encoder sends them as raw_output_contents, its REST encoder writes
            # them as binary data or as a JSON list, as the request asked
            out.set_data_from_numpy(outputs[s.name], binary_data=True)
            infer_outputs.append(out)
        return InferResponse(response_id=payload.id or "", model_name=self.name, model_version=self.version_label,
                             infer_outputs=infer_outputs, from_grpc=payload.from_grpc,
                             use_binary_outputs=payload.use_binary_outputs,
                             requested_outputs=payload.request_outputs)

    def _warmup(self):
        """config.pbtxt's model_warmup: each sample runs ``count`` times (at least once) on every instance."""
        specs = {s.name: s for s in self.inputs}
        rng = np.random.default_rng(0)
        for i, w in enumerate(self.config.model_warmup):
            arrays = {}
            for name, inp in w.inputs.items():
                if name not in specs:
                    raise BuildError(f"model {self.name!r}: model_warmup[{i}].inputs names {name!r}, which is "
                                       f"not an input ({sorted(specs)})")
                shape = ((w.batch_size,) if self.config.max_batch_size else ()) + tuple(inp.dims)
                s = specs[name]
                arrays[name] = (np.zeros(shape, s.dtype) if inp.zero_data
                                else rng.standard_normal(shape).astype(s.dtype))
                why = check_shape(s, shape, self.config.max_batch_size)
                if why:
                    raise BuildError(f"model {self.name!r}: model_warmup[{i}] ({w.name!r}): {why}")
            for k in range(len(self._contexts)):
                for _ in range(max(1, w.count)):
                    self._run_batch(k, arrays)


def _on_gpu(index):
    import contextlib

    if index is None:
        return contextlib.nullcontext()
    import torch

    return torch.cuda.device(index)


def _new_stream(index):
    if index is None:
        return None
    import torch

    return torch.cuda.Stream(device=index)
