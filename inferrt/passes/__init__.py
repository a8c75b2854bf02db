"""Graph passes: one per file, run in the explicit order of ``pipeline.PIPELINE``."""
