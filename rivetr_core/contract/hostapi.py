"""Small helpers the git provider plugins share for talking to a host's REST API.

Pure and dependency-light (httpx responses are typed loosely): a provider imports these instead of
repeating error handling and pagination parsing.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import GitApiError

_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def expect_ok(response: Any, what: str) -> Any:
    """Decoded JSON of a 2xx response; :class:`GitApiError` naming ``what`` and the host status otherwise.

    The host's own message is included (truncated) because it is what tells an operator that a token
    lacks a scope; token values never appear in these bodies.
    """
    status = response.status_code
    if status >= 400:
        detail = ""
        try:
            body = response.json()
            detail = str(body.get("message") or body.get("error_description") or body.get("error") or "")
        except Exception:
            detail = (response.text or "")[:200]
        raise GitApiError(
            f"{what} failed: host answered {status}" + (f" ({detail[:200]})" if detail else ""),
            host_status=status,
        )
    if status == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise GitApiError(f"{what} failed: host answered non-JSON", host_status=status) from None


def link_has_next(link_header: str | None) -> bool:
    """True when an RFC 8288 ``Link`` header (GitHub, Gitea) names a ``rel="next"`` page."""
    return bool(link_header and _LINK_NEXT.search(link_header))


def join(api_url: str, path: str) -> str:
    return api_url.rstrip("/") + "/" + path.lstrip("/")
