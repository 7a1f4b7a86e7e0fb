"""Container runtime for the Docker Engine (docker SDK)."""

__version__ = "0.1.0"
