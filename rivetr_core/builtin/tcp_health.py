"""Core's built-in TCP health check: the app port accepts a connection (for apps that do not speak HTTP)."""

from __future__ import annotations

import asyncio
import time

from rivetr_core import hookimpl
from rivetr_core.contract import HealthCheckRegistration, HealthResult, HealthTarget


class TcpHealthCheck:
    name = "tcp"

    async def check(self, target: HealthTarget) -> HealthResult:
        started = time.perf_counter()
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(target.host, target.port), target.timeout
            )
        except TimeoutError:
            return HealthResult(False, f"connect timed out after {target.timeout:g}s")
        except OSError as exc:
            return HealthResult(False, f"connection failed: {exc.strerror or exc}")
        latency = (time.perf_counter() - started) * 1000
        writer.close()
        return HealthResult(True, f"port {target.port} accepts connections", latency)


@hookimpl
def rivetr_health_checks() -> list[HealthCheckRegistration]:
    return [
        HealthCheckRegistration(
            name="tcp", factory=lambda ctx: TcpHealthCheck(), description="TCP connect to the app port"
        )
    ]
