"""Automatic domains (issue 22): every app gets a host name without anyone choosing one.

``[proxy] base_domain = "apps.example.com"`` (a wildcard DNS record ``*.apps.example.com`` pointing at the
server) gives an app ``<app>.<project>.<base_domain>`` (``<app>.<base_domain>`` for an app outside any project);
with ``[proxy] auto_domains = "sslip"`` and no base domain, ``<app>-<project>.<ip-dashed>.sslip.io``, a name
the public sslip.io DNS answers with the IP written in it, so a newcomer with no domain at all reaches an app
by name at once (Coolify's sslip.io default, Dokploy's traefik.me names, CapRover's root domain do the same).

The name is never stored: it is derived from the app's and project's names, so a rename moves it (the services
call :func:`resync` with the old names) and deleting the app removes it with the app's other routes. The
pipeline publishes it like an explicit domain (``DeploymentService.app_domains`` appends it). App names are
unique across the instance, so two generated names never meet; an explicit domain of another app, a stack's
domain or a manual route on the same host wins, and the app's generated name is then skipped, with the reason
shown in ``GET /api/apps/{id}`` (``default_domain.skipped``).

Nothing here is imported at start: the services import it inside the functions that need it.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext

#: The wildcard DNS service of the sslip mode (it answers ``<anything>.<ip-dashed>.sslip.io`` with the IP).
SSLIP_SUFFIX = "sslip.io"
#: Documentation-only addresses (RFC 5737 / RFC 3849): a UDP connect to one picks the source address of the
#: default route without sending a packet, so detection never reaches the internet.
_PROBE_V4 = "192.0.2.1"
_PROBE_V6 = "2001:db8::1"

_OTHER_OWNERS = sa.text(
    "SELECT 'app', domain FROM app_domains WHERE (domain = :host OR domain LIKE :under) AND app_id != :app "
    "UNION ALL SELECT 'stack', domain FROM stack_domains WHERE domain = :host OR domain LIKE :under "
    "UNION ALL SELECT 'route', domain FROM proxy_routes WHERE (domain = :host OR domain LIKE :under) "
    "AND (app_id IS NULL OR app_id != :app)"
)


@dataclass(frozen=True)
class DefaultDomain:
    """An app's generated name: ``domain`` is what it would be (None when none can be made), ``skipped`` why it
    is not published (None: it is, or will be at the next deploy)."""

    domain: str | None
    kind: str  # "base" or "sslip"
    skipped: str | None = None

    @property
    def active(self) -> bool:
        return self.domain is not None and self.skipped is None


def detect_public_ip() -> str | None:
    """The address of the interface the default route leaves by (IPv4 first), None without a default route.
    connect() on a UDP socket only asks the kernel's routing table: no packet is sent."""
    for family, probe in ((socket.AF_INET, _PROBE_V4), (socket.AF_INET6, _PROBE_V6)):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.connect((probe, 9))
                address = sock.getsockname()[0]
        except OSError:
            continue
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_loopback and not ip.is_unspecified:
            return str(ip)
    return None


def sslip_label(ip: str) -> str:
    """``1.2.3.4`` → ``1-2-3-4``; IPv6 colons become dashes (``2a01:4f8::2`` → ``2a01-4f8--2``), as sslip.io
    reads them."""
    return ipaddress.ip_address(ip).compressed.replace(".", "-").replace(":", "-")


def public_ip(ctx: RivetrContext) -> str | None:
    """``[server] public_ip``, else the default route's interface address."""
    return ctx.config.server.public_ip or detect_public_ip()


def mode(ctx: RivetrContext) -> str | None:
    """``base``, ``sslip`` or None (no generated names on this server)."""
    proxy = ctx.config.proxy
    if proxy.auto_domains == "off":
        return None
    if proxy.base_domain:
        return "base"
    return "sslip" if proxy.auto_domains == "sslip" else None


def generated_name(ctx: RivetrContext, app_name: str, project_name: str | None) -> DefaultDomain | None:
    """The name ``app_name`` (in ``project_name``, None: no project) gets on this server, or None when the server
    generates none. Pure: no database, no check of who else uses the name."""
    kind = mode(ctx)
    if kind is None:
        return None
    if kind == "base":
        labels = [app_name, project_name] if project_name else [app_name]
        return DefaultDomain(".".join([*labels, ctx.config.proxy.base_domain or ""]), kind)
    ip = public_ip(ctx)
    if ip is None:
        return DefaultDomain(None, kind, "no public address: set [server] public_ip")
    label = f"{app_name}-{project_name}" if project_name else app_name
    if len(label) > 63:  # one DNS label
        return DefaultDomain(None, kind, f"{label!r} is longer than a DNS label (63 characters)")
    return DefaultDomain(f"{label}.{sslip_label(ip)}.{SSLIP_SUFFIX}", kind)


async def _names(ctx: RivetrContext, app_id: str) -> tuple[str, str | None, bool] | None:
    """The app's name, its project's name and its ``auto_domain`` switch; None when there is no such app."""
    async with ctx.db.session() as session:
        row = (
            await session.exec(  # type: ignore[call-overload]
                sa.text(
                    "SELECT a.name, p.name, a.auto_domain FROM apps a LEFT JOIN projects p ON p.id = a.project_id "
                    "WHERE a.id = :app"
                ),
                params={"app": app_id},
            )
        ).first()
    return (row[0], row[1], bool(row[2])) if row is not None else None


async def describe(ctx: RivetrContext, app_id: str) -> DefaultDomain | None:
    """The app's generated name with the reason it is not published, if any; None when the server generates
    none or there is no such app."""
    if mode(ctx) is None:  # the usual case: no query at all
        return None
    return await _describe(ctx, app_id, await _names(ctx, app_id))


async def _describe(
    ctx: RivetrContext, app_id: str, names: tuple[str, str | None, bool] | None
) -> DefaultDomain | None:
    """:func:`describe` for the app's names already read (:func:`_names`)."""
    if names is None:
        return None
    app_name, project_name, enabled = names
    found = generated_name(ctx, app_name, project_name)
    if found is None or found.domain is None:
        return found
    if not enabled:
        return DefaultDomain(found.domain, found.kind, "turned off for this app (auto_domain: false)")
    host = found.domain
    if host == ctx.config.server.dashboard_domain:
        return DefaultDomain(host, found.kind, "it is the dashboard's domain")
    async with ctx.db.session() as session:
        other = (
            await session.exec(  # type: ignore[call-overload]
                _OTHER_OWNERS, params={"host": host, "under": host + "/%", "app": app_id}
            )
        ).first()
    if other is not None:
        owner = {"app": "another app's domain", "stack": "a stack's domain", "route": "a route"}[other[0]]
        return DefaultDomain(host, found.kind, f"{other[1]} is already {owner}")
    return found


async def published_name(ctx: RivetrContext, app_id: str) -> str | None:
    """The generated name the pipeline routes to the app, None when there is none to route."""
    found = await describe(ctx, app_id)
    return found.domain if found is not None and found.active else None


async def with_generated(ctx: RivetrContext, app_id: str, domains: list[str]) -> list[str]:
    """``domains`` (the app's explicit ones) plus its generated name, last, when it is routed."""
    name = await published_name(ctx, app_id)
    return [*domains, name] if name is not None and name not in domains else domains


def default_domain_json(found: DefaultDomain | None, *, https: bool) -> dict[str, Any] | None:
    """``default_domain`` of an app in the API (rivetr_core.services.app_responses.DefaultDomainOut)."""
    if found is None:
        return None
    scheme = "https" if https else "http"
    return {
        "domain": found.domain,
        "kind": found.kind,
        "active": found.active,
        "skipped": found.skipped,
        "url": f"{scheme}://{found.domain}/" if found.domain else None,
    }


def _api_json(ctx: RivetrContext, found: DefaultDomain | None) -> dict[str, Any] | None:
    # base names are covered by ACME or an uploaded *.<base> certificate; sslip names get none by default
    https = found is not None and found.kind == "base" and ctx.config.proxy.acme_enabled
    return default_domain_json(found, https=https)


async def annotate(ctx: RivetrContext, out: dict[str, Any]) -> dict[str, Any]:
    """Fill ``default_domain`` of an app's API JSON (what :func:`describe` says)."""
    out["default_domain"] = _api_json(ctx, await describe(ctx, out["id"]))
    return out


async def resync(ctx: RivetrContext, app_id: str, old_name: str | None) -> None:
    """After a rename (of the app or its project) or a change of its switch: route the app's current generated
    name and drop ``old_name`` (what it was before) if it changed."""
    current = await ctx.services.deployments.app_domains(app_id)  # explicit ones and the new generated name
    old = [*current, old_name] if old_name is not None and old_name not in current else current
    await ctx.services.deployments.sync_routes(app_id, old)


async def resync_project(ctx: RivetrContext, project_id: str, old_project_name: str) -> None:
    """A project was renamed: every app of it moves to its new generated name."""
    if mode(ctx) is None:
        return
    async with ctx.db.session() as session:
        rows = (
            await session.exec(  # type: ignore[call-overload]
                sa.text("SELECT id, name FROM apps WHERE project_id = :project"),
                params={"project": project_id},
            )
        ).all()
    for app_id, app_name in rows:
        before = generated_name(ctx, app_name, old_project_name)
        await resync(ctx, app_id, before.domain if before is not None else None)


async def follow_app_edit(ctx: RivetrContext, old_app: Any, values: dict[str, Any]) -> None:
    """After ``AppService.update``: a new name, project or ``auto_domain`` moves (or drops) the generated name.
    ``old_app``: the app as it was before the edit."""
    if mode(ctx) is None or not any(
        key in values and values[key] != getattr(old_app, key)
        for key in ("name", "project_id", "auto_domain")
    ):
        return
    old_project = None
    if old_app.project_id is not None:
        async with ctx.db.session() as session:
            row = (
                await session.exec(  # type: ignore[call-overload]
                    sa.text("SELECT name FROM projects WHERE id = :id"), params={"id": old_app.project_id}
                )
            ).first()
        old_project = row[0] if row is not None else None
    before = generated_name(ctx, old_app.name, old_project) if old_app.auto_domain else None
    await resync(ctx, old_app.id, before.domain if before is not None else None)


async def app_view(ctx: RivetrContext, app_id: str) -> dict[str, Any] | None:
    """What the dashboard shows of the app's generated domain: ``default_domain`` of the API plus its
    ``auto_domain`` switch; None when the server generates none (the dashboard then shows nothing)."""
    if mode(ctx) is None:
        return None
    names = await _names(ctx, app_id)  # once: the description and the switch come from the same row
    found = await _describe(ctx, app_id, names)
    if found is None:
        return None
    return {**(_api_json(ctx, found) or {}), "auto_domain": names[2] if names is not None else True}
