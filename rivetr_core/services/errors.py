"""Domain errors of core's services beyond the contract's (:mod:`rivetr_core.contract.errors`)."""

from __future__ import annotations

from rivetr_core.contract.errors import RivetrError


class ServiceNotRunning(RivetrError):
    """A part of the control plane the request needs has not started, or was stopped (the deployment
    pipeline, the cleanup...)."""

    code = "unavailable"
    status = 503
