"""``inferrt report``: one self-contained HTML page about a plan - the optimized layer graph (fused groups, origin
layers, tactics, precisions, shapes, formats), per-layer times of a profiled run, the activation memory plan, and a
side-by-side view of two plans.

Data comes from the engine itself (its EngineInspector JSON, its executor's memory planner, its IProfiler); the
page is written from Python (SVG laid out here, CSS and a little JS inline), so it opens with no network access.
"""
from __future__ import annotations
