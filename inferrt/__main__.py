"""``python -m inferrt``: the ``inferrt`` command line."""
import sys

from .cli.main import main

sys.exit(main())
