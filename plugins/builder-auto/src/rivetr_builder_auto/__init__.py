"""Rivetr zero-config builder ``autodetect`` (see :mod:`rivetr_builder_auto.builder` and docs/builds.md)."""
