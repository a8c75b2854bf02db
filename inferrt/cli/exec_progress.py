"""The build's progress bars in ``inferrt exec``: a one-step bar while the ONNX model is parsed (the parser is outside
the builder), then an ``IProgressMonitor`` that draws one tqdm bar per open build phase.

Shown on stderr only when stderr is a terminal, so the report on stdout and redirected or logged output stay clean;
``--noProgress`` turns it off on a terminal too. The top
bar ("Building engine", one step per phase) stays when the build ends; the phase bars under it close as their phase
finishes. tqdm is imported only when a bar is drawn.
"""
from __future__ import annotations

import contextlib
import sys

from ..builder.progress import IProgressMonitor


class BarMonitor(IProgressMonitor):
    """One tqdm bar per open build phase, nested under its parent, on ``file``."""

    def __init__(self, file, tqdm_class):
        self.file = file
        self._tqdm = tqdm_class
        self.bars: dict = {}

    def phase_start(self, phase_name, parent_phase, num_steps):
        depth = len(self.bars)
        self.bars[phase_name] = self._tqdm(total=num_steps, desc=phase_name, position=depth, leave=depth == 0,
                                           file=self.file, unit="step", dynamic_ncols=True)

    def step_complete(self, phase_name, step):
        bar = self.bars.get(phase_name)
        if bar is not None:
            bar.update(step + 1 - bar.n)
        return True

    def phase_finish(self, phase_name):
        bar = self.bars.pop(phase_name, None)
        if bar is not None:
            bar.close()

    def close(self):
        for name in list(self.bars)[::-1]:
            self.phase_finish(name)


def wants_bar(args, stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    return not args.no_progress and bool(isatty and isatty())


def _tqdm(stream, warn: bool = True):
    try:
        from tqdm import tqdm
    except ImportError:
        if warn:   # said once, by the build's bar
            print("[W] tqdm is not installed, so the build shows no progress bar (pip install tqdm)", file=stream)
        return None
    return tqdm


@contextlib.contextmanager
def parse_progress(args, what: str, stream=None):
    """A one-step bar ("Parsing <what>") around the ``with`` body, when a bar is wanted."""
    stream = stream if stream is not None else sys.stderr
    tqdm = _tqdm(stream, warn=False) if wants_bar(args, stream) else None
    if tqdm is None:
        yield
        return
    bar = tqdm(total=1, desc=f"Parsing {what}", file=stream, unit="step", leave=False, dynamic_ncols=True)
    try:
        yield
        bar.update(1)
    finally:
        bar.close()


@contextlib.contextmanager
def build_progress(args, config, stream=None):
    """Sets ``config.progress_monitor`` to a BarMonitor for the build inside the ``with`` when a bar is wanted."""
    stream = stream if stream is not None else sys.stderr
    if not wants_bar(args, stream) or config.progress_monitor is not None:
        yield None
        return
    tqdm = _tqdm(stream)
    if tqdm is None:
        yield None
        return
    monitor = BarMonitor(stream, tqdm)
    config.progress_monitor = monitor
    try:
        yield monitor
    finally:
        monitor.close()
        config.progress_monitor = None
