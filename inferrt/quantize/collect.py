"""Calibration passes: run the (current) model on the feeds and gather the statistics a step needs.

Each pass builds a runner (inferrt's engine on CUDA, or onnxruntime on the CPU: ``inferrt.calibration.capture``)
over just the values it measures, and shows a progress bar over the batches.
"""
from __future__ import annotations

from ..calibration.capture import capture, make_runner
from .histogram import AbsHistogram, ChannelStats


def run_pass(model, feeds, names, make_stat, opts, progress, desc) -> tuple:
    """({name: statistic}, the device the pass ran on)."""
    names = sorted(set(names))
    runner = make_runner(model, names, feeds, opts.device, tool="quantize")
    stats = {n: make_stat() for n in names}
    for values in capture(runner, feeds, progress, desc):
        for n in names:
            if n in values:
                stats[n].add(values[n])
    return stats, runner.device


def histograms(model, feeds, names, opts, progress) -> tuple:
    bins = 0 if opts.calibration_method == "max" else opts.num_bins
    return run_pass(model, feeds, names, lambda: AbsHistogram(bins), opts, progress,
                    f"calibrating ({opts.calibration_method})")


def channel_stats(model, feeds, names, opts, progress, max_rows=0, desc="calibrating (channels)") -> tuple:
    return run_pass(model, feeds, names, lambda: ChannelStats(max_rows, len(feeds)), opts, progress, desc)
