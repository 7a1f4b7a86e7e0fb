"""Core's built-in HTTP health check: GET a path on the new container and expect a status.

Uses a raw asyncio connection rather than an HTTP client library: one request, no pooling, and nothing heavy
to import on the control plane.
"""

from __future__ import annotations

import asyncio
import time

from rivetr_core import hookimpl
from rivetr_core.contract import HealthCheckRegistration, HealthResult, HealthTarget


class HttpHealthCheck:
    name = "http"

    async def check(self, target: HealthTarget) -> HealthResult:
        started = time.perf_counter()
        try:
            return await asyncio.wait_for(self._probe(target, started), target.timeout)
        except TimeoutError:
            return HealthResult(False, f"timed out after {target.timeout:g}s")
        except OSError as exc:
            return HealthResult(False, f"connection failed: {exc.strerror or exc}")

    async def _probe(self, target: HealthTarget, started: float) -> HealthResult:
        reader, writer = await asyncio.open_connection(target.host, target.port)
        try:
            host = target.host_header or f"{target.host}:{target.port}"
            writer.write(
                f"GET {target.path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: rivetr-health\r\n"
                "Connection: close\r\n\r\n".encode("latin-1")
            )
            await writer.drain()
            status_line = await reader.readline()
        finally:
            writer.close()
        latency = (time.perf_counter() - started) * 1000
        parts = status_line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            return HealthResult(False, f"not an HTTP response: {status_line[:60]!r}", latency)
        status = int(parts[1])
        ok = status == target.expected_status if target.expected_status else 200 <= status < 400
        detail = f"HTTP {status}" + ("" if ok else f" (expected {target.expected_status or '2xx/3xx'})")
        return HealthResult(ok, detail, latency, status)


@hookimpl
def rivetr_health_checks() -> list[HealthCheckRegistration]:
    return [
        HealthCheckRegistration(
            name="http", factory=lambda ctx: HttpHealthCheck(), description="HTTP GET, expects a status"
        )
    ]
