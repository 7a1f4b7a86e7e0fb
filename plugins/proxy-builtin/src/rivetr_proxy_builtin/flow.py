"""Transport flow control between a client connection and its upstream connection.

When one side's send buffer fills (``pause_writing`` from the transport), reading from the other side pauses
until it drains, so a body of any size moves with flat memory. A client's reading can be paused for several
reasons at once (a bit mask): it resumes only when every reason is gone.

The two mixins hold only methods (``__slots__ = ()``); :class:`.client.ClientConn` and
:class:`.upstream.UpstreamConn` own the state they use.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .client import ClientConn
    from .exchange import Exchange
    from .upstream import UpstreamConn

# Why a client read is paused (bit mask: reading resumes only when every reason is gone).
P_UPSTREAM_FULL = 1  # the upstream's send buffer is full
P_PENDING = 2  # body bytes buffered while the upstream connection is being made
P_PIPELINE = 4  # a pipelined request waits for the previous response
P_UPGRADE = 8  # an upgrade request waits for the upstream's 101: what follows it is held, not read on

PENDING_LIMIT = 256 * 1024  # body bytes a client may send before its upstream connection is made


class ClientFlow(asyncio.Protocol):
    """Flow control of a :class:`.client.ClientConn`: its writes pause the upstream, reasons pause its reads."""

    __slots__ = ("pause_mask", "wpaused")  # set in ClientConn.__init__

    t: asyncio.Transport | None
    active: Exchange | None
    tunnel: UpstreamConn | None
    pause_mask: int  # why reading is paused (P_* bits)
    wpaused: bool  # the client's socket is full: its upstream is not read meanwhile
    closing: bool

    def pause_writing(self) -> None:
        self.wpaused = True
        ex = self.active
        up = self.tunnel or (ex.up if ex is not None else None)
        if up is not None and up.t is not None:
            up.t.pause_reading()

    def resume_writing(self) -> None:
        self.wpaused = False
        ex = self.active
        up = self.tunnel or (ex.up if ex is not None else None)
        if up is not None and up.t is not None:
            up.t.resume_reading()

    def pause(self, reason: int) -> None:
        if not self.pause_mask and self.t is not None:
            self.t.pause_reading()
        self.pause_mask |= reason

    def unpause(self, reason: int) -> None:
        if self.pause_mask & reason:
            self.pause_mask &= ~reason
            if not self.pause_mask and self.t is not None and not self.closing:
                self.t.resume_reading()


class UpstreamFlow(asyncio.Protocol):
    """Flow control of an :class:`.upstream.UpstreamConn`: a full upstream pauses reading from its client."""

    __slots__ = ()

    ex: Exchange | None
    tunnel: ClientConn | None

    def pause_writing(self) -> None:
        client = self.tunnel or (self.ex.client if self.ex is not None else None)
        if client is not None:
            client.pause(P_UPSTREAM_FULL)

    def resume_writing(self) -> None:
        client = self.tunnel or (self.ex.client if self.ex is not None else None)
        if client is not None:
            client.unpause(P_UPSTREAM_FULL)
