"""``python -m inferrt.alias`` prints the folder to put on PYTHONPATH so that ``import tensorrt`` imports inferrt."""
import sys

from . import main

sys.exit(main())
