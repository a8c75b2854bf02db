"""kserve reads sys.argv on first import; load it here, with pytest's flags hidden, before any test module
imports it (pytest's --co would otherwise read as kserve's --configure_logging)."""
import importlib.util

if importlib.util.find_spec("kserve") is not None:
    from inferrt.serve.kserve_import import import_kserve

    import_kserve()
