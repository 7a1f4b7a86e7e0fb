"""Constant-time webhook signature checks shared by the git provider plugins.

Pure functions with no Rivetr state: providers call them from ``verify_webhook``. Every check returns False
(never raises) for a missing, malformed or wrong signature, and compares with :func:`hmac.compare_digest`
so timing reveals nothing about the expected value.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup that works for plain dicts too (Werkzeug headers already are)."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, val in headers.items():
        if key.lower() == lowered:
            return val
    return None


def json_object(body: bytes) -> dict[str, Any]:
    """A webhook body parsed as a JSON object; ValueError (answered 400) for anything else."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("webhook body is not JSON") from None
    if not isinstance(payload, dict):
        raise ValueError("webhook body is not a JSON object")
    return payload


def hmac_sha256_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_hmac_sha256(signature: str | None, secret: str, body: bytes, *, prefix: str = "") -> bool:
    """True when ``signature`` is ``prefix + hex(HMAC-SHA256(secret, body))``.

    ``prefix`` is ``"sha256="`` for GitHub's ``X-Hub-Signature-256`` and Bitbucket's ``X-Hub-Signature``,
    empty for Gitea's ``X-Gitea-Signature``. An empty secret never verifies (fail closed).
    """
    if not secret or not signature:
        return False
    signature = signature.strip()
    if prefix:
        if not signature.lower().startswith(prefix):
            return False
        signature = signature[len(prefix) :]
    expected = hmac_sha256_hex(secret, body)
    return hmac.compare_digest(signature.lower().encode(), expected.encode())


def verify_token(given: str | None, secret: str) -> bool:
    """Constant-time equality of a shared token (GitLab's ``X-Gitlab-Token``). Empty never verifies."""
    if not secret or given is None:
        return False
    return hmac.compare_digest(given.encode(), secret.encode())
