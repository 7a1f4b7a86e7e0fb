"""Route keys and route settings checks (issue 22: path routes, redirects, basic auth).

A route is identified by (domain, path prefix); its *key* is the domain followed by the prefix unless that is
``/``: ``api.example.com`` and ``api.example.com/v1``. Keys are what app and stack domain lists hold and what
the key columns store, so "a domain is unique across apps" became "a key is unique" with no new rule to keep.
"""

from __future__ import annotations

import re
from typing import Any

from .validation import DOMAIN_PATTERN, check_domain

REDIRECT_STATUSES = (301, 302, 307, 308)
REDIRECT_WWW = ("to-apex", "to-www")
#: JSON Schema pattern of a path prefix as the API takes it.
#: One path segment of a prefix: not "." or "..".
_SEGMENT_PATTERN = r"(?!\.\.?(?:/|$))[A-Za-z0-9._~!$&'()*+,;=:@-]+"
PREFIX_PATTERN = rf"^/({_SEGMENT_PATTERN}(/{_SEGMENT_PATTERN})*)?/?$"
#: JSON Schema pattern of a redirect target: a path (not //host) or an http(s) URL, printable ASCII.
TARGET_PATTERN = r"^(/(?!/)|https?://)[!-~]*$"
_SEGMENT = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@-]+$")
#: bcrypt cost of the hashes the API makes: ~50 ms to verify, once a minute per user and worker (cached).
BCRYPT_ROUNDS = 10


def split_key(key: str) -> tuple[str, str]:
    """``"api.example.com/v1"`` → ``("api.example.com", "/v1")``; ``"example.com"`` → ``("example.com", "/")``."""
    host, slash, rest = key.partition("/")
    return host, ("/" + rest) if slash else "/"


def make_key(domain: str, prefix: str = "/") -> str:
    return domain if prefix == "/" else domain + prefix


def check_prefix(value: str | None) -> str:
    """A path prefix: ``/`` or ``/seg/seg`` (a trailing slash is dropped); no empty, ``.`` or ``..`` segment,
    no percent sign, query or fragment (prefixes are matched on the decoded path)."""
    p = (value or "/").strip()
    if not p.startswith("/"):
        p = "/" + p
    p = p.rstrip("/") or "/"
    if p != "/":
        segments = p[1:].split("/")
        if any(s in (".", "..") or not _SEGMENT.match(s) for s in segments):
            raise ValueError(f"{value!r} is not a path prefix like /api or /v1/admin")
    if len(p) > 300:
        raise ValueError("a path prefix has at most 300 characters")
    return p


def check_route_target(value: str, *, allow_wildcard: bool = True) -> str:
    """An app's or stack's domain entry: ``app.example.com`` or ``api.example.com/v1`` → its key."""
    host, _, rest = value.strip().partition("/")
    domain = check_domain(host, allow_wildcard=allow_wildcard)
    return make_key(domain, check_prefix("/" + rest))


def check_redirects(rules: list[Any]) -> list[dict[str, Any]]:
    """``[{"from": "/old", "to": "/new" or "https://…", "status": 301}]`` checked, in order."""
    out = []
    for i, rule in enumerate(rules):
        data = rule if isinstance(rule, dict) else rule.model_dump()
        try:
            source = check_prefix(str(data.get("from") or ""))
        except ValueError as exc:
            raise ValueError(f"redirects[{i}].from: {exc}") from None
        target = str(data.get("to") or "").strip()
        if (
            not target
            or len(target) > 2000
            or any(ord(c) < 33 or ord(c) == 127 for c in target)
            or target.startswith("//")
            or not (target.startswith("/") or target.startswith(("http://", "https://")))
        ):
            raise ValueError(f"redirects[{i}].to: a path (/new) or an http(s) URL without spaces")
        status = int(data.get("status") or 301)
        if status not in REDIRECT_STATUSES:
            raise ValueError(f"redirects[{i}].status: one of 301, 302, 307, 308")
        out.append({"from": source, "to": target, "status": status})
    return out


def is_password_hash(value: str) -> bool:
    """A bcrypt (``$2a$``/``$2b$``/``$2y$``) or argon2 (``$argon2…$``) hash the proxy can verify."""
    return bool(re.match(r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$", value)) or bool(
        re.match(r"^\$argon2(id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$", value)
    )


def hash_password(password: str) -> str:
    """bcrypt, imported here only: hashing happens when someone sets a password, never at start-up."""
    import bcrypt

    data = password.encode()
    if len(data) > 72:
        raise ValueError("a password has at most 72 bytes (bcrypt's limit)")
    return bcrypt.hashpw(data, bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode()


#: JSON Schema of an app's or stack's domain entry: a host name, optionally followed by a path prefix.
ROUTE_TARGET_SCHEMA: dict[str, Any] = {
    "pattern": DOMAIN_PATTERN[:-1] + rf"(?:/{_SEGMENT_PATTERN})*/?$",
    "maxLength": 553,
}

#: JSON Schema pattern of a password hash the proxy verifies (what :func:`is_password_hash` takes).
HASH_PATTERN = (
    r"^(\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}"
    r"|\$argon2(id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+)$"
)
