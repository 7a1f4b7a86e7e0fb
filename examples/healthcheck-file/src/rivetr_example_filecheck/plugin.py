"""Entry point ``example-file-check``: registers the ``file-exists`` health check.

An app selects it by name: ``{"health_check": {"kind": "file-exists", "path": "/tmp/ready"}}``; the options
other than ``kind`` and the pipeline's own (retries, interval, timeout) reach the check as ``target.options``.
"""

from __future__ import annotations

import time

from rivetr_core import hookimpl
from rivetr_core.contract import HealthCheckRegistration, HealthResult, HealthTarget, PluginContext


class FileExistsCheck:
    """Passes once ``options["path"]`` exists in the new container (``test -e`` run by the runtime's exec)."""

    name = "file-exists"

    async def check(self, target: HealthTarget) -> HealthResult:
        # Return a failed result rather than raising: the pipeline retries until the app's retries run out.
        path = target.options.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            return HealthResult(ok=False, detail='option "path" must be an absolute path in the container')
        if target.runtime is None or target.container_id is None:
            return HealthResult(ok=False, detail="no container to look into")
        started = time.monotonic()
        result = await target.runtime.exec(target.container_id, ["test", "-e", path])
        latency = (time.monotonic() - started) * 1000
        if result.exit_code == 0:
            return HealthResult(ok=True, detail=f"{path} exists", latency_ms=latency)
        return HealthResult(ok=False, detail=f"{path} missing (exit {result.exit_code})", latency_ms=latency)


def _factory(ctx: PluginContext) -> FileExistsCheck:
    return FileExistsCheck()


@hookimpl
def rivetr_health_checks() -> list[HealthCheckRegistration]:
    return [
        HealthCheckRegistration(
            name="file-exists", factory=_factory, description="Ready once a file exists in the container"
        )
    ]
