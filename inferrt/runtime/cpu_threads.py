"""How many CPU threads a CPU engine's execution uses, and how that is applied without changing the process's
PyTorch setting behind the user's back.

Where the count comes from, first match wins:

1. ``context.cpu_threads`` (an integer >= 1; ``None`` = not set);
2. ``engine.cpu_threads``, which an engine takes from ``Runtime.max_threads`` when that was set (TensorRT's
   "maximum number of threads the runtime may use");
3. the environment variable ``INFERRT_CPU_THREADS`` (an integer >= 1, or ``auto``), read when the engine is loaded;
4. *auto*: ``min(usable cores, 4)``, lowered to the cores other processes leave free (measured), and divided
   among the CPU executions running at that moment in this process (at least 1 each).

Why this default. PyTorch's OpenMP team busy-waits at the barrier that ends every parallel region, so a thread
the OS has descheduled (another process holds its core, or the process runs more threads than it has cores)
stalls every layer for a scheduler time slice: on a 2-core machine with one core busy, a small CNN went from
1.5 ms with one thread to a 10 ms median and 140 ms p99 with two. *Usable cores* are the CPUs of the process's
affinity mask (``os.sched_getaffinity``: taskset, cpusets), further capped by a cgroup CPU quota (containers).
The free share is measured from ``/proc/stat`` over the last quarter second or more: the idle time of the usable
CPUs plus the CPU time of this process itself (its own threads are not competition). A count is rounded down
with a 0.25-core margin, so a core shared half-and-half with another process is not counted. Where ``/proc/stat``
is missing the measurement is skipped. Four is the cap because per-layer parallel regions of inference-sized
layers stop scaling well beyond it while costing every other user of the machine.

How it is applied (``threads_for_run``). ``torch.set_num_threads`` is documented as process-wide, but in the
OpenMP build PyTorch ships it has two parts: the OpenMP team size of the *calling OS thread* (OpenMP keeps that per
thread; MKL's is set thread-locally too), which is what sizes the parallel regions that thread starts, and one
process-wide number that ``torch.get_num_threads()`` reports and that a thread adopts when it first runs parallel
work. Around each execution the engine sets its count on the executing thread and afterwards sets back the
value the process had before the first of the executions running at that moment began (saved under a lock, so
overlapping executions on several threads never save each other's value). So a context's count applies to that
context's work on its calling thread only; other threads' parallel regions keep their own team sizes; and when
no engine is executing, ``torch.get_num_threads()`` reads what the user set. While an execution is running,
``torch.get_num_threads()`` may report the engine's count (PyTorch has one process-wide number), and a call to
``torch.set_num_threads`` made by another thread during an engine execution is overwritten when the last
overlapping execution ends. Setting the count costs well under a microsecond.

Every count is a maximum, as TensorRT's ``max_threads`` is. A set count is lowered to the cores other processes
leave free (the measurement above; never below 1), because a parallel region with a thread on a core another
process holds stalls at its barrier: on the 2-core development machine under load, two OpenMP threads made a
small CNN 40x slower than one. ``context.last_cpu_threads`` tells the count an execution used.

One count per execution: every layer of an execution runs at its count; the executor does not switch the count
between layers. It used to run layers under about 1e7 FLOPs on one thread, which measured slower on a quiet
2-core machine (2026-12-07, torch 2.13): MNIST b1 594 -> 511 us and b8 1013 -> 881 us per execution at 2 threads
with every layer at the count, interleaved in one process; BERT-base and GPT-2 s128 b1 unchanged within noise. The
switch itself is cheap (about 0.2 us, and oneDNN's primitive cache survives it: every convolution is a cache hit
after a switch); what cost is the layers run on one thread, which were slower even where they do not split
(a softmax over 10 values: 22 against 16 us inside the chain). A shared machine is served by the count itself, which
is lowered to the cores other processes leave free before the execution starts.
"""
from __future__ import annotations

import os
import threading
import time

import torch

ENV_VAR = "INFERRT_CPU_THREADS"
#: the most threads the automatic default gives one execution
AUTO_CAP = 4
#: how often (seconds) the measurement of the cores other processes leave free is refreshed
SAMPLE_PERIOD = 0.25
#: a core counts as free when at least this share of it is (see the module docstring)
FREE_MARGIN = 0.25


def parse_threads(value, where: str) -> int | None:
    """A thread count from an API value or the environment: an integer >= 1, or None / "auto" (automatic).
    Raises ValueError naming ``where`` otherwise."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{where} must be a number of threads >= 1 or 'auto', got {value!r}")
    try:
        n = int(value.strip()) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        n = None
    if n is None or n != value and not isinstance(value, str) or n < 1:
        raise ValueError(f"{where} must be a number of threads >= 1 or 'auto', got {value!r}")
    return n


def env_threads() -> int | None:
    """``INFERRT_CPU_THREADS`` (None when unset or ``auto``); ValueError naming the variable when malformed."""
    return parse_threads(os.environ.get(ENV_VAR), f"environment variable {ENV_VAR}")


def _quota_cores() -> float | None:
    """The cgroup CPU quota in cores (cgroup v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``), None without one."""
    for path, period_path in (("/sys/fs/cgroup/cpu.max", None),
                              ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us")):
        try:
            with open(path) as f:
                fields = f.read().split()
            if period_path is not None:
                with open(period_path) as f:
                    fields = fields[:1] + f.read().split()[:1]
            quota, period = fields[0], fields[1]
            if quota in ("max", "-1") or int(period) <= 0:
                return None
            return int(quota) / int(period)
        except (OSError, ValueError, IndexError):
            continue
    return None


def _affinity() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))


def usable_cores() -> int:
    """The CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota (rounded up)."""
    n = len(_affinity())
    q = _quota_cores()
    if q is not None:
        n = min(n, max(1, int(-(-q // 1))))
    return max(1, n)


class FreeCores:
    """The cores of this process's affinity mask that other processes leave free, measured from ``/proc/stat``
    (idle time of those CPUs plus this process's own CPU time, per second of wall time) between two samples at
    least ``SAMPLE_PERIOD`` apart. ``None`` until two samples exist, or where ``/proc/stat`` is unreadable."""

    def __init__(self, stat_path: str = "/proc/stat", clock=time.monotonic, cpu_time=None, ticks=None):
        self._path = stat_path
        self._clock = clock
        self._cpu_time = cpu_time or _process_cpu_seconds
        self._ticks = ticks
        self._last: tuple | None = None
        self._value: float | None = None
        self._broken = False

    def _sample(self, cpus: set[int]):
        idle = 0
        with open(self._path) as f:
            for line in f:
                if not line.startswith("cpu") or line.startswith("cpu "):
                    if line.startswith(("intr", "ctxt")):
                        break
                    continue
                head, *vals = line.split()
                if int(head[3:]) in cpus:
                    idle += int(vals[3]) + (int(vals[4]) if len(vals) > 4 else 0)   # idle + iowait
        return self._clock(), idle, self._cpu_time()

    def get(self) -> float | None:
        if self._broken:
            return None
        now = self._clock()
        if self._last is not None and now - self._last[0] < SAMPLE_PERIOD:
            return self._value
        try:
            cpus = _affinity()
            cur = self._sample(cpus)
        except (OSError, ValueError, IndexError):
            self._broken = True
            return None
        if self._last is not None:
            wall = cur[0] - self._last[0]
            idle = (cur[1] - self._last[1]) / (self._ticks or _ticks_per_second()) / wall
            own = (cur[2] - self._last[2]) / wall
            self._value = max(0.0, min(float(len(cpus)), idle + own))
        self._last = cur
        return self._value


def _process_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def _ticks_per_second() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (AttributeError, ValueError, OSError):
        return 100


_lock = threading.Lock()
_running = 0            # CPU executions in progress in this process
_saved: int | None = None  # torch's thread count before the first of them began
_free = FreeCores()
_local = threading.local()  # .threads: the count of this thread's open block (0: none)


_cores = [-1.0, 0]   # (monotonic time of the reading, usable_cores() then)


def recent_usable_cores() -> int:
    """``usable_cores()`` read at most once per ``SAMPLE_PERIOD`` (it opens cgroup files: tens of microseconds,
    as long as a small network's layer); an affinity or quota change is seen within that period."""
    now = time.monotonic()
    if now - _cores[0] >= SAMPLE_PERIOD:
        _cores[1] = usable_cores()
        _cores[0] = now
    return _cores[1]


def auto_threads(running: int = 1, free: float | None = None, cores: int | None = None) -> int:
    """The automatic count for one of ``running`` concurrent executions (see the module docstring); ``free``
    (measured free cores) and ``cores`` (usable cores, read at most once per ``SAMPLE_PERIOD``) are measured when
    not given."""
    base = min(recent_usable_cores() if cores is None else cores, AUTO_CAP)
    free = _free.get() if free is None else free
    if free is not None:
        base = min(base, max(1, int(free + FREE_MARGIN)))
    return max(1, base // max(1, running))


def free_limit() -> int:
    """The most threads the cores other processes leave free can take (measured; a large number when unmeasured)."""
    free = _free.get()
    return 1 << 16 if free is None else max(1, int(free + FREE_MARGIN))


class threads_for_run:
    """``with threads_for_run(n):`` runs the block with at most ``n`` intra-op threads on this thread, fewer when
    other processes hold cores (``free_limit``; ``None``: the automatic count), then restores the process's own setting as the module docstring describes. ``.threads`` is
    the count in use inside the block, also written to ``owner.last_cpu_threads`` when an owner (the execution
    context) is given. A block nested in another on the same thread (an engine run from a plugin
    or callback) counts as the same execution and gives the outer block its count back when it ends."""

    __slots__ = ("requested", "threads", "_outer", "_owner")

    def __init__(self, requested: int | None, owner=None):
        self.requested = requested
        self.threads = 0
        self._outer = 0
        self._owner = owner

    def __enter__(self):
        global _running, _saved
        outer = getattr(_local, "threads", 0)
        self._outer = outer
        if outer:
            n = self.requested if self.requested is not None else outer
        else:
            with _lock:
                if _running == 0:
                    _saved = torch.get_num_threads()
                _running += 1
                running = _running
            n = auto_threads(running) if self.requested is None else min(self.requested, free_limit())
        self.threads = _local.threads = n
        if self._owner is not None:
            self._owner.last_cpu_threads = n
        torch.set_num_threads(n)
        return self

    def __exit__(self, *exc):
        global _running, _saved
        _local.threads = self._outer
        if self._outer:
            torch.set_num_threads(self._outer)
            return False
        with _lock:
            _running -= 1
            restore = _saved
            if _running == 0:
                _saved = None
            torch.set_num_threads(restore)
        return False


def current_threads() -> int:
    """The thread count of the execution open on this thread (0: none)."""
    return getattr(_local, "threads", 0)


def running_executions() -> int:
    """How many CPU executions are in progress in this process now."""
    return _running
