"""lfl: loss-function landscapes of neural networks, explored with energy-landscape methods."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lfl")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"
