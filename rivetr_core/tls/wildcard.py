"""Which wildcard certificate name would serve a host: the rule the proxy applies by SNI (one label deep, as
TLS clients check wildcards), kept here without ``cryptography`` so answering it costs the control plane nothing.
"""

from __future__ import annotations


def covering_wildcard(domain: str) -> str | None:
    """``*.example.com`` for ``a.example.com``; None for a wildcard itself, a single label, or a name whose
    parent is a bare top-level label (``*.com`` is no certificate anyone can hold)."""
    domain = domain.lower().rstrip(".")
    if domain.startswith("*."):
        return None
    rest = domain.partition(".")[2]
    if "." not in rest:
        return None
    return "*." + rest
