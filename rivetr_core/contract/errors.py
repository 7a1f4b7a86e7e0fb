"""Domain errors: what a plugin (or a core service) raises on purpose.

Each carries a machine-readable ``code`` and the HTTP ``status`` core answers with when one reaches the API
(one mapping in ``rivetr_core.errors``); ``details`` is JSON-able extra context. Raise these, never an
HTTP-shaped error: a plugin knows nothing of Quart.
"""

from __future__ import annotations

import re
from typing import Any

#: A message's first word when it is prose (lower-case letters, maybe a hyphen or an apostrophe): what
#: :func:`sentence` capitalises. A field name, a quoted value, a path or a host (``git_url``, ``'x'``,
#: ``/data``, ``app.example.com``) is written as it is spelled and left alone, and so is a word before a colon
#: (``retries: must be ...``: the field of a nested object). Messages that start with a value spell it quoted
#: or put a word first.
_PROSE_WORD = re.compile(r"[a-z][a-z'-]*(?=[\s,;)]|$)")

#: Programs whose name is spelled lower-case even first in a sentence (``iptables is not installed``).
_AS_SPELLED = frozenset({"iptables", "iptables-restore", "ip6tables", "ssh-keygen", "mysqldump", "redis-cli"})


def sentence(message: str) -> str:
    """A message in sentence case (``must be ...`` → ``Must be ...``), the one style of the API's errors
    (issue 21): refusals written lower-case in the source (validators' ``ValueError`` texts, services' and
    plugins' errors) and pydantic's built-in messages (``Field required``) then read alike, in the API, the CLI
    and the dashboard."""
    word = _PROSE_WORD.match(message)
    if word is None or word.group() in _AS_SPELLED:
        return message
    return message[:1].upper() + message[1:]


class RivetrError(Exception):
    """Base of every error a plugin may raise on purpose. ``code`` is the machine-readable API error code."""

    code = "rivetr_error"
    status = 500

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:  # a more precise code for this one case (e.g. ``app_deleting`` for a conflict)
            self.code = code


class NotFound(RivetrError):
    """What a request names does not exist (an app, a deployment, a project...). Raise
    ``NotFound.of("app", app_id)`` for the usual message and ``details={"id": ...}``."""

    code = "not_found"
    status = 404

    @classmethod
    def of(cls, what: str, ident: str) -> NotFound:
        return cls(f"{what} {ident!r} not found", details={"id": ident})

    @classmethod
    def on(cls, field: str, message: str) -> NotFound:
        """A body field that references nothing (``project_id`` of no project): a 404 naming the field,
        ``details`` ``[{"field", "message"}]`` as validation errors have."""
        message = sentence(message)
        return cls(f"{field}: {message}", details=[{"field": field, "message": message}])


class Conflict(RivetrError):
    """The request is valid but clashes with the current state: a name or domain already taken, an app
    being deleted, a deployment that can no longer be cancelled."""

    code = "conflict"
    status = 409

    @classmethod
    def on(cls, field: str, message: str, *, summary: str | None = None) -> Conflict:
        """A clash on one input field: ``details`` is ``[{"field", "message"}]`` as validation errors have."""
        message = sentence(message)
        text = sentence(summary) if summary else message
        return cls(f"{field}: {text}", details=[{"field": field, "message": message}])


class ValidationFailed(RivetrError):
    """Input that is well-formed but not acceptable here (a check that needs the database or the installed
    plugins). Raise ``ValidationFailed.on("field", "why")``; ``details`` then names the field, in the shape
    of the API's schema validation errors."""

    code = "validation_error"
    status = 422

    @classmethod
    def on(cls, field: str | None, message: str, **extra: Any) -> ValidationFailed:
        """``extra`` goes into the field's detail, e.g. ``available=[...]`` names the accepted values."""
        message = sentence(message)
        text = f"{field}: {message}" if field else message
        return cls(text, details=[{"field": field, "message": message, **extra}])


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


class ExecFailed(RivetrError):
    """A command run in a container (a dump streamed out by ``exec_output``) exited with a non-zero code.
    ``stderr_tail`` holds the end of what it wrote to stderr; the message quotes its last line."""

    code = "exec_failed"
    status = 500

    def __init__(self, exit_code: int, stderr_tail: str = "", *, message: str | None = None) -> None:
        last = stderr_tail.strip().splitlines()[-1].strip() if stderr_tail.strip() else ""
        text = message or f"command exited with code {exit_code}" + (f": {last[:300]}" if last else "")
        super().__init__(text, details={"exit_code": exit_code, "stderr_tail": stderr_tail})
        self.exit_code = exit_code
        self.stderr_tail = stderr_tail


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
