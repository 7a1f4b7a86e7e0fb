"""``VolumeService`` (``ctx.services.volumes``): an app's named volumes and bind mounts.

Rules (every face shares them): ``name`` DNS-safe (a label: lower-case letters, digits, hyphens), unique per
app; ``mount_path`` absolute, normalised, not ``/`` and unique per app; a bind's ``host_path`` absolute and
under one of ``[volumes] allowed_bind_roots`` (none by default: binds are an admin decision), a named volume
has none. Changes apply at the app's next container start (deploy, rollback, crash restart).

A named volume is the engine volume :func:`~rivetr_core.models.volumes.engine_volume_name` (by app id, so a PR
preview, another app, gets its own empty one), labelled with the instance, the app and the volume name. The
runtime creates it at the first container start; it is removed when the volume is deleted (after the app's next
deployment if a container still mounts it) or when the app is deleted without ``keep_volumes``.
"""

from __future__ import annotations

import logging
import posixpath
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from rivetr_core.apimodel import ApiModel
from rivetr_core.contract import Mount
from rivetr_core.contract.errors import Conflict, NotFound, RivetrError, ValidationFailed
from rivetr_core.db import isoformat, utcnow
from rivetr_core.models.apps import App
from rivetr_core.models.volumes import VOLUME_KINDS, Volume, engine_volume_name

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext

log = logging.getLogger("rivetr.volumes")

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
LABEL_VOLUME = "rivetr.volume"


def volume_labels(instance_id: str, app_id: str, name: str) -> dict[str, str]:
    return {
        "rivetr.managed": "true",
        "rivetr.instance": instance_id,
        "rivetr.app": app_id,
        LABEL_VOLUME: name,
    }


def mounts_for(app_id: str, volumes: list[Volume], instance_id: str) -> list[Mount]:
    """The runtime's mounts of an app's volumes (what ``run_spec`` puts into every container of the app)."""
    out = []
    for v in volumes:
        if v.kind == "bind":
            out.append(
                Mount(source=v.host_path or "", target=v.mount_path, kind="bind", read_only=v.read_only)
            )
        else:
            out.append(
                Mount(
                    source=engine_volume_name(app_id, v.name),
                    target=v.mount_path,
                    kind="volume",
                    read_only=v.read_only,
                    labels=volume_labels(instance_id, app_id, v.name),
                )
            )
    return out


class VolumeOut(ApiModel):
    id: str
    app_id: str
    name: str
    mount_path: str
    kind: Literal["volume", "bind"]
    host_path: str | None
    read_only: bool
    engine_name: str | None = Field(description="The engine volume (named volumes); null for a bind mount.")
    size_bytes: int | None = Field(
        description="Bytes used (named volumes, measured on the server; 0 before the first start); null when "
        "not measured (bind mounts, engine unavailable)."
    )
    created_at: str
    updated_at: str


def volume_json(row: Volume, size: int | None = None) -> dict[str, Any]:
    """A mount as the API shows it (:class:`VolumeOut`); ``size``: bytes used (None: not measured)."""
    return VolumeOut(
        id=row.id,
        app_id=row.app_id,
        name=row.name,
        mount_path=row.mount_path,
        kind=row.kind,  # type: ignore[arg-type]
        host_path=row.host_path,
        read_only=row.read_only,
        engine_name=engine_volume_name(row.app_id, row.name) if row.kind == "volume" else None,
        size_bytes=size,
        created_at=isoformat(row.created_at) or "",
        updated_at=isoformat(row.updated_at) or "",
    ).model_dump(mode="json")


def new_volume_json(row: Volume) -> dict[str, Any]:
    """A mount just created: a named volume holds nothing yet (0 bytes), a bind is not measured."""
    return volume_json(row, 0 if row.kind == "volume" else None)


class VolumeService:
    def __init__(self, ctx: RivetrContext) -> None:
        self.ctx = ctx

    # ------------------------------------------------------------------------------------------- reading
    async def for_app(self, app_id: str) -> list[Volume]:
        async with self.ctx.db.session() as session:
            if await session.get(App, app_id) is None:
                raise NotFound.of("app", app_id)
            rows = await session.exec(
                select(Volume).where(Volume.app_id == app_id).order_by(col(Volume.mount_path))
            )
            return list(rows.all())

    async def get(self, app_id: str, volume_id: str) -> Volume:
        async with self.ctx.db.session() as session:
            row = await session.get(Volume, volume_id)
            if row is None or row.app_id != app_id:
                raise NotFound.of("volume", volume_id)
            return row

    async def sizes(self, app_id: str, volumes: list[Volume]) -> dict[str, int | None]:
        """Bytes used per volume id: named volumes through the runtime, binds not measured (None; they are
        the server's own directories). Without an engine every size is None."""
        named = {engine_volume_name(app_id, v.name): v.id for v in volumes if v.kind == "volume"}
        out: dict[str, int | None] = {v.id: None for v in volumes}
        runtime = self.ctx.runtime_if_ready()
        if runtime is None or not named:
            return out
        try:
            sizes = await runtime.volume_sizes(list(named))
        except RivetrError:
            log.debug("volume sizes of app %s unavailable", app_id, exc_info=True)
            return out
        for engine_name, volume_id in named.items():
            out[volume_id] = sizes.get(engine_name)
        return out

    async def listing(self, app_id: str) -> list[dict[str, Any]]:
        """The app's mounts as the API and the dashboard show them (sizes included)."""
        rows = await self.for_app(app_id)
        sizes = await self.sizes(app_id, rows)
        return [volume_json(row, sizes.get(row.id)) for row in rows]

    async def detail(self, app_id: str, volume_id: str) -> dict[str, Any]:
        """One mount as the API shows it, with the bytes it uses."""
        row = await self.get(app_id, volume_id)
        return volume_json(row, (await self.sizes(app_id, [row])).get(row.id))

    # ------------------------------------------------------------------------------------------ checking
    def _check(self, values: dict[str, Any]) -> None:
        """Normalise and check one volume's fields (all present)."""
        name = values["name"]
        if not NAME_RE.match(name):
            raise ValidationFailed.on(
                "name",
                "must be DNS-safe: 1-63 lower-case letters, digits and hyphens, not starting or ending "
                "with a hyphen",
            )
        kind = values["kind"]
        if kind not in VOLUME_KINDS:
            raise ValidationFailed.on("kind", "must be 'volume' or 'bind'")
        path = values["mount_path"]
        if not path.startswith("/") or "\0" in path:
            raise ValidationFailed.on("mount_path", "must be an absolute path in the container")
        path = posixpath.normpath(path)
        if path == "/":
            raise ValidationFailed.on("mount_path", "cannot mount over the container's root")
        values["mount_path"] = path
        host = values.get("host_path")
        if kind == "volume":
            if host:
                raise ValidationFailed.on("host_path", "only bind mounts have a host path")
            values["host_path"] = None
            return
        if not host or not host.startswith("/") or "\0" in host:
            raise ValidationFailed.on("host_path", "a bind mount needs an absolute host path")
        host = posixpath.normpath(host)
        roots = [posixpath.normpath(r) for r in self.ctx.config.volumes.allowed_bind_roots]
        if not roots:
            raise ValidationFailed.on(
                "host_path", "bind mounts are disabled on this server ([volumes] allowed_bind_roots is empty)"
            )
        if not any(host == root or host.startswith(root.rstrip("/") + "/") for root in roots):
            raise ValidationFailed.on(
                "host_path", "not under an allowed bind root ([volumes] allowed_bind_roots)", allowed=roots
            )
        values["host_path"] = host

    @staticmethod
    async def _check_unique(session: Any, app_id: str, values: Mapping[str, Any], own_id: str | None) -> None:
        rows = (await session.exec(select(Volume).where(Volume.app_id == app_id))).all()
        for other in rows:
            if other.id == own_id:
                continue
            if other.name == values["name"]:
                raise Conflict.on("name", "already used by another volume of this app")
            if other.mount_path == values["mount_path"]:
                raise Conflict.on(
                    "mount_path", f"volume {other.name!r} is already mounted there", summary="already mounted"
                )

    # ------------------------------------------------------------------------------------------ changing
    async def create(self, app_id: str, fields: Mapping[str, Any]) -> Volume:
        """A new mount of the app (applies at its next container start)."""
        values = {"kind": "volume", "host_path": None, "read_only": False, **fields}
        self._check(values)
        try:
            async with self.ctx.db.session() as session:
                if await session.get(App, app_id) is None:
                    raise NotFound.of("app", app_id)
                await self._check_unique(session, app_id, values, None)
                row = Volume(app_id=app_id, **values)
                session.add(row)
                await session.commit()
                await session.refresh(row)
        except IntegrityError:
            raise Conflict.on("name", "already used by another volume of this app") from None
        return row

    async def update(
        self, app_id: str, volume_id: str, fields: Mapping[str, Any], *, managed_ok: bool = False
    ) -> Volume:
        """Change the fields given. Renaming a named volume means another engine volume (the old one's data
        is not moved), so it is refused; remove and add instead. Only ``host_path`` may be null (a named
        volume has none). 409 ``managed_by_file`` for a volume the app's repository file declares, unless
        ``managed_ok`` (that file's deployment, or ``rivetr apply`` once it checked its plan)."""
        await self._refuse_managed(app_id, volume_id, managed_ok)
        for key in ("name", "kind", "mount_path", "read_only"):
            if key in fields and fields[key] is None:
                raise ValidationFailed.on(key, "must not be null")
        async with self.ctx.db.session() as session:
            row = await session.get(Volume, volume_id)
            if row is None or row.app_id != app_id:
                raise NotFound.of("volume", volume_id)
            values = {
                "name": row.name,
                "kind": row.kind,
                "mount_path": row.mount_path,
                "host_path": row.host_path,
                "read_only": row.read_only,
                **fields,
            }
            if row.kind == "volume" and (values["name"] != row.name or values["kind"] != row.kind):
                field = "name" if values["name"] != row.name else "kind"
                raise ValidationFailed.on(
                    field, "a named volume's name and kind cannot change (its data would be left behind)"
                )
            if values["kind"] == "volume" and "host_path" not in fields:
                values["host_path"] = None
            self._check(values)
            await self._check_unique(session, app_id, values, volume_id)
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
            session.add(row)
            try:
                await session.commit()
            except IntegrityError:
                raise Conflict.on("mount_path", "already mounted") from None
            await session.refresh(row)
            return row

    async def delete(self, app_id: str, volume_id: str, *, managed_ok: bool = False) -> bool:
        """Forget the mount (the app's next container starts without it). A named volume's engine volume (its
        data) is removed now when no container mounts it, else after the app's next deployment (see
        :meth:`prune`). Returns whether the data is gone already. 409 ``managed_by_file`` as :meth:`update`."""
        await self._refuse_managed(app_id, volume_id, managed_ok)
        row = await self.get(app_id, volume_id)
        async with self.ctx.db.session() as session:
            found = await session.get(Volume, volume_id)
            if found is not None:
                await session.delete(found)
                await session.commit()
        if row.kind != "volume":
            return True
        runtime = self.ctx.runtime_if_ready()
        if runtime is None:
            return False
        try:
            await runtime.remove_volume(engine_volume_name(app_id, row.name))
        except RivetrError as exc:
            log.info(
                "volume %s of app %s is still mounted (%s): removed after the next deployment",
                row.name,
                app_id,
                exc.message,
            )
            return False
        return True

    async def _refuse_managed(self, app_id: str, volume_id: str, managed_ok: bool) -> None:
        """A volume the app's repository file declares by name is the file's: changing or removing it here
        would be undone by the next deployment (rivetr_core.iac.managed, loaded on first use)."""
        if managed_ok:
            return
        from rivetr_core.iac.managed import refuse_managed_row

        await refuse_managed_row(self.ctx.db, app_id, "volumes", volume_id)

    def _labels(self, app_id: str) -> dict[str, str]:
        instance = getattr(self.ctx.services.get("deployments"), "instance_id", "") or ""
        labels = {"rivetr.managed": "true", "rivetr.app": app_id}
        if instance:
            labels["rivetr.instance"] = instance
        return labels

    async def prune(self, app_id: str, runtime: Any) -> list[str]:
        """After a deployment switched (no container of the app mounts an old mount any more): remove the
        app's engine volumes that no mount names now (deleted while a container used them). Best effort."""
        try:
            wanted = {
                engine_volume_name(app_id, v.name) for v in await self.for_app(app_id) if v.kind == "volume"
            }
            removed = []
            for name in await runtime.list_volumes(self._labels(app_id)):
                if name not in wanted:
                    await runtime.remove_volume(name)
                    removed.append(name)
            return removed
        except Exception:
            log.warning("removing deleted volumes of app %s failed", app_id, exc_info=True)
            return []

    async def remove_engine_volumes(self, app_id: str, names: list[str]) -> None:
        """After an app's deletion (its containers are gone): remove its named volumes from the engine, those
        of its mounts (``names``) and any left labelled with it (deleted while mounted)."""
        runtime = self.ctx.runtime_if_ready()
        if runtime is None:
            try:
                runtime = await self.ctx.runtime()
            except RivetrError:
                if names:
                    log.warning(
                        "engine unavailable: volumes of deleted app %s left behind: %s", app_id, names
                    )
                return
        engine_names = {engine_volume_name(app_id, name) for name in names}
        try:
            engine_names |= set(await runtime.list_volumes(self._labels(app_id)))
        except RivetrError as exc:
            log.warning("could not list the volumes of deleted app %s: %s", app_id, exc.message)
        for name in sorted(engine_names):
            try:
                await runtime.remove_volume(name)
            except RivetrError as exc:
                log.warning("could not remove volume %s of deleted app %s: %s", name, app_id, exc.message)

    async def copy_for_preview(self, base_id: str, preview_id: str) -> None:
        """Give a PR's preview app the base app's named volumes as its own (new, empty) ones. Bind mounts are
        not copied: they are the server's directories, production's data."""
        async with self.ctx.db.session() as session:
            base = (await session.exec(select(Volume).where(Volume.app_id == base_id))).all()
            have = {
                v.name for v in (await session.exec(select(Volume).where(Volume.app_id == preview_id))).all()
            }
            for v in base:
                if v.kind == "volume" and v.name not in have:
                    session.add(
                        Volume(
                            app_id=preview_id,
                            name=v.name,
                            mount_path=v.mount_path,
                            kind="volume",
                            read_only=v.read_only,
                        )
                    )
            await session.commit()
