"""What a route does besides forwarding: path dispatch, prefix stripping, redirects and basic auth.

Only hosts that use one of them carry a :class:`Rules` (``RouteEntry.special``); :func:`apply_rules` runs for
them alone, so a plain host costs the hot path one attribute test. Order, per request:

1. ``www`` ↔ apex: the other name answers 301 (GET/HEAD) or 308 to the canonical one, path and query kept;
2. path dispatch: the longest route prefix of the host on a segment boundary (``/v1`` matches ``/v1`` and
   ``/v1/x``, never ``/v10``); the path is decoded and its dot segments resolved first, so ``/%761`` or
   ``/x/../v1`` cannot reach another route than the app would see; no match is a 404;
3. the matched route's redirect rules, in order, by the same prefix match (the rest of the path and the query
   are appended to the target);
4. basic auth (skipped when the request is about to be redirected to HTTPS: credentials never travel in clear
   for a site that has a certificate); the Authorization header is not forwarded;
5. prefix stripping: ``/v1/x?q`` reaches the app as ``/x?q`` (``/v1`` as ``/``), with ``X-Forwarded-Prefix``;
6. ``upstream_protocol = "h2c"`` (gRPC): HTTP/2 streams go to the app over HTTP/2 cleartext (:mod:`.h2upstream`,
   dispatched by :mod:`.h2conn`); an HTTP/1.1 request gets 505 here (it has no HTTP/2 stream to forward).
"""

from __future__ import annotations

import hashlib
import os
import time
from binascii import Error as BinasciiError
from binascii import a2b_base64
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_from_bytes, unquote_to_bytes

from .error_pages import clean_pages, maintenance_response
from .http11 import error_response

if TYPE_CHECKING:
    from .client import ClientConn
    from .exchange import Exchange
    from .routing import RouteEntry

REDIRECT_STATUSES = {
    301: b"Moved Permanently",
    302: b"Found",
    307: b"Temporary Redirect",
    308: b"Permanent Redirect",
}

#: A successful (realm, user, password, hash) stays verified this long: bcrypt/argon2 cost tens of ms each, the
#: cache makes a protected site as fast as an open one. Failed ones are remembered too (a client retrying the
#: same wrong password must not cost a hash per request).
CACHE_SECONDS = 60.0
_CACHE_MAX = 10_000
# Keyed hashes of credentials, never the credentials: a per-process random key, so nothing in memory is a
# password or an offline-crackable digest of one.
_CACHE_KEY = os.urandom(32)
_cache: dict[bytes, tuple[float, bool]] = {}
#: Password hashes verified per second per worker at most. Each takes the event loop for tens of milliseconds,
#: so unbounded, a flood of made-up credentials would stall every site the worker serves; beyond the budget a
#: request with credentials the cache does not know answers 429 (the cache keeps serving known ones).
VERIFY_PER_SECOND = 8
_budget = [0.0, 0]  # [window start, verifications in it]
#: The route dict's ``upstream_protocol`` values: HTTP/1.1 (the default) or HTTP/2 cleartext with prior knowledge.
UPSTREAM_PROTOCOLS = ("http1", "h2c")
_H2_ONLY_BODY = b"This route speaks HTTP/2 only (gRPC): connect over HTTPS with HTTP/2.\n"
H2_ONLY = (
    b"HTTP/1.1 505 HTTP Version Not Supported\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
    b"Cache-Control: no-store\r\n%%s\r\n" % len(_H2_ONLY_BODY)
) + b"%s"
THROTTLED = (
    b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 36\r\nCache-Control: no-store\r\n%s\r\nToo many login attempts; try again.\n"
)


class BasicAuth:
    __slots__ = ("challenge", "ident", "realm", "users")

    def __init__(self, realm: str, users: dict[str, str]) -> None:
        self.realm = realm
        self.users = {u.encode(): h.encode() for u, h in users.items()}
        # What a cached verdict depends on besides the header: a changed realm, user or hash gives new keys, so
        # a removed user or a changed password is never admitted from the cache. The same users in a rebuilt
        # route table (every state change rebuilds it) keep their cache entries.
        self.ident = hashlib.sha256(
            repr((realm, sorted(users.items()))).encode(), usedforsecurity=False
        ).digest()
        quoted = realm.replace("\\", "\\\\").replace('"', '\\"').encode()
        body = b"Authentication required.\n"
        self.challenge = (
            b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="%s", charset="UTF-8"\r\n'
            b"Content-Type: text/plain\r\nContent-Length: %d\r\nCache-Control: no-store\r\n"
            % (quoted, len(body)),
            body,
        )

    def response(self, close: bool) -> bytes:
        head, body = self.challenge
        return head + (b"Connection: close\r\n\r\n" if close else b"\r\n") + body

    def check(self, authorization: bytes | None) -> bool | None:
        """True: admit; False: challenge (401); None: too many verifications this second (429)."""
        if authorization is None:
            return False
        # One keyed BLAKE2b of the header as sent (a MAC: without the per-process key it cannot be tested
        # against guesses) is the whole cost of a cached request; decoding and hashing wait for a miss.
        digest = hashlib.blake2b(authorization + self.ident, key=_CACHE_KEY, digest_size=32).digest()
        now = time.monotonic()
        hit = _cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        if now - _budget[0] >= 1.0:
            _budget[0], _budget[1] = now, 0
        if _budget[1] >= VERIFY_PER_SECOND:
            return None
        _budget[1] += 1
        ok = self._verify(authorization)
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        _cache[digest] = (now + CACHE_SECONDS, ok)
        return ok

    def _verify(self, authorization: bytes) -> bool:
        scheme, _, token = authorization.strip().partition(b" ")
        if scheme.lower() != b"basic":
            return False
        try:
            user, sep, password = a2b_base64(token.strip()).partition(b":")
        except (BinasciiError, ValueError):
            return False
        stored = self.users.get(user) if sep else None
        return stored is not None and verify_password(password, stored)


def verify_password(password: bytes, stored: bytes) -> bool:
    """bcrypt (``$2a$``/``$2b$``/``$2y$``) or argon2 (``$argon2id$``…) hash; anything else never matches.
    The libraries load on the first protected request only: a worker without basic auth never imports them."""
    if stored.startswith((b"$2a$", b"$2b$", b"$2y$")):
        import bcrypt

        try:
            return bool(bcrypt.checkpw(password, stored))
        except ValueError:
            return False
    if stored.startswith(b"$argon2"):
        from argon2 import PasswordHasher
        from argon2.exceptions import Argon2Error, InvalidHashError

        try:
            return bool(PasswordHasher().verify(stored.decode(), password))
        except (Argon2Error, InvalidHashError, ValueError):
            return False
    return False


class Rules:
    """A host's path dispatch (``paths``), or a route's own rules; None fields are unused."""

    __slots__ = ("auth", "canonical", "h2c", "maintenance", "paths", "prefix", "redirects", "strip")

    def __init__(
        self,
        *,
        paths: list[tuple[bytes, RouteEntry]] | None = None,
        canonical: bytes | None = None,
        prefix: bytes = b"/",
        strip: bool = False,
        redirects: list[tuple[bytes, bytes, int]] | None = None,
        auth: BasicAuth | None = None,
        maintenance: bytes | None = None,
        h2c: bool = False,
    ) -> None:
        self.paths = paths
        self.canonical = canonical
        self.prefix = prefix
        self.strip = strip and prefix != b"/"
        self.redirects = redirects or []
        self.auth = auth
        self.maintenance = maintenance  # the page answered (503) instead of forwarding (.error_pages)
        self.h2c = h2c  # upstream_protocol = "h2c": HTTP/2 clients are forwarded over h2c (.h2upstream)


def route_rules(r: dict[str, Any], prefix: str) -> Rules | None:
    """A route dict's own rules (None when it has none: the common case)."""
    strip = bool(r.get("strip_prefix")) and prefix != "/"
    redirects = [
        (_clean_prefix(x["from"]), _clean_target(x["to"]), int(x.get("status", 301)))
        for x in r.get("redirects") or ()
    ]
    for _, _, status in redirects:
        if status not in REDIRECT_STATUSES:
            raise ValueError(f"redirect status must be one of {sorted(REDIRECT_STATUSES)}, got {status}")
    auth = r.get("auth")
    basic = BasicAuth(str(auth.get("realm") or "Restricted"), dict(auth["users"])) if auth else None
    maintenance = r["maintenance"].encode() if r.get("maintenance") else None
    h2c = r.get("upstream_protocol") == "h2c"
    if not (strip or redirects or basic or maintenance or h2c):
        return None
    return Rules(
        prefix=prefix.encode(), strip=strip, redirects=redirects, auth=basic, maintenance=maintenance, h2c=h2c
    )


def www_redirect(canonical: str) -> Rules:
    return Rules(canonical=canonical.encode())


def _clean_prefix(p: str) -> bytes:
    p = "/" + str(p).strip().strip("/")
    if any(c in p for c in "?#% \r\n\t"):
        raise ValueError(f"invalid redirect source {p!r}")
    return p.encode()


def _clean_target(t: str) -> bytes:
    t = str(t).strip()
    if not t or any(ord(c) < 33 or ord(c) == 127 for c in t):
        raise ValueError(f"invalid redirect target {t!r}")
    if not (t.startswith("/") or t.startswith(("http://", "https://"))) or t.startswith("//"):
        raise ValueError(f"a redirect target is a path (/new) or an http(s) URL, got {t!r}")
    return t.encode()


def normalize_path(path: bytes) -> bytes:
    """The path as an app's router sees it: percent-decoded, empty and ``.`` segments dropped, ``..`` applied."""
    if b"%" in path:
        path = unquote_to_bytes(path)
    if b"//" not in path and b"/." not in path:
        return path
    out: list[bytes] = []
    for seg in path.split(b"/"):
        if seg == b"..":
            if out:
                out.pop()
        elif seg and seg != b".":
            out.append(seg)
    tail = b"/" if path.endswith((b"/", b"/.", b"/..")) and out else b""
    return b"/" + b"/".join(out) + tail


def _under(path: bytes, prefix: bytes) -> bool:
    return prefix == b"/" or path == prefix or path.startswith(prefix + b"/")


def _rest(raw_path: bytes, path: bytes, prefix: bytes) -> bytes:
    """What follows ``prefix`` in the request's path, still encoded as the client sent it (the decoded form
    could hold spaces or CR/LF, which must never reach a request line or a Location field)."""
    if prefix == b"/":
        return raw_path
    if _under(raw_path, prefix):
        return raw_path[len(prefix) :]
    return quote_from_bytes(path[len(prefix) :], safe="/!$&'()*+,;=:@-._~").encode()


def _close_field(close: bool) -> bytes:
    return b"Connection: close\r\n" if close else b""


def _redirect(status: int, location: bytes, close: bool) -> bytes:
    return b"HTTP/1.1 %d %s\r\nLocation: %s\r\nContent-Length: 0\r\nCache-Control: no-store\r\n%s\r\n" % (
        status,
        REDIRECT_STATUSES[status],
        location,
        b"Connection: close\r\n" if close else b"",
    )


def apply_rules(
    conn: ClientConn,
    ex: Exchange,
    entry: RouteEntry,
    method: bytes,
    host: bytes,
    hkey: bytes,
    out: list[bytes],
    keep: bool,
) -> RouteEntry | None:
    """The route ``entry`` (a host's) resolves to for this request, with the request line rewritten when its
    prefix is stripped; None when the proxy answered itself (redirect, 401, no path route: 404)."""
    rules = entry.special
    assert rules is not None
    w = conn.w
    close = not keep or ex.has_body
    url = conn.url
    raw_path, qmark, query = url.partition(b"?")
    if rules.canonical is not None:
        status = 301 if method in (b"GET", b"HEAD") else 308
        port = host[len(hkey) :] if host.lower().startswith(hkey) else b""
        loc = (b"https://" if conn.tls else b"http://") + rules.canonical + port + url
        conn._local(ex, _redirect(status, loc, close), not close)
        return None
    path = normalize_path(raw_path) if url[:1] == b"/" else raw_path
    if rules.paths is not None:
        for prefix, candidate in rules.paths:
            if _under(path, prefix):
                entry = candidate
                break
        else:
            w.unmatched[0] += 1
            conn._local(ex, error_response(404, close), not close)
            return None
        found = entry.special
        if found is None:
            return entry
        rules = found
    if rules.maintenance is not None:
        conn._local(ex, maintenance_response(rules.maintenance, close), not close)
        return None
    for source, target, status in rules.redirects:
        if _under(path, source):
            rest = _rest(raw_path, path, source)
            loc = (target.rstrip(b"/") + rest if rest not in (b"", b"/") else target) + qmark + query
            conn._local(ex, _redirect(status, loc, close), not close)
            return None
    auth = rules.auth
    if auth is not None:
        value = None
        for i in range(len(out) - 1, 0, -1):
            line = out[i]
            if line[:14].lower() == b"authorization:":
                value = line[14:].strip()
                del out[i]  # the proxy's credentials are not the app's
        if not (
            entry.https_redirect and not conn.tls and w.tls_port and w.cert_domain(hkey.decode()) is not None
        ):
            verdict = auth.check(value)
            if not verdict:
                answer = auth.response(close) if verdict is False else THROTTLED % _close_field(close)
                conn._local(ex, answer, not close)
                return None
    if rules.strip and url[:1] == b"/":
        rest = _rest(raw_path, path, rules.prefix) or b"/"
        out[0] = b"%s %s %s" % (method, rest + qmark + query, out[0][-10:])
        out.append(b"X-Forwarded-Prefix: %s\r\n" % rules.prefix)
    # An HTTP/2 stream (h2conn.H2Stream, its own transport) goes on to .h2upstream; an HTTP/1.1 request has no
    # stream to forward to an h2c app: 505, unless it is about to be redirected to HTTPS (where h2 is offered).
    if (
        rules.h2c
        and conn.t is not conn
        and not (
            entry.https_redirect and not conn.tls and w.tls_port and w.cert_domain(hkey.decode()) is not None
        )
    ):
        conn._local(ex, H2_ONLY % (_close_field(close), _H2_ONLY_BODY), not close)
        return None
    return entry


def clean_rules(r: dict[str, Any]) -> dict[str, Any]:
    """The rule keys of a route dict, checked (``ValueError`` names the bad one); keys at their default are left
    out, so a plain route's dict stays as it was before path routing existed."""
    from .routing import normalize_prefix

    out: dict[str, Any] = {}
    prefix = normalize_prefix(r.get("path_prefix"))
    if prefix != "/":
        out["path_prefix"] = prefix
        if r.get("strip_prefix"):
            out["strip_prefix"] = True
    mode = r.get("redirect_www")
    if mode not in (None, "", "to-apex", "to-www"):
        raise ValueError(f"redirect_www must be to-apex, to-www or null, got {mode!r}")
    if mode and prefix == "/":
        out["redirect_www"] = mode
    if r.get("redirects"):
        out["redirects"] = [
            {"from": str(x["from"]), "to": str(x["to"]), "status": int(x.get("status", 301))}
            for x in r["redirects"]
        ]
    auth = r.get("auth")
    if auth and auth.get("users"):
        out["auth"] = {
            "realm": str(auth.get("realm") or "Restricted"),
            "users": {str(u): str(h) for u, h in dict(auth["users"]).items()},
        }
    proto = r.get("upstream_protocol") or "http1"
    if proto not in UPSTREAM_PROTOCOLS:
        raise ValueError(f"upstream_protocol must be http1 or h2c, got {proto!r}")
    if proto == "h2c":
        out["upstream_protocol"] = proto
    out.update(clean_pages(r))  # the app's error and maintenance pages
    route_rules({**out}, prefix)  # raises on a bad redirect rule
    return out
