"""Op definitions (shape inference + generic PyTorch implementation) for every layer kind."""
from .base import REGISTRY, OpDef, OpError, Spec, get_op, register  # noqa: F401

_LOADED = False


def _load_all():
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    import importlib
    import pkgutil

    for m in pkgutil.iter_modules(__path__):
        if m.name not in ("base",) and not m.name.startswith("_"):
            importlib.import_module(f"{__name__}.{m.name}")
