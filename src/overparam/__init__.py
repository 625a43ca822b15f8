"""overparam: the convergence theory of over-parameterized deep networks, measured.

The top level holds the entry points for any ``torch.nn.Module`` (imported on first use, so
``import overparam`` stays light): :func:`measure` trains a model with the proof probes
attached, :func:`track` measures inside a user's own training loop, :func:`width_sweep` fits a
model family's lazy-regime scaling, :class:`Linearized` is the first-order model
f(theta_0) + J(theta_0)(theta - theta_0), and :class:`History` is what a run returns.
"""

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("overparam")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"

_WHERE = {
    "History": "overparam.train.history",
    "Linearized": "overparam.ntk.linearized",
    "Tracker": "overparam.byon.track",
    "WidthSweep": "overparam.byon.width_sweep",
    "measure": "overparam.byon.measure",
    "track": "overparam.byon.track",
    "width_sweep": "overparam.byon.width_sweep",
}

__all__ = ["__version__", *sorted(_WHERE)]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'overparam' has no attribute {name!r}")
