"""Control planes sharing one PostgreSQL database: which ``rivetr serve`` processes are alive, and a lease each.

Each ``rivetr serve`` on PostgreSQL inserts a ``control_planes`` row at start (id, host, pid, version,
started_at) and renews its ``heartbeat_at`` every third of ``[database] plane_lease_seconds``. A plane whose
heartbeat is older than the lease is dead. Deployments record the plane that queued or claimed them
(``deployments.plane_id``); start-up recovery, the crash watcher and orphan removal (engine/recovery.py) touch
only this plane's deployments and those of dead planes, which a live plane adopts with one UPDATE (row locks
give each deployment to exactly one adopter) and recovers as a restart would.

Why a lease row and not a session-level advisory lock (``pg_try_advisory_lock`` held for the process's life):

* the API lists the planes with their host, pid and last heartbeat; an advisory lock says none of that;
* a lock lives on one pinned connection: a pooler in transaction mode (PgBouncer) or a recycled connection
  loses it without a word, and a half-open TCP connection keeps a frozen process's lock for the kernel's
  keepalive time (two hours by default). A lease ends after a time the operator chose, measured by the
  database's clock (``now()``), so the hosts' clocks need not agree;
* the price: a dead plane's work waits up to one lease before another takes it over.

The leader is the live plane that started first (ties: the smaller id). It is the one that forgets expired rows
of dead planes once their deployments were adopted; every other plane's duties are the same as the leader's.

On SQLite nothing here runs: one process owns the file (``Database.dialect`` is checked once at start-up).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from rivetr_core.db.engine import new_id

if TYPE_CHECKING:
    from rivetr_core.db.engine import Database

log = logging.getLogger("rivetr.engine.planes")

#: The live planes' ids, as SQL (``:lease`` in seconds): also used by the deployments' adoption.
LIVE_PLANES_SQL = "SELECT id FROM control_planes WHERE heartbeat_at >= now() - make_interval(secs => :lease)"


@dataclass
class PlaneInfo:
    """One row of ``GET /api/system/control-planes``."""

    id: str
    host: str
    pid: int
    version: str
    started_at: datetime
    heartbeat_at: datetime
    alive: bool
    leader: bool
    this: bool  # the plane answering the request

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "host": self.host,
            "pid": self.pid,
            "version": self.version,
            "started_at": self.started_at.isoformat(),
            "heartbeat_at": self.heartbeat_at.isoformat(),
            "alive": self.alive,
            "leader": self.leader,
            "this": self.this,
        }


class ControlPlanes:
    """This process's lease row, and the view of every plane on the database."""

    def __init__(self, db: Database, lease_seconds: float, data_dir: Path | None = None) -> None:
        from rivetr_core import __version__

        self.db = db
        self.lease = float(lease_seconds)
        self.id = new_id()
        self.host = socket.gethostname()[:255]
        self.pid = os.getpid()
        self.version = __version__
        self._lock_dir = Path(data_dir) / "planes" if data_dir is not None else None
        self._lock_fd: int | None = None

    @property
    def interval(self) -> float:
        """Seconds between renewals: three renewals fit in a lease, so one slow round does not kill a plane."""
        return self.lease / 3

    async def register(self) -> None:
        self._hold_lock()
        async with self.db.engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO control_planes (id, host, pid, version, started_at, heartbeat_at)"
                    " VALUES (:id, :host, :pid, :version, now(), now())"
                ),
                {"id": self.id, "host": self.host, "pid": self.pid, "version": self.version},
            )
        log.info(
            "control plane %s registered (host %s, pid %d, lease %.0f s)",
            self.id,
            self.host,
            self.pid,
            self.lease,
        )
        await self.forget_gone_here()

    async def forget_gone_here(self) -> list[str]:
        """Delete the rows of planes that ran on this data dir and whose process is gone (a ``kill -9`` and a
        restart within one lease): their deployments are then a dead plane's at once, not after the lease.

        Each plane holds an exclusive ``flock`` on ``<data_dir>/planes/<id>.lock`` for its life; the kernel
        drops it when the process ends, however it ends, so a lock file this process can lock is a dead plane's.
        (Not host and pid: two machines may share a host name, and pids are reused.)"""
        if self._lock_dir is None:
            return []
        gone = []
        for path in self._lock_dir.glob("*.lock"):
            if path.stem == self.id:
                continue
            try:
                fd = os.open(path, os.O_RDWR)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its plane is alive
            finally:
                os.close(fd)
            gone.append(path.stem)
            path.unlink(missing_ok=True)
        if gone:
            async with self.db.engine.begin() as conn:
                await conn.execute(sa.text("DELETE FROM control_planes WHERE id = ANY(:ids)"), {"ids": gone})
            log.warning("control plane(s) of a process on this data dir that is gone: %s", ", ".join(gone))
        return gone

    def _hold_lock(self) -> None:
        if self._lock_dir is None or self._lock_fd is not None:
            return
        self._lock_dir.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(self._lock_dir / f"{self.id}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        if self._lock_dir is not None:
            (self._lock_dir / f"{self.id}.lock").unlink(missing_ok=True)

    async def renew(self) -> None:
        """Renew the lease. A row that is gone means another plane declared this one dead (a pause longer than
        the lease) and adopted its deployments: say so loudly and register again."""
        async with self.db.engine.begin() as conn:
            renewed = (
                await conn.execute(
                    sa.text("UPDATE control_planes SET heartbeat_at = now() WHERE id = :id RETURNING id"),
                    {"id": self.id},
                )
            ).first()
        if renewed is None:
            log.error(
                "control plane %s was declared dead by another plane (no lease renewal for %.0f s); its "
                "deployments were taken over. Registering again.",
                self.id,
                self.lease,
            )
            await self.register()

    async def unregister(self) -> None:
        """A clean stop: the row goes at once, so another plane adopts this one's deployments at its next round
        instead of after a whole lease."""
        async with self.db.engine.begin() as conn:
            await conn.execute(sa.text("DELETE FROM control_planes WHERE id = :id"), {"id": self.id})
        self._release_lock()

    async def list(self) -> list[PlaneInfo]:
        """Every registered plane, live ones first (the leader first of all), then dead ones not yet forgotten."""
        async with self.db.engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.text(
                        "SELECT id, host, pid, version, started_at, heartbeat_at,"
                        " heartbeat_at >= now() - make_interval(secs => :lease) AS alive"
                        " FROM control_planes ORDER BY started_at, id"
                    ),
                    {"lease": self.lease},
                )
            ).all()
        leader = next((r.id for r in rows if r.alive), None)
        planes = [
            PlaneInfo(
                id=r.id,
                host=r.host,
                pid=r.pid,
                version=r.version,
                started_at=r.started_at,
                heartbeat_at=r.heartbeat_at,
                alive=bool(r.alive),
                leader=r.id == leader,
                this=r.id == self.id,
            )
            for r in rows
        ]
        return sorted(planes, key=lambda p: (not p.alive, not p.leader))

    async def live_ids(self) -> set[str]:
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(sa.text(LIVE_PLANES_SQL), {"lease": self.lease})).all()
        return {r.id for r in rows}

    async def others_alive(self) -> set[str]:
        """The ids of the other live planes."""
        return await self.live_ids() - {self.id}

    async def is_leader(self) -> bool:
        planes = await self.list()
        return bool(planes) and planes[0].alive and planes[0].this

    async def forget_dead(self) -> int:
        """Delete the rows of planes whose lease ran out (the leader does it, after the adoption round): the API
        then lists the live ones. Their deployments were adopted first, and a deployment whose plane row is gone
        counts as a dead plane's anyway."""
        async with self.db.engine.begin() as conn:
            result = await conn.execute(
                sa.text(
                    "DELETE FROM control_planes WHERE heartbeat_at < now() - make_interval(secs => :lease)"
                ),
                {"lease": self.lease},
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def run(self, take_over: Callable[[], Awaitable[Any]]) -> None:
        """Renew the lease, then ``take_over()`` the work of planes that died, every :attr:`interval` seconds,
        until cancelled (shutdown), which removes the row."""
        try:
            while True:
                await asyncio.sleep(self.interval)
                try:
                    await self.renew()
                    await take_over()
                    if await self.is_leader():
                        await self.forget_dead()
                except Exception:
                    log.warning("control plane lease round failed", exc_info=True)
        finally:
            try:
                await asyncio.shield(self.unregister())
            except BaseException:
                log.debug("control plane %s not unregistered", self.id, exc_info=True)


def plane_id_of(ctx: Any) -> str | None:
    """This process's control plane id (PostgreSQL), which the rows it queues or runs record; None on SQLite."""
    plane = getattr(ctx.services.get("deployments"), "plane", None)
    return plane.id if plane is not None else None
