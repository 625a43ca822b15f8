"""Every architecture overparam builds, each declared in one module of this package.

A module here (other than :mod:`~overparam.architectures.registry`) makes one
:func:`~overparam.architectures.registry.register` call; importing the package imports every
such module, in name order, so adding an architecture is adding its module. The network classes
stay in :mod:`overparam.models` and the NTK rules in :mod:`overparam.ntk`.
"""

import importlib
import pkgutil

from overparam.architectures.registry import VECTOR_DATA as VECTOR_DATA
from overparam.architectures.registry import Architecture as Architecture
from overparam.architectures.registry import View as View
from overparam.architectures.registry import architectures as architectures
from overparam.architectures.registry import build as build
from overparam.architectures.registry import get as get
from overparam.architectures.registry import names as names
from overparam.architectures.registry import register as register
from overparam.architectures.registry import unregister as unregister

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module != "registry" and not _module.startswith("_"):
        importlib.import_module(f"{__name__}.{_module}")

__all__ = [
    "VECTOR_DATA",
    "Architecture",
    "View",
    "architectures",
    "build",
    "get",
    "names",
    "register",
    "unregister",
]
