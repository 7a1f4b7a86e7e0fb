"""Host → route lookup for the worker's hot path: exact names first, then the most specific ``*.`` wildcard.

Routes arrive as plain dicts (``{"domain", "upstreams", "https_redirect", "hsts"}``) from the master; a
:class:`RouteTable` is immutable once built, so a route change is one attribute swap in the worker (atomic
with respect to every request: a request sees either the old table or the new one, never a mix).
"""

from __future__ import annotations

from typing import Any


def split_address(address: str) -> tuple[str, int]:
    """``"127.0.0.1:8000"`` / ``"[::1]:8000"`` / ``"name:8000"`` → (host, port)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"upstream must be host:port, got {address!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        raise ValueError(f"upstream must be host:port, got {address!r}")
    return host, int(port)


def normalize_domain(domain: str) -> str:
    d = domain.strip().lower().rstrip(".")
    if not d or " " in d or "/" in d or ":" in d:
        raise ValueError(f"invalid domain {domain!r}")
    if "*" in d and (not d.startswith("*.") or "*" in d[2:]):
        raise ValueError(f"wildcards must look like *.example.com, got {domain!r}")
    return d


class Upstream:
    __slots__ = ("addr", "host", "port")

    def __init__(self, addr: str) -> None:
        self.addr = addr
        self.host, self.port = split_address(addr)


class RouteEntry:
    __slots__ = ("domain", "hsts", "https_redirect", "rr", "upstreams")

    def __init__(self, domain: str, upstreams: list[Upstream], https_redirect: bool, hsts: bool) -> None:
        self.domain = domain
        self.upstreams = upstreams
        self.https_redirect = https_redirect
        self.hsts = hsts
        self.rr = -1  # round-robin cursor; per worker, which is fine: each worker spreads its own load

    def pick(self, unhealthy: frozenset[str] | set[str]) -> Upstream | None:
        ups = self.upstreams
        n = len(ups)
        if n == 1:
            u = ups[0]
            return None if u.addr in unhealthy else u
        for _ in range(n):
            self.rr = i = (self.rr + 1) % n
            u = ups[i]
            if u.addr not in unhealthy:
                return u
        return None


class RouteTable:
    __slots__ = ("exact", "upstream_addrs", "wild")

    def __init__(self, routes: list[dict[str, Any]] | None = None) -> None:
        self.exact: dict[bytes, RouteEntry] = {}
        self.wild: dict[bytes, RouteEntry] = {}  # key: the suffix after "*.", e.g. b"example.com"
        addrs: set[str] = set()
        for r in routes or ():
            domain = normalize_domain(r["domain"])
            ups = [Upstream(a) for a in r["upstreams"]]
            addrs.update(u.addr for u in ups)
            entry = RouteEntry(domain, ups, bool(r.get("https_redirect")), bool(r.get("hsts")))
            if domain.startswith("*."):
                self.wild[domain[2:].encode()] = entry
            else:
                self.exact[domain.encode()] = entry
        self.upstream_addrs = frozenset(addrs)

    def lookup(self, host: bytes) -> RouteEntry | None:
        """``host`` is the lower-cased Host header without port."""
        entry = self.exact.get(host)
        if entry is not None or not self.wild:
            return entry
        # Most specific wildcard wins: a.b.example.com tries *.b.example.com, then *.example.com, …
        rest = host
        while True:
            dot = rest.find(b".")
            if dot < 0:
                return None
            rest = rest[dot + 1 :]
            entry = self.wild.get(rest)
            if entry is not None:
                return entry
