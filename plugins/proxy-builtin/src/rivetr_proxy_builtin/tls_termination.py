"""TLS termination in a worker: the listener's SSL context and the certificate chosen by SNI.

Certificates live in the state dir (``certs/<domain>.crt|.key``, written by the master, see
:mod:`.tlsfiles`); snapshots carry ``certs`` (domain → version) and a changed version is reloaded at the next
handshake. :class:`TlsTermination` is a mixin of :class:`.worker.Worker` (its methods, the worker's state).
"""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
from typing import Any

from .tlsfiles import covering_cert

#: Protocols offered by ALPN, best first; the worker drops "h2" when [plugins.proxy-builtin] http2 is off.
ALPN = ["h2", "http/1.1"]


class TlsTermination:
    """Certificate choice by SNI: an exact domain, else its one-level ``*.`` wildcard, else the fallback."""

    index: int
    state_dir: str
    certs: dict[str, int]
    tls_contexts: dict[str, tuple[int, ssl.SSLContext]]

    def cert_domain(self, host: str) -> str | None:
        """The certificate name covering ``host``: itself, else its one-level ``*.`` wildcard (see
        :func:`.tlsfiles.covering_cert`). Also what the HTTP→HTTPS redirect asks: a name served by a wildcard
        certificate is redirected like one with its own."""
        return covering_cert(host, self.certs)

    def tls_context(self, fallback: tuple[str, str]) -> ssl.SSLContext:
        ctx = server_context(*fallback)
        ctx.sni_callback = self._sni
        return ctx

    def _sni(self, sslobj: ssl.SSLObject, server_name: str | None, _ctx: ssl.SSLContext) -> None:
        """Pick the certificate by SNI; unknown names (or none) keep the self-signed fallback."""
        if not server_name:
            return
        dom = self.cert_domain(server_name.lower().rstrip("."))
        if dom is None:
            return
        version = self.certs[dom]
        cached = self.tls_contexts.get(dom)
        if cached is None or cached[0] != version:
            base = os.path.join(self.state_dir, "certs", dom.replace("*", "_wildcard_"))
            try:
                cached = (version, server_context(base + ".crt", base + ".key"))
            except (OSError, ssl.SSLError) as exc:
                print(f"rivetr-proxy worker {self.index}: certificate for {dom}: {exc}", file=sys.stderr)
                return
            self.tls_contexts[dom] = cached
        sslobj.context = cached[1]


def server_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(ALPN)
    ctx.load_cert_chain(cert, key)
    return ctx


def quiet_tls_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # Failed handshakes (scanners, wrong SNI, old clients) are routine for an edge proxy: don't log them.
    if isinstance(context.get("exception"), ssl.SSLError | ConnectionError | TimeoutError):
        return
    loop.default_exception_handler(context)
