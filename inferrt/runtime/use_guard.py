"""One execution context, one thread at a time: detecting concurrent use instead of computing garbage.

TensorRT forbids using one ``IExecutionContext`` from several threads at once (its state - input shapes, bound
addresses, activation memory - is a single set). A context owns one :class:`UseGuard`:

* every call that reads or changes that state holds the guard while it runs. The TensorRT API takes it without
  waiting (:meth:`UseGuard.try_enter`): a call that finds another thread inside is refused (``False`` and a logged
  error), which TensorRT leaves undefined. The Pythonic ``infer`` waits for it (:meth:`UseGuard.enter`), so
  concurrent ``infer`` calls are serialized and each is right.
* each setting (a shape, an address, ...) remembers the thread that made it, and each thread the settings it made
  since its own last execution. When a thread executes and one of those was changed since by another thread, or
  one of its changes was refused (and not made again), its execution would run a mix: it is refused
  (:meth:`UseGuard.take_clash`) and the context forgets its shapes and addresses, so the mix cannot run later
  either. Sequential use by several threads stays allowed: one thread binding and another executing (a
  hand-off), or one binding addresses once and another setting shapes and executing.
* on the GPU an execution returns once its work is queued; :class:`DeviceOrder` makes the next execution's stream
  wait for it, so two executions never share the activation memory at once on the device either.

The guard is reentrant for its owning thread (``execute_v2`` binds, then executes).
"""
from __future__ import annotations

import threading


def _thread_name(ident: int | None) -> str:
    if ident is None:
        return "(another, which has just left)"
    for t in threading.enumerate():
        if t.ident == ident:
            return repr(t.name)
    return f"#{ident}"


class UseGuard:
    def __init__(self):
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._depth = 0
        self._owner_of: dict[str, tuple] = {}     # setting -> (ident, name) of the thread that set it last
        self._pending: dict[int, set] = {}        # thread -> settings it made since its last execution
        self._spoiled: dict[int, dict] = {}       # thread -> {setting: why} of its changes that were refused
        self._state = threading.Lock()            # guards the three (refused threads write _spoiled unguarded)

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
    def note_write(self, *settings: str) -> None:
        """The calling thread changed ``settings`` (names such as "the address of 'x'"), holding the guard."""
        me = threading.get_ident()
        with self._state:
            who = (me, repr(threading.current_thread().name))   # the name too: the thread may be gone later
            mine = self._pending.setdefault(me, set())
            lost = self._spoiled.get(me)
            for key in settings:
                self._owner_of[key] = who
                mine.add(key)
                if lost:
                    lost.pop(key, None)   # made again: no longer missing
            if len(self._pending) > 64:   # threads that set and never executed, and are gone
                alive = {t.ident for t in threading.enumerate()}
                for t in [t for t in self._pending if t not in alive]:
                    del self._pending[t]

    def note_refused(self, what: str, *settings: str) -> None:
        """A change of ``settings`` refused for concurrent use: the calling thread's settings lack it until the
        thread makes that change again."""
        me = threading.get_ident()
        why = f"its {what} was refused while thread {_thread_name(self._owner)} used the context"
        with self._state:
            lost = self._spoiled.setdefault(me, {})
            for key in settings:
                lost[key] = why

    def take_clash(self) -> str | None:
        """At an execution by the calling thread: why the settings it made since its last execution are no longer
        all its own (None when they are); its pending settings end."""
        me = threading.get_ident()
        if me not in self._pending and me not in self._spoiled:
            return None   # nothing set or refused since its last execution (only this thread adds its own entries)
        with self._state:
            mine = self._pending.pop(me, set())
            lost = self._spoiled.pop(me, None)
            why = next(iter(lost.values())) if lost else None
            if why is None:
                for key in sorted(mine):
                    other = self._owner_of.get(key)
                    if other is None or other[0] != me:
                        why = (f"{key} set by thread {_thread_name(me)} was changed by thread {other[1]} before this "
                               f"execution" if other is not None else
                               f"{key} set by thread {_thread_name(me)} was cleared by a refused execution")
                        break
        return why

    def settle(self) -> None:
        """After an execution that set every setting it used itself (``infer``): its changes are consumed."""
        me = threading.get_ident()
        with self._state:
            self._pending.pop(me, None)
            self._spoiled.pop(me, None)

    def forget(self) -> None:
        """The context cleared its settings: every thread that set one since its last execution finds it gone."""
        with self._state:
            self._owner_of.clear()


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
