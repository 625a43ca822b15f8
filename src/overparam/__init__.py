"""overparam: the convergence theory of over-parameterized deep networks, measured."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("overparam")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
