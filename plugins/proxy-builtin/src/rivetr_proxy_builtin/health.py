"""Active upstream health probes, run by the master for all workers.

Every ``health_interval`` each upstream gets ``GET <health_path>`` (Host: the route's domain). Any HTTP
answer below 500 counts as alive (a 404 on ``/`` still means the app is up); refused connections, timeouts,
garbage and 5xx count as failures. ``health_threshold`` consecutive failures take an upstream out of
rotation, as many consecutive successes put it back. New upstreams start healthy: the deploy pipeline
health-checks a container before it switches the route to it.

Upstreams of ``upstream_protocol = "h2c"`` routes (gRPC servers) do not speak HTTP/1.1: they get the HTTP/2
connection preface instead, and are alive when they answer with their SETTINGS frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .routing import split_address
from .settings import ProxySettings

# The client connection preface and an empty SETTINGS frame (RFC 9113 §3.4): what an h2c server answers first.
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


async def _exchange(
    address: str,
    timeout: float,
    talk: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bytes]],
) -> tuple[bytes, str]:
    """Connect to ``address`` and run ``talk`` within ``timeout``: (its answer, "") or (b"", why it failed).
    The connection is closed either way."""
    h, port = split_address(address)
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(h, port)
            return await talk(reader, writer), ""
    except asyncio.IncompleteReadError:
        return b"", "connection closed without an HTTP/2 answer"
    except TimeoutError:
        return b"", f"timeout after {timeout:g}s"
    except OSError as exc:
        return b"", exc.strerror or type(exc).__name__
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def probe_h2c(address: str, timeout: float) -> tuple[bool, str]:
    """One probe of an HTTP/2 cleartext upstream: alive when its first frame is SETTINGS."""

    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        writer.write(_H2_PREFACE)
        return await reader.readexactly(9)

    head, failure = await _exchange(address, timeout, talk)
    if failure:
        return False, failure
    if head[3] != 0x4:
        return False, "no HTTP/2 SETTINGS frame"
    return True, "HTTP/2 SETTINGS"


@dataclass
class HealthState:
    healthy: bool = True
    fails: int = 0
    oks: int = 0
    detail: str = ""
    checked_at: float = 0.0


async def probe(address: str, host: str, path: str, timeout: float) -> tuple[bool, str]:
    """One probe; returns (ok, detail)."""

    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: rivetr-proxy-health\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        return await reader.readline()

    line, failure = await _exchange(address, timeout, talk)
    if failure:
        return False, failure
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return False, "invalid HTTP response" if line else "connection closed without a response"
    status = int(parts[1])
    if status >= 500:
        return False, f"HTTP {status}"
    return True, f"HTTP {status}"


class HealthTracker:
    def __init__(self, settings: ProxySettings, on_change: Callable[[], Awaitable[None]]) -> None:
        self.settings = settings
        self.on_change = on_change
        self.targets: dict[str, str] = {}  # address → Host header to probe with
        self.h2c: set[str] = set()  # addresses of h2c routes' upstreams: probed with the HTTP/2 preface
        self.states: dict[str, HealthState] = {}

    def set_targets(self, targets: dict[str, str]) -> None:
        self.targets = dict(targets)
        for addr in list(self.states):
            if addr not in targets:
                del self.states[addr]
        for addr in targets:
            self.states.setdefault(addr, HealthState())

    def forget(self, addresses: set[str]) -> None:
        """Drop the verdicts on these addresses: the next ``set_targets`` starts them healthy."""
        for addr in addresses:
            self.states.pop(addr, None)

    def unhealthy(self) -> set[str]:
        return {a for a, s in self.states.items() if not s.healthy}

    def state(self, address: str) -> HealthState | None:
        return self.states.get(address)

    async def check_all(self) -> bool:
        """Probe every target once; True if some upstream changed state."""
        s = self.settings
        targets = list(self.targets.items())
        results = await asyncio.gather(
            *(
                probe_h2c(addr, s.health_timeout)
                if addr in self.h2c
                else probe(addr, host, s.health_path, s.health_timeout)
                for addr, host in targets
            )
        )
        changed = False
        now = time.time()
        for (addr, _), (ok, detail) in zip(targets, results, strict=True):
            st = self.states.get(addr)
            if st is None:
                continue  # removed while probing
            st.detail, st.checked_at = detail, now
            if ok:
                st.oks, st.fails = st.oks + 1, 0
                if not st.healthy and st.oks >= s.health_threshold:
                    st.healthy, changed = True, True
            else:
                st.fails, st.oks = st.fails + 1, 0
                if st.healthy and st.fails >= s.health_threshold:
                    st.healthy, changed = False, True
        return changed

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.health_interval)
            if self.targets and await self.check_all():
                await self.on_change()
