"""One execution context, one thread at a time: detecting concurrent use instead of computing garbage.

TensorRT forbids using one ``IExecutionContext`` from several threads at once (its state - input shapes, bound
addresses, activation memory - is a single set). A context owns one :class:`UseGuard`:

* every call that reads or changes that state holds the guard while it runs. The TensorRT API takes it without
  waiting (:meth:`UseGuard.try_enter`): a call that finds another thread inside is refused (``False`` and a logged
  error), which TensorRT leaves undefined. The Pythonic ``infer`` waits for it (:meth:`UseGuard.enter`), so
  concurrent ``infer`` calls are serialized and each is right.
* settings are *pending* from the first change after an execution until the next execution. When a second thread
  changes settings while another thread's are pending, or a thread's change is refused, the settings are mixed:
  the next execution refuses to run them (:meth:`UseGuard.take_clash`) and the context forgets its bindings, so
  a mix can never run later either. One thread setting and another executing (a hand-off) stays allowed.

The guard is reentrant for its owning thread (``execute_v2`` binds, then executes).
"""
from __future__ import annotations

import threading


def _thread_name(ident: int | None) -> str:
    for t in threading.enumerate():
        if t.ident == ident:
            return repr(t.name)
    return f"#{ident}"


class UseGuard:
    def __init__(self):
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._depth = 0
        self._writer: int | None = None     # thread whose settings are pending
        self._clash: str | None = None      # why pending settings are mixed
        self._state = threading.Lock()      # guards _writer and _clash (refused threads write _clash unguarded)

    @property
    def owner(self) -> int | None:
        return self._owner

    def try_enter(self) -> bool:
        me = threading.get_ident()
        if self._owner == me:   # only this thread sets _owner to its own ident, so this read is reliable
            self._depth += 1
            return True
        if not self._lock.acquire(blocking=False):
            return False
        self._owner, self._depth = me, 1
        return True

    def enter(self) -> None:
        me = threading.get_ident()
        if self._owner == me:
            self._depth += 1
            return
        self._lock.acquire()
        self._owner, self._depth = me, 1

    def exit(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
            self._lock.release()

    def busy_message(self, what: str) -> str:
        """The error for a call refused because another thread is inside (call after try_enter failed)."""
        return (f"{what}: this execution context is in use by thread {_thread_name(self._owner)}; an execution "
                f"context may be used by one thread at a time: create one context per thread "
                f"(engine.create_execution_context()) or serialize the calls")

    # ------------------------------------------------------------------ pending settings
    def note_write(self) -> None:
        """A settings change by the calling thread (made while holding the guard)."""
        me = threading.get_ident()
        with self._state:
            if self._writer is not None and self._writer != me and self._clash is None:
                self._clash = (f"threads {_thread_name(self._writer)} and {_thread_name(me)} both changed its "
                               f"settings since its last execution")
            self._writer = me

    def note_refused(self, what: str) -> None:
        """A settings change refused for concurrent use: the refused thread's settings are missing from the set."""
        with self._state:
            if self._clash is None:
                self._clash = (f"{what} by thread {_thread_name(threading.get_ident())} was refused during "
                               f"concurrent use")

    def take_clash(self) -> str | None:
        """At an execution: why the pending settings are mixed (None when they are not); pending settings end."""
        with self._state:
            clash, self._clash, self._writer = self._clash, None, None
        return clash

    def settle(self) -> None:
        """After an execution that set every setting it used itself (``infer``): its own changes are consumed;
        a clash with another thread's pending settings stays for that thread's execution to see."""
        with self._state:
            if self._clash is None:
                self._writer = None


class DeviceOrder:
    """On the GPU an execution returns once its work is queued, so the guard alone does not stop the next call, on
    another stream, from using the activation memory while that work runs. Each execution records an event where
    its work ends; the next one, on a different stream, makes its stream wait for that event (no host wait)."""

    def __init__(self):
        self._done = None   # (event, stream handle) of the last execution

    def after_previous(self, stream) -> None:
        import torch

        if stream is None or self._done is None or self._done[1] == stream.cuda_stream \
                or torch.cuda.is_current_stream_capturing():
            return
        stream.wait_event(self._done[0])

    def mark_done(self, stream) -> None:
        import torch

        if stream is None or torch.cuda.is_current_stream_capturing():
            return
        event = self._done[0] if self._done is not None else torch.cuda.Event()
        event.record(stream)
        self._done = (event, stream.cuda_stream)
