"""Old import path of :mod:`rivetr_core.contract.hostapi` (the git-host REST helpers), kept working."""

from rivetr_core.contract.hostapi import expect_ok, join, link_has_next

__all__ = ["expect_ok", "join", "link_has_next"]
