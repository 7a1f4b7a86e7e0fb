"""Domain errors: what a plugin (or a core service) raises on purpose.

Each carries a machine-readable ``code`` and the HTTP ``status`` core answers with when one reaches the API
(one mapping in ``rivetr_core.errors``); ``details`` is JSON-able extra context. Raise these, never an
HTTP-shaped error: a plugin knows nothing of Quart.
"""

from __future__ import annotations

from typing import Any


class RivetrError(Exception):
    """Base of every error a plugin may raise on purpose. ``code`` is the machine-readable API error code."""

    code = "rivetr_error"
    status = 500

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class RuntimeUnavailable(RivetrError):
    """The container engine does not answer (socket missing, daemon stopped mid-way)."""

    code = "runtime_unavailable"
    status = 503


class BuildFailed(RivetrError):
    """An image build failed. ``log_tail`` holds the last lines of the build log."""

    code = "build_failed"
    status = 422

    def __init__(self, message: str, *, log_tail: list[str] | None = None, exit_code: int | None = None):
        super().__init__(message, details={"log_tail": log_tail or [], "exit_code": exit_code})
        self.log_tail = log_tail or []
        self.exit_code = exit_code


class ImageNotFound(RivetrError):
    """An image (a base image named in a Dockerfile, or one to run) is not present locally."""

    code = "image_not_found"
    status = 404


class ContainerNotFound(RivetrError):
    code = "container_not_found"
    status = 404


class PortInUse(RivetrError):
    """The requested host port is already bound."""

    code = "port_in_use"
    status = 409


class ProxyError(RivetrError):
    code = "proxy_error"
    status = 502


class GitApiError(RivetrError):
    """The git host's API refused or failed a call (``status`` is the host's HTTP status when known)."""

    code = "git_provider_error"
    status = 502

    def __init__(self, message: str, *, host_status: int | None = None) -> None:
        super().__init__(message, details={"host_status": host_status})
        self.host_status = host_status
