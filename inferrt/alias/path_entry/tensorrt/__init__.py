"""``import tensorrt`` with this folder's parent on the path imports inferrt: this module replaces itself in
``sys.modules`` with the ``inferrt`` module (see ``inferrt.alias``)."""
import sys

import inferrt

sys.modules[__name__] = inferrt
