"""Rivetr builder ``nixpacks``: builds with the Nixpacks CLI when it is on PATH (docs/builders-optional.md)."""
