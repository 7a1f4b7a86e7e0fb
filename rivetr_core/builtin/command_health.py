"""Core's built-in command health check: run ``options["command"]`` inside the container, healthy on exit 0.

Runs through the runtime's exec, so it sees the container as the app does (files, sockets on localhost,
its environment); the output's tail is the result's detail.
"""

from __future__ import annotations

import asyncio
import time

from rivetr_core import hookimpl
from rivetr_core.contract import HealthCheckRegistration, HealthResult, HealthTarget

DETAIL_CHARS = 200


class CommandHealthCheck:
    name = "command"

    async def check(self, target: HealthTarget) -> HealthResult:
        command = target.options.get("command")
        if not isinstance(command, list) or not command:
            return HealthResult(False, "no command configured (health_check.command)")
        if target.runtime is None or not target.container_id:
            return HealthResult(False, "no container to run the command in")
        started = time.perf_counter()
        try:
            # A timed-out exec is abandoned, not killed (the engines offer no exec kill): keep commands short.
            result = await asyncio.wait_for(target.runtime.exec(target.container_id, command), target.timeout)
        except TimeoutError:
            return HealthResult(False, f"command timed out after {target.timeout:g}s")
        except Exception as exc:  # the engine refused the exec (program missing on podman, container gone)
            return HealthResult(False, f"command could not run: {getattr(exc, 'message', None) or exc}")
        latency = (time.perf_counter() - started) * 1000
        output = " ".join(result.output.split())
        tail = ("…" + output[-DETAIL_CHARS:]) if len(output) > DETAIL_CHARS else output
        detail = f"exit {result.exit_code}" + (f": {tail}" if tail else "")
        return HealthResult(result.exit_code == 0, detail, latency)


@hookimpl
def rivetr_health_checks() -> list[HealthCheckRegistration]:
    return [
        HealthCheckRegistration(
            name="command",
            factory=lambda ctx: CommandHealthCheck(),
            description="a command run inside the container; healthy on exit 0",
        )
    ]
