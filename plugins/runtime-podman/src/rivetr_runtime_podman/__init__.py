"""Container runtime for Podman (its Docker-compatible API socket)."""

__version__ = "0.1.0"
