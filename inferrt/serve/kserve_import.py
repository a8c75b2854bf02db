"""kserve parses ``sys.argv`` when first imported (its model server's flags, with argparse abbreviations), so a
host program's own flags are taken as kserve's: pytest's ``--co`` reads as ``--configure_logging`` and exits.
Every import of kserve in inferrt goes through ``import_kserve``, which hides the host's flags while it loads."""
from __future__ import annotations

import sys


def import_kserve():
    if "kserve" in sys.modules:
        return sys.modules["kserve"]
    argv, sys.argv = sys.argv, sys.argv[:1]
    try:
        import kserve
    finally:
        sys.argv = argv
    return kserve
