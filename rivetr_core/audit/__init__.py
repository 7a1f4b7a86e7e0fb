"""Audit log: who changed what, from where, with what result.

Recorded (by an after-request hook, see :func:`.recorder.install_audit`): every ``POST/PUT/PATCH/DELETE`` on
``/api/*`` (refused ones too: 401, 403, 422, 429…), every login and first-run setup attempt (API and dashboard
form), and incoming git webhooks. Each entry holds the principal (``request.rivetr_principal``; for logins the
submitted user name), method, URL template, an action name, the ids in the URL, the response status, the
client address (socket peer, or ``X-Forwarded-For`` only from ``[server] trusted_proxies``), the request id,
the time and the team (:mod:`.teams`: the team the request acted in, else the team of the resource its URL
names; a team's admins read only their team's entries). Request bodies are never stored: they may hold
passwords, env values and tokens.

Read it with ``GET /api/audit`` (:mod:`rivetr_core.api.audit`) or :class:`.recorder.AuditLog`.
"""

from .recorder import AuditLog, install_audit

__all__ = ["AuditLog", "install_audit"]
