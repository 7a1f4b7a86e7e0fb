"""Rivetr builder ``buildpacks``: Cloud Native Buildpacks through the pack CLI when it is on PATH (docs/builders-optional.md)."""
