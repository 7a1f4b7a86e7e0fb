"""``ServiceLinkService``: an app's links to managed services (``/api/apps/{id}/links``, docs/services.md).

A link hands a service's connection settings to an app as environment variables at the app's next deploy:
``<PREFIX>_URL`` and the parts the service's template names (``<PREFIX>_HOST``, ``_PORT``, ``_USER``,
``_PASSWORD``, ``_DATABASE``), and runs the app's containers on the service's project network, where the
service answers by its name. Rules:

* ``env_prefix`` matches ``^[A-Z][A-Z0-9_]{0,40}$``; by default the template's link prefix (``DATABASE``,
  ``REDIS``). One prefix per app (409): a second database needs its own prefix. The same service may be linked
  twice under two prefixes.
* The service is in the app's project (both in none counts as the same); another project's is a 422.
* Links apply at the next deploy, never to the running container. A variable the user set on the app wins over a
  generated one of the same name (as on Heroku and Coolify: what the user typed is what runs).
* Pull-request previews are apps of their own and get no links (they never touch production's database).

This module is feature code: the deploy path imports it only for an app that has links (checked with raw SQL
first in ``DeploymentService.snapshot``), so an idle server and apps without links never load the services tables.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from rivetr_core.contract.errors import Conflict, NotFound, RivetrError, ValidationFailed
from rivetr_core.db import isoformat
from rivetr_core.managed.catalog import catalog_for
from rivetr_core.managed.template import Template
from rivetr_core.models.apps import App
from rivetr_core.models.services import ManagedService, ServiceLink, project_network_name

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext

log = logging.getLogger("rivetr.links")

PREFIX_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,40}$")
PREFIX_PATTERN = PREFIX_RE.pattern


@dataclass
class LinkSettings:
    """What an app's links add to its containers: the generated env and the network to run on."""

    env: dict[str, str] = field(default_factory=dict)
    network: str | None = None
    project_id: str | None = None


def _template(ctx: RivetrContext, service_type: str) -> Template:
    """The catalogue's template of a service type (``ValidationFailed`` listing the names when unknown)."""
    return catalog_for(ctx.plugins).get(service_type)


class ServiceLinkService:
    def __init__(self, ctx: RivetrContext) -> None:
        self.ctx = ctx

    # ------------------------------------------------------------------------------------------- reading
    async def _rows(self, app_id: str) -> list[tuple[ServiceLink, ManagedService]]:
        async with self.ctx.db.session() as session:
            if await session.get(App, app_id) is None:
                raise NotFound.of("app", app_id)
            rows = await session.exec(
                select(ServiceLink, ManagedService)
                .where(ServiceLink.app_id == app_id, ServiceLink.service_id == ManagedService.id)
                .order_by(col(ServiceLink.env_prefix))
            )
            return [(link, service) for link, service in rows.all()]

    async def listing(self, app_id: str) -> list[dict[str, Any]]:
        """The app's links by prefix, as the API shows them (variable names, never values)."""
        return [self._json(link, service) for link, service in await self._rows(app_id)]

    def _credentials(self, service: ManagedService) -> dict[str, str]:
        creds: dict[str, str] = json.loads(self.ctx.secrets.decrypt(service.credentials_enc))
        return creds

    def _env(self, prefix: str, service: ManagedService) -> dict[str, str]:
        """The variables one link gives the app (decrypted: in memory only, never logged or stored)."""
        template = _template(self.ctx, service.type)
        return template.link_env(
            prefix,
            host=service.name,
            port=template.port,
            credentials=self._credentials(service),
            name=service.name,
        )

    def _json(self, link: ServiceLink, service: ManagedService) -> dict[str, Any]:
        try:
            keys = sorted(self._env(link.env_prefix, service))
        except RivetrError as exc:  # a template gone with its plugin: the link is listed, its env is not
            log.warning("link %s of app %s: %s", link.id, link.app_id, exc.message)
            keys = []
        return {
            "id": link.id,
            "app_id": link.app_id,
            "service_id": service.id,
            "service_name": service.name,
            "service_type": service.type,
            "env_prefix": link.env_prefix,
            "env_keys": keys,
            "created_at": isoformat(link.created_at) or "",
        }

    # ------------------------------------------------------------------------------------------ changing
    async def create(self, app_id: str, service_id: str, env_prefix: str | None = None) -> dict[str, Any]:
        """Link the app to a service (applies at its next deploy); returns the link as the API shows it."""
        if env_prefix is not None and not PREFIX_RE.match(env_prefix):
            raise ValidationFailed.on(
                "env_prefix",
                "must be 1-41 upper-case letters, digits and underscores, starting with a letter",
            )
        async with self.ctx.db.session() as session:
            app = await session.get(App, app_id)
            if app is None:
                raise NotFound.of("app", app_id)
            service = await session.get(ManagedService, service_id)
            if service is None:
                raise NotFound.on("service_id", f"no service with id {service_id!r}")
            if service.project_id != app.project_id:
                raise ValidationFailed.on(
                    "service_id",
                    f"service {service.name!r} is in another project than app {app.name!r} "
                    "(apps reach only their own project's services)",
                    service_project_id=service.project_id,
                    app_project_id=app.project_id,
                )
            # A template without [link] (an app such as Uptime Kuma) still gives <P>_HOST and <P>_PORT.
            prefix = env_prefix or _template(self.ctx, service.type).link_prefix or "SERVICE"
            taken = (
                await session.exec(
                    select(ServiceLink, ManagedService).where(
                        ServiceLink.app_id == app_id,
                        ServiceLink.env_prefix == prefix,
                        ServiceLink.service_id == ManagedService.id,
                    )
                )
            ).first()
            if taken is not None:
                raise _prefix_taken(prefix, taken[1].name)
            row = ServiceLink(app_id=app_id, service_id=service_id, env_prefix=prefix)
            session.add(row)
            try:
                await session.commit()
            except IntegrityError:  # a concurrent link took the prefix between the check and the insert
                raise _prefix_taken(prefix, None) from None
            await session.refresh(row)
        return self._json(row, service)

    async def delete(self, app_id: str, link_id: str, *, managed_ok: bool = False) -> None:
        """Remove the link; the app's next deploy runs without its variables. 409 ``managed_by_file`` for a link
        to a service the app's repository file links to (the next deployment would link it again), unless
        ``managed_ok`` (that file's deployment, or ``rivetr apply`` once it checked its plan)."""
        if not managed_ok:
            from rivetr_core.iac.managed import refuse_managed_link

            await refuse_managed_link(self.ctx.db, app_id, link_id)
        async with self.ctx.db.session() as session:
            if await session.get(App, app_id) is None:
                raise NotFound.of("app", app_id)
            row = await session.get(ServiceLink, link_id)
            if row is None or row.app_id != app_id:
                raise NotFound.of("link", link_id)
            await session.delete(row)
            await session.commit()

    # ------------------------------------------------------------------------------------------- deploying
    async def settings(self, app_id: str) -> LinkSettings:
        """The env and network the app's links give its next container (decrypted, in memory only)."""
        out = LinkSettings()
        projects: dict[str | None, list[str]] = {}
        for link, service in await self._rows(app_id):
            out.env.update(self._env(link.env_prefix, service))
            projects.setdefault(service.project_id, []).append(service.name)
        if len(projects) > 1:  # the app moved to another project after it was linked
            raise ValidationFailed(
                "the app is linked to services of several projects ("
                + "; ".join(
                    f"{project_network_name(p)}: {', '.join(names)}"
                    for p, names in sorted(projects.items(), key=str)
                )
                + "): a container joins one private network; remove the links of the other project"
            )
        if projects:
            out.project_id = next(iter(projects))
            out.network = project_network_name(out.project_id)
        return out

    async def ensure_network(self, settings: LinkSettings, runtime: Any, instance_id: str) -> None:
        """Create (idempotent) the project network before a linked container starts on it; labelled as the
        service lifecycle labels it, whichever of the two creates it first."""
        if settings.network is None:
            return
        ensure = getattr(runtime, "ensure_network", None)
        if ensure is None:
            raise RivetrError(
                f"the {runtime.name} runtime cannot create private networks, so apps linked to services "
                "cannot run on it",
                code="runtime_unsupported",
            )
        from rivetr_core.projectnet import ensure_project_network

        await ensure_project_network(runtime, settings.project_id, instance_id)


def _prefix_taken(prefix: str, other: str | None) -> Conflict:
    return Conflict.on(
        "env_prefix",
        f"the app already has a link with prefix {prefix}"
        + (f" (to service {other!r})" if other else "")
        + "; give this link another env_prefix",
        summary=f"prefix {prefix} already used by a link of this app",
    )
