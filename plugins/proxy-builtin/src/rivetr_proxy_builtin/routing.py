"""Host (and path) → route lookup for the worker's hot path: exact names first, then the most specific ``*.``
wildcard; within a host, the longest path prefix on a segment boundary.

Routes arrive as plain dicts from the master (``{"domain", "path_prefix", "upstreams", "https_redirect",
"hsts", ...}``; the rule keys are read by :mod:`.route_rules`); a :class:`RouteTable` is immutable once built,
so a route change is one attribute swap in the worker (atomic with respect to every request: a request sees
either the old table or the new one, never a mix).

A host served by one ``/`` route without rules maps straight to its :class:`RouteEntry` whose ``special`` is
None: the hot path pays one attribute test for path routing, redirects and basic auth. Every other host maps to
an entry whose ``special`` (a :class:`.route_rules.Rules`) says what to do first.
"""

from __future__ import annotations

from typing import Any

from .error_pages import route_pages
from .route_rules import Rules, route_rules, www_redirect


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


def normalize_prefix(prefix: str | None) -> str:
    """``None``/``""``/``"/"`` → ``"/"``; ``"v1/"`` → ``"/v1"``: a leading slash, no trailing one, no empty,
    ``.``/``..`` segments, query, fragment or percent sign (a prefix is matched on the decoded path)."""
    p = (prefix or "/").strip()
    if not p.startswith("/"):
        p = "/" + p
    p = p.rstrip("/") or "/"
    if p != "/":
        segments = p[1:].split("/")
        if any(s in ("", ".", "..") for s in segments) or any(c in p for c in "?#% \t\\"):
            raise ValueError(f"invalid path prefix {prefix!r}")
    return p


def route_key(domain: str, prefix: str = "/") -> str:
    """The key of a route: its domain, followed by its path prefix unless that is ``/``."""
    return domain if prefix == "/" else domain + prefix


class Upstream:
    __slots__ = ("addr", "host", "port")

    def __init__(self, addr: str) -> None:
        self.addr = addr
        self.host, self.port = split_address(addr)


#: The route dict's ``load_balancer`` values: ``round_robin`` (the default) and ``least_conn``.
LOAD_BALANCERS = ("round_robin", "least_conn")


class RouteEntry:
    __slots__ = (
        "compress",
        "counts",
        "domain",
        "hsts",
        "https_redirect",
        "pages",
        "rr",
        "special",
        "upstreams",
    )

    def __init__(
        self,
        domain: str,
        upstreams: list[Upstream],
        https_redirect: bool,
        hsts: bool,
        special: Rules | None = None,
    ) -> None:
        #: The route key (``example.com``, ``example.com/v1``): what counters and logs name the route by.
        self.domain = domain
        self.upstreams = upstreams
        self.https_redirect = https_redirect
        self.hsts = hsts
        self.compress = True  # response compression (the route dict's "compression" key; see .compress)
        self.pages: dict[int, bytes] | None = None  # the app's own 502/503/504 pages (see .error_pages)
        #: None for a plain route; path dispatch, redirects, auth or stripping otherwise (see route_rules).
        self.special = special
        self.rr = -1  # round-robin cursor; per worker, which is fine: each worker spreads its own load
        #: least_conn: the worker's requests in flight per upstream address (``Worker.active``, shared by every
        #: route, so an upstream two routes use counts the requests of both); None: round robin.
        self.counts: dict[str, int] | None = None

    def pick(self, unhealthy: frozenset[str] | set[str]) -> Upstream | None:
        ups = self.upstreams
        n = len(ups)
        if n == 1:
            u = ups[0]
            return None if u.addr in unhealthy else u
        counts = self.counts
        if counts is not None:
            return self._least(ups, n, unhealthy, counts)
        for _ in range(n):
            self.rr = i = (self.rr + 1) % n
            u = ups[i]
            if u.addr not in unhealthy:
                return u
        return None

    def _least(
        self, ups: list[Upstream], n: int, unhealthy: frozenset[str] | set[str], counts: dict[str, int]
    ) -> Upstream | None:
        """The healthy upstream with the fewest requests in flight. The search starts after the round-robin
        cursor and the cursor moves to the one chosen, so equally loaded upstreams still take turns (an idle
        route alternates exactly like round robin)."""
        best: Upstream | None = None
        best_count = best_i = 0
        start = self.rr + 1
        for k in range(n):
            i = (start + k) % n
            u = ups[i]
            if u.addr in unhealthy:
                continue
            count = counts.get(u.addr, 0)
            if best is None or count < best_count:
                best, best_count, best_i = u, count, i
                if not count:
                    break  # nothing beats an idle upstream
        if best is not None:
            self.rr = best_i
        return best


#: Host values a table remembers (see RouteTable.remember); beyond it the others take the normalising path.
HOST_CACHE_MAX = 1024


class RouteTable:
    __slots__ = ("entries", "exact", "hosts", "upstream_addrs", "wild", "with_pages")

    def __init__(
        self, routes: list[dict[str, Any]] | None = None, counts: dict[str, int] | None = None
    ) -> None:
        """``counts``: the worker's in-flight requests per upstream address, for the least_conn routes (a
        table made without it counts nothing: its least_conn routes take turns)."""
        self.exact: dict[bytes, RouteEntry] = {}
        self.wild: dict[bytes, RouteEntry] = {}  # key: the suffix after "*.", e.g. b"example.com"
        #: Raw Host value as clients send it (``Example.com:8080``) → (route key, entry): one dict lookup per
        #: request instead of lower-casing, port stripping and the lookup. Dies with the table, so a route
        #: change can never leave a stale answer.
        self.hosts: dict[bytes, tuple[bytes, RouteEntry]] = {}
        #: Every route's entry (the ones requests are counted under), path routes included.
        self.entries: list[RouteEntry] = []
        #: The entries with error pages of their own (.error_pages looks a failed exchange's route up here).
        self.with_pages: list[RouteEntry] = []
        addrs: set[str] = set()
        hosts: dict[str, dict[str, RouteEntry]] = {}
        www: dict[str, str] = {}  # the other name → the canonical one
        for r in routes or ():
            domain = normalize_domain(r["domain"])
            prefix = normalize_prefix(r.get("path_prefix"))
            ups = [Upstream(a) for a in r["upstreams"]]
            addrs.update(u.addr for u in ups)
            key = route_key(domain, prefix)
            entry = RouteEntry(
                key, ups, bool(r.get("https_redirect")), bool(r.get("hsts")), route_rules(r, prefix)
            )
            entry.compress = r.get("compression") is not False
            if r.get("load_balancer") == "least_conn":
                entry.counts = counts if counts is not None else {}
            if r.get("error_pages"):
                entry.pages = route_pages(r)
                self.with_pages.append(entry)
            self.entries.append(entry)
            hosts.setdefault(domain, {})[prefix] = entry
            mode = r.get("redirect_www") if prefix == "/" and not domain.startswith("*.") else None
            if mode == "to-apex" and domain.count(".") >= 1:
                www["www." + domain] = domain
            elif mode == "to-www" and domain.startswith("www."):
                www[domain[4:]] = domain
        for domain, by_prefix in hosts.items():
            root = by_prefix.get("/")
            if len(by_prefix) == 1 and root is not None:
                host_entry = root
            else:
                # A dispatcher: the longest prefix wins; its flags are the root route's (TLS is per domain).
                paths = sorted(
                    ((p.encode(), e) for p, e in by_prefix.items()), key=lambda pe: len(pe[0]), reverse=True
                )
                flags = root or next(iter(by_prefix.values()))
                host_entry = RouteEntry(domain, [], flags.https_redirect, flags.hsts, Rules(paths=paths))
            if domain.startswith("*."):
                self.wild[domain[2:].encode()] = host_entry
            else:
                self.exact[domain.encode()] = host_entry
        for other, canonical in www.items():
            if other.encode() not in self.exact:  # a name with its own route keeps it
                target = self.exact[canonical.encode()]
                self.exact[other.encode()] = RouteEntry(
                    other, [], target.https_redirect, target.hsts, www_redirect(canonical)
                )
        self.upstream_addrs = frozenset(addrs)

    def remember(self, raw: bytes, key: bytes, entry: RouteEntry) -> None:
        """Cache a matched Host value. Bounded, and only hits: random names (a scan, a flood) cannot grow it
        past HOST_CACHE_MAX; after that, new names are simply routed the long way."""
        if len(self.hosts) < HOST_CACHE_MAX:
            self.hosts[raw] = (key, entry)

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


def route_key_of(r: dict[str, Any]) -> str:
    """The key of a (clean) route dict."""
    return route_key(r["domain"], r.get("path_prefix") or "/")
