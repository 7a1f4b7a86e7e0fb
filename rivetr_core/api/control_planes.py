"""``GET /api/system/control-planes``: the ``rivetr serve`` processes sharing this install's PostgreSQL database
(rivetr_core/engine/planes.py), with their lease and which one leads. On SQLite there is one, this process, and
the list says so without a database query (nothing registers there)."""

from __future__ import annotations

import os
import socket
from typing import Any

from pydantic import ConfigDict, Field
from quart import Blueprint
from quart_schema import document_response, tag

from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr

bp = Blueprint("control_planes_api", __name__)


class ControlPlaneOut(ApiModel):
    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(description="The plane's id (a new one at every start); null on SQLite.")
    host: str
    pid: int
    version: str
    started_at: str | None = Field(description="When it registered (UTC); null on SQLite.")
    heartbeat_at: str | None = Field(description="Its last lease renewal (UTC); null on SQLite.")
    alive: bool = Field(description="It renewed its lease within `[database] plane_lease_seconds`.")
    leader: bool = Field(description="The live plane that started first: it forgets the rows of dead planes.")
    this: bool = Field(description="The plane that answered this request.")


class ControlPlanesOut(ApiModel):
    model_config = ConfigDict(extra="forbid")
    database: str = Field(description="`postgresql` or `sqlite` (one process owns the file: one plane).")
    lease_seconds: float | None = Field(description="`[database] plane_lease_seconds`; null on SQLite.")
    items: list[ControlPlaneOut] = Field(description="Live planes first, the leader first of all.")
    next: None = Field(None, description="Always null: the whole list fits in one page.")


@bp.get("/api/system/control-planes")
@tag(["system"])
@document_response(ControlPlanesOut)
async def list_control_planes() -> dict[str, Any]:
    """The control planes (``rivetr serve`` processes) on this install's database: host, pid, version, start,
    last heartbeat, whether each is alive and which one leads. A plane whose lease ran out is listed as not
    alive until the leader forgets it; its deployments are taken over by a live plane (docs/scaling.md)."""
    from rivetr_core import __version__

    ctx = rivetr()
    plane = getattr(ctx.services.get("deployments"), "plane", None)
    if plane is None:
        this = {
            "id": None, "host": socket.gethostname(), "pid": os.getpid(), "version": __version__,
            "started_at": None, "heartbeat_at": None, "alive": True, "leader": True, "this": True,
        }  # fmt: skip
        return ControlPlanesOut.model_validate(
            {"database": ctx.db.dialect, "lease_seconds": None, "items": [this], "next": None}
        ).model_dump(mode="json")
    items = [p.as_dict() for p in await plane.list()]
    return ControlPlanesOut.model_validate(
        {"database": ctx.db.dialect, "lease_seconds": plane.lease, "items": items, "next": None}
    ).model_dump(mode="json")
