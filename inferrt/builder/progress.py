"""``IProgressMonitor`` (TensorRT 10's build progress interface) and the driver that reports the build's phases to it.

    Building engine                  5 steps: one per child phase, completed when that phase finishes
    ├── Optimizing network           one step per optimization pass (passes/pipeline.py), in pipeline order
    ├── Planning memory              one step per shape inference + activation arena (3 per profile: min, opt, max)
    ├── Selecting tactics            one step per layer (the tactic chosen, timed on the GPU)
    ├── Compiling kernels            1 step (the chosen tactics' kernels, compiled for the plan)
    └── Serializing plan             1 step

Set ``config.progress_monitor`` to an ``IProgressMonitor`` subclass. ``phase_start(phase_name, parent_phase,
num_steps)`` opens a phase (``parent_phase`` is None for the top one), ``step_complete(phase_name, step)`` reports
that step ``step`` (0-based) is done and returns True to go on; anything else cancels the build
(``build_serialized_network`` then logs an error and returns None; ``Builder.build`` raises ``BuildCancelled``).
``phase_finish(phase_name)`` closes a phase; phases still open when a build stops early (an error or a
cancellation) are finished too, innermost first, so a monitor's start and finish calls always pair up.
"""
from __future__ import annotations

from ..errors import BuildError

BUILD = "Building engine"
OPTIMIZE = "Optimizing network"
MEMORY = "Planning memory"
TACTICS = "Selecting tactics"
KERNELS = "Compiling kernels"
SERIALIZE = "Serializing plan"
#: the child phases of BUILD, in the order the build runs them
PHASES = (OPTIMIZE, MEMORY, TACTICS, KERNELS, SERIALIZE)


class IProgressMonitor:
    """TensorRT's build progress callbacks; subclass it and override what you need (the defaults do nothing)."""

    def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
        return None

    def step_complete(self, phase_name: str, step: int) -> bool:
        return True

    def phase_finish(self, phase_name: str) -> None:
        return None


class BuildCancelled(BuildError):
    """The IProgressMonitor's ``step_complete`` asked the build to stop."""


class ProgressDriver:
    """Reports phases and steps to ``monitor`` (an IProgressMonitor, or None: then it does nothing)."""

    def __init__(self, monitor=None):
        self.monitor = monitor
        self._open: list[list] = []    # [phase name, steps done], outermost first

    def _call(self, method: str, *args):
        try:
            return getattr(self.monitor, method)(*args)
        except Exception as e:  # noqa: BLE001 - the user's callback: reported as the build's error
            raise BuildError(f"the IProgressMonitor's {method}{args!r} raised {type(e).__name__}: {e}; fix the "
                             f"monitor or unset config.progress_monitor") from None

    def start(self, phase: str, num_steps: int) -> None:
        parent = self._open[-1][0] if self._open else None
        self._open.append([phase, 0])
        if self.monitor is not None:
            self._call("phase_start", phase, parent, int(num_steps))

    def step(self, *_ignored) -> None:
        """One step of the innermost open phase is done (extra arguments are ignored: usable as a callback)."""
        entry = self._open[-1]
        phase, done = entry
        entry[1] += 1
        if self.monitor is None:
            return
        ok = self._call("step_complete", phase, done)
        if not ok:
            self.close()
            raise BuildCancelled(f"the build was cancelled: IProgressMonitor.step_complete({phase!r}, {done}) "
                                 f"returned {ok!r} (return True to continue)")

    def finish(self) -> None:
        """Close the innermost phase; that completes one step of its parent."""
        phase, _ = self._open.pop()
        if self.monitor is not None:
            self._call("phase_finish", phase)
        if self._open:
            self.step()

    def close(self) -> None:
        """Finish every phase still open, innermost first (after an error or a cancellation; no steps)."""
        while self._open:
            phase, _ = self._open.pop()
            if self.monitor is not None:
                try:
                    self.monitor.phase_finish(phase)
                except Exception:  # noqa: BLE001 - the build is already failing with its own error
                    pass


def stepped(items, step, counted=lambda item: True):
    """Yield ``items``; once the loop body is done with an item that ``counted`` accepts (the loop asks for the
    next one, or ends), call ``step()``. ``step`` may be None."""
    for item in items:
        yield item
        if step is not None and counted(item):
            step()
