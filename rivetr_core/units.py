"""Old import path of :mod:`rivetr_core.contract.units` (human sizes and CPU amounts), kept working."""

from rivetr_core.contract.units import parse_cpus, parse_size

__all__ = ["parse_cpus", "parse_size"]
