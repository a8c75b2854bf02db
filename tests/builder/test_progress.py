"""builder/progress.py: config.progress_monitor is told the build's real phases, in order, with their step counts;
step_complete returning False cancels the build (None from build_serialized_network, an ERROR logged)."""
from __future__ import annotations

import json

import pytest

import inferrt as trt
from inferrt.builder.progress import BUILD, MEMORY, OPTIMIZE, PHASES, TACTICS, BuildCancelled
from inferrt.models.mnist import build_mnist_network
from inferrt.passes.pipeline import POST_PIPELINE, selected_pipeline


class ListLogger(trt.ILogger):
    def __init__(self):
        self.messages = []

    def log(self, severity, msg):
        self.messages.append((trt.Severity.parse(severity), msg))


class Recorder(trt.IProgressMonitor):
    """Records every call; ``stop_at=(phase, step)`` makes that step_complete return ``answer``."""

    def __init__(self, stop_at=None, answer=False):
        super().__init__()
        self.events = []
        self.stop_at, self.answer = stop_at, answer

    def phase_start(self, phase_name, parent_phase, num_steps):
        self.events.append(("start", phase_name, parent_phase, num_steps))

    def step_complete(self, phase_name, step):
        self.events.append(("step", phase_name, step))
        return self.answer if (phase_name, step) == self.stop_at else True

    def phase_finish(self, phase_name):
        self.events.append(("finish", phase_name))


def _mnist(device="cpu", profiles=((1, 2, 4),)):
    logger = ListLogger()
    builder = trt.Builder(logger)
    net = build_mnist_network(builder.create_network(0))
    config = builder.create_builder_config()
    config.device = device
    for mn, op, mx in profiles:
        p = builder.create_optimization_profile()
        p.set_shape("x", (mn, 1, 28, 28), (op, 1, 28, 28), (mx, 1, 28, 28))
        config.add_optimization_profile(p)
    return logger, builder, net, config


def _phases(events):
    """{phase: (parent, num_steps, [step indices])}, checking that starts and finishes nest properly."""
    out, stack = {}, []
    for ev in events:
        if ev[0] == "start":
            assert ev[2] == (stack[-1] if stack else None), ev   # the parent is the enclosing open phase
            stack.append(ev[1])
            out[ev[1]] = (ev[2], ev[3], [])
        elif ev[0] == "step":
            assert stack and stack[-1] == ev[1], (ev, stack)     # steps come from the innermost open phase
            out[ev[1]][2].append(ev[2])
        else:
            assert stack.pop() == ev[1], ev
    assert not stack, stack
    return out


def test_phases_in_order_with_their_step_counts(device):
    logger, builder, net, config = _mnist(device, profiles=((1, 2, 4), (8, 8, 8)))
    mon = Recorder()
    config.progress_monitor = mon
    plan = builder.build_serialized_network(net, config)
    assert plan is not None, logger.messages
    starts = [ev[1] for ev in mon.events if ev[0] == "start"]
    assert starts == [BUILD, *PHASES]
    phases = _phases(mon.events)
    for name, (parent, num_steps, steps) in phases.items():
        assert steps == list(range(num_steps)), name     # every step reported once, in order
        assert parent == (None if name == BUILD else BUILD)
    assert phases[BUILD][1] == len(PHASES)
    assert phases[OPTIMIZE][1] == len(selected_pipeline(config)) + len(POST_PIPELINE)
    assert phases[MEMORY][1] == 3 * 2                    # min, opt and max of each of the two profiles
    engine = trt.Runtime(logger).deserialize_cuda_engine(plan)
    layers = json.loads(engine.create_engine_inspector().get_engine_information(trt.LayerInformationFormat.JSON))
    assert phases[TACTICS][1] == len(layers["Layers"]) > 0   # one step per layer of the built engine
    # each child phase's finish completes the next step of the parent, right after it
    i = mon.events.index(("finish", OPTIMIZE))
    assert mon.events[i + 1] == ("step", BUILD, 0)


def test_the_optimize_phase_counts_the_passes_that_run():
    _, builder, net, config = _mnist()
    config.passes = "fold_constants,eliminate_dead_layers"
    mon = Recorder()
    config.progress_monitor = mon
    builder.build(net, config)
    n = len(selected_pipeline(config))          # fold_constants runs at several places in the pipeline
    assert 2 < n < len(selected_pipeline()) and _phases(mon.events)[OPTIMIZE][1] == n + len(POST_PIPELINE)


@pytest.mark.parametrize("phase,step", [(OPTIMIZE, 0), (TACTICS, 2), (BUILD, 1)])
def test_step_complete_false_cancels_the_build(phase, step):
    logger, builder, net, config = _mnist()
    mon = Recorder(stop_at=(phase, step))
    config.progress_monitor = mon
    assert builder.build_serialized_network(net, config) is None
    errors = [m for s, m in logger.messages if s == trt.Severity.ERROR]
    assert len(errors) == 1 and "cancelled" in errors[0] and f"step_complete({phase!r}, {step})" in errors[0]
    assert mon.events.index(("step", phase, step)) == max(i for i, e in enumerate(mon.events) if e[0] != "finish")
    _phases(mon.events)                                  # every phase started was finished, innermost first
    with pytest.raises(BuildCancelled, match="returned False"):
        builder.build(net, config)


def test_a_monitor_that_returns_none_cancels_and_says_so():
    _, builder, net, config = _mnist()
    config.progress_monitor = Recorder(stop_at=(OPTIMIZE, 1), answer=None)
    with pytest.raises(BuildCancelled, match=r"returned None \(return True to continue\)"):
        builder.build(net, config)


def test_a_monitor_that_raises_fails_the_build_naming_the_callback():
    class Broken(trt.IProgressMonitor):
        def phase_start(self, phase_name, parent_phase, num_steps):
            if phase_name == TACTICS:
                raise ValueError("boom")

    logger, builder, net, config = _mnist()
    config.progress_monitor = Broken()
    assert builder.build_serialized_network(net, config) is None
    (err,) = [m for s, m in logger.messages if s == trt.Severity.ERROR]
    assert "phase_start" in err and TACTICS in err and "ValueError: boom" in err


def test_the_base_class_and_no_monitor_build_the_same_plan():
    _, builder, net, config = _mnist()
    plain = bytes(builder.build(net, config))
    config.progress_monitor = trt.IProgressMonitor()
    assert bytes(builder.build(net, config)) == plain
