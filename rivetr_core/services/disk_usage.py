"""Disk used per app, managed service and compose stack (``GET /api/system/disk-usage``, the Server page,
``rivetr system disk-usage``).

What is counted, and how it is measured without touching other programs' data:

* **images** — the images Rivetr built, found by their labels (``rivetr.app``, ``rivetr.stack``) through the
  runtime's optional ``image_usage`` (one listing call for the whole instance, sizes included). A size counts
  the layers an image shares with others (its base image, the app's previous versions), as ``docker images``
  does. A runtime without ``image_usage`` gets its images counted by name (``list_images``) and their bytes
  reported as unknown (null). Managed services run pulled official images, which are shared and carry no
  labels: not counted.
* **volumes** — the engine volumes labelled for the owner (``rivetr.app``, ``rivetr.managed-service``,
  ``rivetr.stack``), sized by the runtime's ``volume_sizes`` (null where the engine cannot tell).
* **build logs** — the characters of an app's stored build-log lines (``deployment_logs``), about their bytes.

Owners are read through the ORM, so a team member sees only their team's (the visibility filter applies);
services and stacks are looked up only once one exists (raw SQL first: the features stay unloaded).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import col, select

from rivetr_core.contract import RuntimeUnavailable
from rivetr_core.models.apps import App, Deployment, DeploymentLog
from rivetr_core.models.core import Meta

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext

log = logging.getLogger("rivetr.disk_usage")

LABEL_INSTANCE = "rivetr.instance"
LABEL_APP = "rivetr.app"
LABEL_SERVICE = "rivetr.managed-service"
LABEL_STACK = "rivetr.stack"

_ANY = {kind: sa.text(f"SELECT 1 FROM {kind} LIMIT 1") for kind in ("services", "stacks")}


def _part(count: int, size: int | None) -> dict[str, Any]:
    return {"count": count, "bytes": size}


def _owner(owner_id: str, name: str) -> dict[str, Any]:
    return {
        "id": owner_id,
        "name": name,
        "images": None,
        "volumes": None,
        "build_logs": None,
        "total_bytes": 0,
    }


def _total(row: dict[str, Any]) -> int:
    return sum((row[k] or {}).get("bytes") or 0 for k in ("images", "volumes", "build_logs"))


class DiskUsage:
    """One report; :meth:`collect` is the whole job."""

    def __init__(self, ctx: RivetrContext) -> None:
        self.ctx = ctx
        self.errors: list[str] = []

    async def collect(self) -> dict[str, Any]:
        apps, services, stacks = await self._owners()
        await self._build_logs(apps)
        runtime = await self._runtime()
        image_sizes = False
        if runtime is not None:
            image_sizes = hasattr(runtime, "image_usage")
            try:
                await self._images(runtime, apps, stacks)
            except Exception as exc:  # an engine hiccup leaves the rest of the report useful
                self.errors.append(f"images: {exc}")
            for label, owners in ((LABEL_APP, apps), (LABEL_SERVICE, services), (LABEL_STACK, stacks)):
                for row in owners.values():
                    await self._volumes(runtime, label, row)
        groups = {"apps": apps, "services": services, "stacks": stacks}
        out: dict[str, Any] = {
            "engine": getattr(runtime, "name", None),
            "image_sizes": image_sizes,
            "errors": self.errors,
        }
        total = 0
        for key, owners in groups.items():
            rows = list(owners.values())
            for row in rows:
                row["total_bytes"] = _total(row)
                total += row["total_bytes"]
            # The biggest first: what a person looking for space wants to see.
            out[key] = sorted(rows, key=lambda r: (-r["total_bytes"], r["name"]))
        out["total_bytes"] = total
        return out

    async def _owners(
        self,
    ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        async with self.ctx.db.session() as session:
            apps = {a.id: _owner(a.id, a.name) for a in (await session.exec(select(App))).all()}
        async with self.ctx.db.engine.connect() as conn:
            present = {kind: (await conn.execute(q)).first() is not None for kind, q in _ANY.items()}
        services: dict[str, dict[str, Any]] = {}
        stacks: dict[str, dict[str, Any]] = {}
        if present["services"]:
            from rivetr_core.models.services import ManagedService

            async with self.ctx.db.session() as session:
                for s in (await session.exec(select(ManagedService))).all():
                    services[s.id] = _owner(s.id, s.name)
        if present["stacks"]:
            from rivetr_core.models.stacks import Stack

            async with self.ctx.db.session() as session:
                for stack in (await session.exec(select(Stack))).all():
                    stacks[stack.id] = _owner(stack.id, stack.name)
        return apps, services, stacks

    async def _build_logs(self, apps: dict[str, dict[str, Any]]) -> None:
        query = (
            select(
                Deployment.app_id,
                sa.func.count(col(DeploymentLog.id)),
                sa.func.coalesce(sa.func.sum(sa.func.length(DeploymentLog.line)), 0),
            )
            .join(DeploymentLog, col(DeploymentLog.deployment_id) == col(Deployment.id))
            .group_by(col(Deployment.app_id))
        )
        for row in apps.values():
            row["build_logs"] = _part(0, 0)
        async with self.ctx.db.session() as session:
            for app_id, lines, chars in (await session.exec(query)).all():
                if app_id in apps:
                    apps[app_id]["build_logs"] = _part(int(lines), int(chars))

    async def _runtime(self) -> Any:
        try:
            return await self.ctx.runtime()
        except RuntimeUnavailable as exc:
            self.errors.append(f"container engine unavailable: {exc}")
            return None

    async def _instance_id(self) -> str | None:
        deployments = self.ctx.services.get("deployments")
        instance = getattr(deployments, "instance_id", None)
        if instance:
            return str(instance)
        async with self.ctx.db.session() as session:
            row = await session.get(Meta, "instance_id")
        return row.value if row else None

    async def _images(self, runtime: Any, apps: dict[str, Any], stacks: dict[str, Any]) -> None:
        for row in (*apps.values(), *stacks.values()):
            row["images"] = _part(0, 0)
        instance = await self._instance_id()
        if not instance:
            return  # nothing was ever built by this instance
        usage = getattr(runtime, "image_usage", None)
        if usage is None:
            # A runtime without sizes: count each owner's images by name, bytes unknown.
            for label, owners in ((LABEL_APP, apps), (LABEL_STACK, stacks)):
                for owner_id, row in owners.items():
                    names = await runtime.list_images({LABEL_INSTANCE: instance, label: owner_id})
                    row["images"] = _part(len(names), None)
            return
        # One call for the instance, split by owner label: every image a build makes carries both.
        for image in await usage({LABEL_INSTANCE: instance}):
            labels = image.labels
            row = apps.get(labels.get(LABEL_APP, "")) or stacks.get(labels.get(LABEL_STACK, ""))
            if row is not None:
                row["images"]["count"] += 1
                row["images"]["bytes"] += image.size

    async def _volumes(self, runtime: Any, label: str, row: dict[str, Any]) -> None:
        try:
            names = await runtime.list_volumes({label: row["id"]})
            sizes = await runtime.volume_sizes(names) if names else {}
        except Exception as exc:
            self.errors.append(f"volumes of {row['name']}: {exc}")
            return
        known = [size for size in sizes.values() if size is not None]
        unknown = len(known) < len(names)
        row["volumes"] = _part(len(names), None if unknown else sum(known))


async def disk_usage(ctx: RivetrContext) -> dict[str, Any]:
    """The report (see the module docstring): ``{"engine", "image_sizes", "apps", "services", "stacks",
    "total_bytes", "errors"}``; each owner ``{"id", "name", "images", "volumes", "build_logs", "total_bytes"}``
    with each part ``{"count", "bytes"}`` (bytes null: unknown) or null (does not apply)."""
    return await DiskUsage(ctx).collect()
