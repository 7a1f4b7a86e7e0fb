"""Running podman's HEALTHCHECKs where systemd does not.

Podman 4.3 schedules a container's healthcheck with a systemd transient timer; on a host without systemd
(containers, many CI machines, this one) it logs "unable to get systemd connection to start healthchecks" and
the health stays ``starting`` forever. :class:`HealthcheckDriver` is that timer: one daemon thread that asks
the service to run each tracked container's check (``GET /libpod/containers/{id}/healthcheck``, which runs
it and records the result, counting ``retries`` and ``start_period`` as podman's own timer would) every
``interval``. Containers are tracked when :meth:`track` is told about them (``run``) and, once per driver,
found among the running containers when the runtime connects (a Rivetr restart); one that stopped or went away is dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

#: Seconds between the driver's wake-ups (the shortest interval it honours).
TICK = 0.25


class HealthcheckDriver:
    """Runs tracked containers' healthchecks through the libpod API of ``api()`` (a docker SDK client)."""

    def __init__(self, api: Callable[[], Any], log: logging.Logger, closed: Callable[[], bool]) -> None:
        self._api = api
        self._log = log
        self._closed = closed
        self._lock = threading.Lock()
        #: container id -> (interval s, timeout s, monotonic time of the next run)
        self._tracked: dict[str, tuple[float, float, float]] = {}
        self._thread: threading.Thread | None = None

    def track(self, container_id: str, healthcheck: dict[str, Any] | None) -> None:
        """Run ``container_id``'s check (``Config.Healthcheck`` of its inspect document) from now on."""
        config = healthcheck or {}
        test = list(config.get("Test") or [])
        if not test or test[0] == "NONE":
            return
        # The engine's own defaults (30 s) for durations left unset.
        interval = max(TICK, float(config.get("Interval") or 30e9) / 1e9)
        timeout = float(config.get("Timeout") or 30e9) / 1e9
        with self._lock:
            self._tracked[container_id] = (interval, timeout, time.monotonic())
        self._start()

    def adopt_running(self, api: Any) -> None:
        """Track every running container with a healthcheck (a previous Rivetr process ran their checks)."""
        for summary in api.containers(all=False) or []:
            try:
                config = api.inspect_container(summary["Id"]).get("Config") or {}
            except Exception:  # gone meanwhile
                continue
            if config.get("Healthcheck"):
                self.track(summary["Id"], config["Healthcheck"])

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._loop, name="rivetr-podman-health", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        # Ends with the runtime (``close``); a runtime made again takes the containers over.
        while not self._closed():
            time.sleep(TICK)
            now = time.monotonic()
            with self._lock:
                due = [(cid, iv, to) for cid, (iv, to, at) in self._tracked.items() if at <= now]
                for cid, interval, timeout in due:
                    self._tracked[cid] = (interval, timeout, now + interval)
            for container_id, _, timeout in due:
                self._run_one(container_id, timeout)

    def _run_one(self, container_id: str, timeout: float) -> None:
        try:
            api = self._api()
            response = api._get(
                api._url("/libpod/containers/{0}/healthcheck", container_id), timeout=timeout + 10
            )
        except Exception as exc:  # the service restarting: try again next interval
            self._log.debug("podman healthcheck of %s not run: %s", container_id[:12], exc)
            return
        if response.status_code in (404, 409) or (
            response.status_code >= 400 and "not running" in response.text
        ):
            with self._lock:
                self._tracked.pop(container_id, None)  # removed or stopped: a start tracks it again
