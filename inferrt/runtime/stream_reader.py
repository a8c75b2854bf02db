"""``IStreamReader`` / ``IStreamReaderV2``: ``Runtime.deserialize_cuda_engine(reader)`` reads the plan from a
user-supplied stream instead of bytes (TensorRT 10; Polygraphy's ``EngineFromPath`` passes its ``FileReader``).

The plan's header says how long the plan is, so exactly that many bytes are requested, in chunks of at most
``CHUNK`` (nothing is allocated up front from the header's claim): ``read(n)`` for an IStreamReader, ``read(n, 0)``
(no CUDA stream: the bytes come to host memory) for an IStreamReaderV2. A stream that ends early is a PlanError that
says how many bytes arrived; a stream that is not a plan is refused by the plan reader, as bytes would be.
"""
from __future__ import annotations

from ..errors import PlanError
from ..plan.format import HEADER, HEADER_SIZE, MAGIC

CHUNK = 64 << 20


class IStreamReader:
    """Subclass and implement ``read(size) -> bytes`` (fewer bytes only at the end of the stream)."""

    def read(self, size: int) -> bytes:  # pragma: no cover - interface
        raise NotImplementedError("IStreamReader.read(size) must be implemented and return bytes")


class IStreamReaderV2:
    """Subclass and implement ``read(size, stream) -> bytes`` and ``seek(offset, where: SeekPosition) -> bool``."""

    def read(self, size: int, stream: int) -> bytes:  # pragma: no cover - interface
        raise NotImplementedError("IStreamReaderV2.read(size, stream) must be implemented and return bytes")

    def seek(self, offset: int, where) -> bool:  # pragma: no cover - interface
        raise NotImplementedError("IStreamReaderV2.seek(offset, where) must be implemented")


def is_stream_reader(obj) -> bool:
    return not isinstance(obj, (bytes, bytearray, memoryview, str)) and callable(getattr(obj, "read", None))


def read_plan_stream(reader) -> bytes:
    """The plan bytes ``reader`` supplies; PlanError when it ends before the length its header gives."""
    v2 = isinstance(reader, IStreamReaderV2) or (not isinstance(reader, IStreamReader)
                                                 and callable(getattr(reader, "seek", None)))

    def take(n: int) -> bytes:
        got = reader.read(n, 0) if v2 else reader.read(n)
        if got is None:
            return b""
        if not isinstance(got, (bytes, bytearray, memoryview)):
            raise PlanError(f"{type(reader).__name__}.read returned a {type(got).__name__}; it must return bytes")
        got = bytes(got)
        if len(got) > n:
            raise PlanError(f"{type(reader).__name__}.read returned {len(got)} bytes when asked for {n}")
        return got

    data = bytearray()
    while len(data) < HEADER_SIZE:
        got = take(HEADER_SIZE - len(data))
        if not got:
            break
        data += got
    if len(data) < HEADER_SIZE or bytes(data[:8]) != MAGIC:
        return bytes(data)   # not a plan: the plan reader says what is wrong, as for bytes
    total = HEADER.unpack(bytes(data[:HEADER_SIZE]))[7]
    while len(data) < total:
        got = take(min(CHUNK, total - len(data)))
        if not got:
            raise PlanError(f"the plan stream ended after {len(data)} of the {total} bytes its header gives: the plan "
                            f"file is truncated; rebuild or copy it again")
        data += got
    return bytes(data)
