"""Container runtime for the Docker Engine (docker SDK)."""

from . import _requests_import  # noqa: F401  # before any module of the package imports docker (and requests)

__version__ = "0.1.0"
