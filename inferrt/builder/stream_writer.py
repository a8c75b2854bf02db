"""``IStreamWriter`` and ``Builder.build_serialized_network_to_stream``: build a plan and hand its bytes to a
user-supplied writer instead of returning them (TensorRT 10).

The writer's ``write(data)`` returns how many bytes it took; a short write is continued with the rest, as with a
file, and a write that takes nothing (0, a negative count or a non-integer) fails the call: the error is logged
through the builder's logger and error recorder and the call returns False, as TensorRT does.
"""
from __future__ import annotations

from ..enums import ErrorCode
from ..errors import BuildError


class IStreamWriter:
    """Subclass and implement ``write(data: bytes) -> int`` (the number of bytes written)."""

    def write(self, data) -> int:  # pragma: no cover - interface
        raise NotImplementedError("IStreamWriter.write(data) must be implemented and return the bytes written")


def build_serialized_network_to_stream(self, network, config, writer) -> bool:
    """Build ``network`` with ``config`` and write the plan to ``writer``; True on success, else False with the
    error logged (TensorRT semantics)."""
    if not callable(getattr(writer, "write", None)):
        self._error(f"build_serialized_network_to_stream: writer must be an IStreamWriter (with write(data) -> int), "
                    f"got {type(writer).__name__}", ErrorCode.INVALID_ARGUMENT)
        return False
    try:
        plan = self.build(network, config)
    except BuildError as e:
        self._error(str(e), ErrorCode.INVALID_CONFIG)
        return False
    view = memoryview(plan)
    written = 0
    while written < len(view):
        count = writer.write(bytes(view[written:]))
        if not isinstance(count, int) or isinstance(count, bool) or count <= 0 or count > len(view) - written:
            self._error(f"build_serialized_network_to_stream: {type(writer).__name__}.write returned {count!r} after "
                        f"{written} of {len(view)} plan bytes; it must return the number of bytes it wrote (1.."
                        f"{len(view) - written})", ErrorCode.FAILED_EXECUTION)
            return False
        written += count
    return True
