"""Per-client token-bucket rate limiting for the control plane.

The client is the socket peer. ``X-Forwarded-For`` is believed only when the peer is in
``[server] trusted_proxies``, and then we take the right-most address that is not itself trusted, so a client
cannot pick its own identity by sending the header.
"""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass

from quart import Quart, request

from .errors import ApiError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: list[str]) -> list[Network]:
    return [ipaddress.ip_network(e, strict=False) for e in entries]


def _trusted(address: str, networks: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(peer: str | None, forwarded_for: str | None, trusted: list[Network]) -> str:
    peer = peer or "unknown"
    if not forwarded_for or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBucketLimiter:
    """``rate`` tokens per second up to ``burst``; one request costs one token."""

    def __init__(self, rate_per_minute: int, burst: int, max_clients: int = 50_000) -> None:
        self.rate = rate_per_minute / 60.0
        self.burst = float(burst)
        self.max_clients = max_clients
        self._buckets: dict[str, _Bucket] = {}

    def hit(self, key: str, now: float | None = None) -> float:
        """Take a token; return 0 when allowed, else the seconds until one is available."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_clients:
                self._evict(now)
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate

    def _evict(self, now: float) -> None:
        # Buckets that have refilled completely carry no information: dropping them is lossless.
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.updated) * self.rate >= self.burst]
        for key in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[key]


def current_client(app: Quart) -> str:
    trusted: list[Network] = app.extensions["rivetr_trusted_proxies"]
    return client_address(request.remote_addr, request.headers.get("X-Forwarded-For"), trusted)


def rate_limited_path(path: str) -> bool:
    """Whether the limiter counts requests to ``path`` (/openapi.json declares 429 there)."""
    return path.startswith(("/api/", "/webhooks/", "/login", "/setup", "/invite/", "/reset/"))


#: POSTs that try a credential, counted in the (small) login bucket: both steps of a login with two-factor (the
#: dashboard's second step posts to /login again; a passkey's options are asked for in between), and first-run
#: setup.
LOGIN_BUCKET_PATHS = frozenset(
    {
        "/api/auth/login",
        "/api/auth/login/2fa",
        "/api/auth/login/2fa/passkey/options",
        "/login",
        "/api/auth/setup",
        "/setup",
    }
)


def tries_a_credential(path: str) -> bool:
    """A POST of ``path`` counts in the login bucket: a login step, setup, or redeeming a one-time link (accepting
    an invitation, resetting a password: the link's token is a credential a guesser could try)."""
    if path in LOGIN_BUCKET_PATHS:
        return True
    parts = path.split("/")
    return (len(parts) == 5 and parts[1:3] == ["api", "invitations"] and parts[4] == "accept") or (
        (len(parts) == 5 and parts[1:4] == ["api", "auth", "reset"])
        or (len(parts) == 3 and parts[1] in ("invite", "reset"))
    )


def install_rate_limit(app: Quart, *, per_minute: int, burst: int, login_per_minute: int) -> None:
    """Token buckets per client; ``app.extensions["rivetr_trusted_proxies"]`` must be set (create_app does)."""
    general = TokenBucketLimiter(per_minute, burst)
    login = TokenBucketLimiter(login_per_minute, max(1, min(login_per_minute, 5)))

    @app.before_request
    async def _limit() -> None:
        if not rate_limited_path(request.path):
            return
        client = current_client(app)
        limiter = login if request.method == "POST" and tries_a_credential(request.path) else general
        wait = limiter.hit(client)
        if wait:
            raise ApiError(
                429,
                "too many requests; slow down",
                details={"retry_after": math.ceil(wait)},
                headers={"Retry-After": str(math.ceil(wait))},
            )
