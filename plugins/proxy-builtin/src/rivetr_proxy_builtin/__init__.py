"""Rivetr's own reverse proxy data plane (asyncio + httptools + uvloop)."""

__version__ = "0.1.0"
