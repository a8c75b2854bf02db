"""Tactics: implementations of (fused) layers, their selection, and the timing cache."""
