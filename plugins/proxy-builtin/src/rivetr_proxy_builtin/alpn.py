"""The protocol of a TLS connection, chosen by ALPN once the handshake is done: HTTP/2 (:mod:`.h2conn`) for
``h2``, else the HTTP/1.1 :class:`.client.ClientConn`.

The listener's protocol factory must answer before the handshake, so it makes an :class:`AlpnSwitch`, which
hands the transport over in ``connection_made`` (one small object per TLS connection, nothing per request).
:mod:`.h2conn`, and with it the ``h2`` library, is imported when the first h2 connection arrives.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .client import ClientConn

if TYPE_CHECKING:
    from .worker import Worker


class AlpnSwitch(asyncio.Protocol):
    __slots__ = ("w",)

    def __init__(self, w: Worker) -> None:
        self.w = w

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sslobj = transport.get_extra_info("ssl_object")
        proto: asyncio.Protocol
        if sslobj is not None and sslobj.selected_alpn_protocol() == "h2":
            from .h2conn import H2Conn

            proto = H2Conn(self.w)  # type: ignore[assignment]
        else:
            proto = ClientConn(self.w, True)
        transport.set_protocol(proto)
        proto.connection_made(transport)
