"""Validators shared by the API models: domains, upstream addresses, DNS-safe names."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")

# The same rules as JSON Schema patterns for the API document (ECMA syntax, no lookarounds): what a pattern admits
# the checks below accept, so a client that follows the document is never refused.
NAME_PATTERN = _NAME.pattern
_LABEL_PATTERN = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
#: A host name of two or more labels (or localhost), optionally a ``*.`` wildcard.
DOMAIN_PATTERN = rf"^(?:\*\.)?(?:(?:{_LABEL_PATTERN}\.)+{_LABEL_PATTERN}|localhost)$"
_PORT_PATTERN = r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
#: ``host:port`` (the check also takes ``[v6]:port``).
UPSTREAM_PATTERN = rf"^[A-Za-z0-9.-]+:{_PORT_PATTERN}$"
#: JSON Schema of a host-name field.
DOMAIN_SCHEMA: dict[str, Any] = {"pattern": DOMAIN_PATTERN, "maxLength": 253}
#: JSON Schema of a DNS-safe name field.
NAME_SCHEMA: dict[str, Any] = {"pattern": NAME_PATTERN, "maxLength": 63}


def check_domain(value: str, *, allow_wildcard: bool = True) -> str:
    """Lower-case a host name and check it: labels of a-z0-9-, a dot somewhere, optional leading ``*.``."""
    domain = value.strip().lower().rstrip(".")
    if not domain or len(domain) > 253:
        raise ValueError("must be a host name of at most 253 characters")
    body = domain
    if domain.startswith("*."):
        if not allow_wildcard:
            raise ValueError("wildcards are not allowed here")
        body = domain[2:]
    labels = body.split(".")
    if len(labels) < 2 and body != "localhost":
        raise ValueError(f"{value!r} is not a fully qualified host name (e.g. app.example.com)")
    if not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"{value!r} is not a valid host name (letters, digits and '-' per label)")
    return domain


def check_upstream(value: str) -> str:
    """``host:port`` or ``[v6]:port`` with a port in 1..65535."""
    text = value.strip()
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"{value!r} must be host:port")
        ipaddress.IPv6Address(host)
    else:
        host, sep, port = text.rpartition(":")
        if not sep or not host:
            raise ValueError(f"{value!r} must be host:port")
        if not re.match(r"^[A-Za-z0-9.-]+$", host):
            raise ValueError(f"{value!r} has an invalid host")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{value!r} has an invalid port")
    return text


def check_name(value: str) -> str:
    """DNS-label-safe name: lower-case letters, digits and '-', 1-63 characters, no leading/trailing '-'."""
    if not _NAME.match(value):
        raise ValueError("must be 1-63 lower-case letters, digits or '-', starting and ending alphanumeric")
    return value
