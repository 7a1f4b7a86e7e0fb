"""``/api/apps``: create, list, read, update and delete apps.

Uniqueness of names and domains is checked before writing (for a clear 409 naming the field) and enforced by
the database (unique name, domain primary key), so a race can never store a duplicate. Deleting an app
removes its containers, routes and images through the deployment service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from quart import Blueprint, Response
from quart_schema import tag, validate_querystring, validate_request
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from rivetr_core.context import rivetr
from rivetr_core.db import isoformat, utcnow
from rivetr_core.engine.gitsource import classify_url, redact
from rivetr_core.engine.limits import effective_limits
from rivetr_core.engine.selection import SelectionError, check_installed, health_check_json, merge_legacy
from rivetr_core.errors import ApiError, not_found, validation_error
from rivetr_core.models.apps import App, AppDomain, Project, SshKey
from rivetr_core.models.core import ProxyRoute
from rivetr_core.models.git import not_a_preview_app
from rivetr_core.openapi import responds

from .appschema import NULLABLE_APP_FIELDS, AppIn, AppsQuery, AppUpdate

bp = Blueprint("apps_api", __name__, url_prefix="/api/apps")


def app_json(app: App, domains: list[str]) -> dict[str, Any]:
    return {
        "id": app.id,
        "name": app.name,
        "project_id": app.project_id,
        "environment": app.environment,
        "git_url": redact(app.git_url),
        "branch": app.branch,
        "dockerfile": app.dockerfile,
        "build_context": app.build_context,
        "port": app.port,
        "domains": domains,
        "healthcheck_path": app.healthcheck_path,
        "healthcheck_status": app.healthcheck_status,
        "healthcheck_timeout": app.healthcheck_timeout,
        "healthcheck_retries": app.healthcheck_retries,
        "healthcheck_interval": app.healthcheck_interval,
        "builder": app.builder,
        "health_check": health_check_json(app),
        "cpu_limit": app.cpu_limit,
        "memory_limit": app.memory_limit,
        "pids_limit": app.pids_limit,
        "log_max_size": app.log_max_size,
        "log_max_files": app.log_max_files,
        # What the next container gets (the app's own values, else [runtime]'s); null: unlimited.
        "effective_limits": effective_limits(app, rivetr().config.runtime).as_json(),
        "ssh_key_id": app.ssh_key_id,
        "has_git_token": app.git_token_enc is not None,
        "git_token_user": app.git_token_user,
        "https_redirect": app.https_redirect,
        "hsts": app.hsts,
        "status": app.status,
        "current_deployment_id": app.current_deployment_id,
        "created_at": isoformat(app.created_at),
        "updated_at": isoformat(app.updated_at),
    }


async def load_app(app_id: str) -> tuple[App, list[str]]:
    ctx = rivetr()
    async with ctx.db.session() as session:
        app = await session.get(App, app_id)
        if app is None:
            raise not_found("app", app_id)
        rows = await session.exec(
            select(AppDomain).where(AppDomain.app_id == app_id).order_by(col(AppDomain.position))
        )
        return app, [r.domain for r in rows.all()]


def _missing(field: str, message: str) -> ApiError:
    return ApiError(404, f"{field}: {message}", details=[{"field": field, "message": message}])


def _check_selection(fields: dict[str, Any]) -> None:
    """422 listing the installed names for a builder or health check no plugin provides; folds
    ``health_check`` into the ``healthcheck_*`` columns and the stored JSON (see engine.selection)."""
    plugins = rivetr().plugins
    spec = fields.get("health_check")
    try:
        check_installed(
            fields.get("builder"),
            spec["kind"] if spec else None,
            plugins.builders(),
            plugins.health_checks(),
        )
        merge_legacy(fields)
    except SelectionError as exc:
        detail: dict[str, Any] = {"field": exc.field, "message": exc.message}
        if exc.available is not None:
            detail["available"] = exc.available
        raise ApiError(422, f"{exc.field}: {exc.message}", details=[detail]) from None


async def _check_references(fields: dict[str, Any], app_id: str | None) -> None:
    """422 for a disallowed git URL, 404 for a missing project/SSH key; 409 for a taken name or domain."""
    ctx = rivetr()
    if (
        fields.get("git_url")
        and classify_url(fields["git_url"]) in ("file", "local")
        and not ctx.config.git.allow_local
    ):
        raise validation_error("git_url", "local paths and file:// URLs are disabled ([git] allow_local)")
    async with ctx.db.session() as session:
        # A reference to nothing is a 404 naming the field (the body itself is well-formed).
        if fields.get("project_id") and await session.get(Project, fields["project_id"]) is None:
            raise _missing("project_id", f"no project with id {fields['project_id']!r}")
        if fields.get("ssh_key_id") and await session.get(SshKey, fields["ssh_key_id"]) is None:
            raise _missing("ssh_key_id", f"no SSH key with id {fields['ssh_key_id']!r}")
        if fields.get("name"):
            other = (await session.exec(select(App).where(App.name == fields["name"]))).first()
            if other is not None and other.id != app_id:
                raise ApiError(
                    409,
                    f"name: an app named {fields['name']!r} already exists",
                    details=[{"field": "name", "message": "already taken"}],
                )
        for domain in fields.get("domains") or ():
            if domain == ctx.config.server.dashboard_domain:
                raise ApiError(
                    409,
                    f"domains: {domain!r} is the dashboard's ([server] dashboard_domain)",
                    details=[{"field": "domains", "message": f"{domain} is the dashboard's"}],
                )
            owner = await session.get(AppDomain, domain)
            route = await session.get(ProxyRoute, domain)
            if (owner is not None and owner.app_id != app_id) or (
                route is not None and route.app_id != app_id and (owner is None or owner.app_id != app_id)
            ):
                raise ApiError(
                    409,
                    f"domains: {domain!r} is already used by another app or route",
                    details=[{"field": "domains", "message": f"{domain} is already in use"}],
                )


async def delete_unless_apps_use(
    model: Any, row_id: str, what: str, app_column: Any, refusal: Callable[[Any, int], tuple[str, str]]
) -> Response:
    """Delete row ``row_id`` of ``model`` (404 naming ``what`` if absent); 409 while apps point at it through
    ``app_column``, with ``refusal(row, count)`` → (message, code)."""
    async with rivetr().db.session() as session:
        row = await session.get(model, row_id)
        if row is None:
            raise not_found(what, row_id)
        count = (await session.exec(select(func.count()).select_from(App).where(app_column == row_id))).one()
        if count:
            message, code = refusal(row, count)
            raise ApiError(409, message, code=code, details={"apps": count})
        await session.delete(row)
        await session.commit()
    return Response(status=204)


def split_credentials(fields: dict[str, Any]) -> None:
    """Move a token written into an http(s) ``git_url`` (``https://user:token@host/…`` or
    ``https://token@host/…``) to ``git_token`` (encrypted at rest) so no column holds it in plain text.
    The user name stays in the URL (git then asks the askpass helper only for the password); an explicit
    ``git_token`` wins."""
    url = fields.get("git_url")
    if not url or not url.lower().startswith(("http://", "https://")):
        return
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return
    userinfo, _, host = parts.netloc.rpartition("@")
    user, sep, password = userinfo.partition(":")
    token, keep_user = (unquote(password), user) if sep else (unquote(user), "")
    fields["git_url"] = urlunsplit(parts._replace(netloc=f"{keep_user}@{host}" if keep_user else host))
    if token and not fields.get("git_token"):
        fields["git_token"] = token


def _taken(exc: IntegrityError) -> ApiError:
    text = str(exc.orig)
    field = "domains" if "app_domains" in text else "name"
    return ApiError(409, f"{field}: already in use", details=[{"field": field, "message": "already in use"}])


@bp.post("")
@responds(404)
@tag(["apps"])
@validate_request(AppIn)
async def create_app(data: AppIn) -> tuple[dict[str, Any], int]:
    """Create an app (nothing is deployed until ``POST /api/apps/{id}/deploy``)."""
    ctx = rivetr()
    fields = data.model_dump()
    split_credentials(fields)
    _check_selection(fields)
    await _check_references(fields, None)
    token = fields.pop("git_token")
    domains = fields.pop("domains")
    app = App(**fields, git_token_enc=ctx.secrets.encrypt(token) if token else None)
    try:
        async with ctx.db.session() as session:
            session.add(app)
            await session.flush()
            for position, domain in enumerate(domains):
                session.add(AppDomain(domain=domain, app_id=app.id, position=position))
            await session.commit()
    except IntegrityError as exc:
        raise _taken(exc) from None
    ctx.plugins.notify("rivetr_on_app_created", app_id=app.id, name=app.name)
    return app_json(app, domains), 201


@bp.get("")
@tag(["apps"])
@validate_querystring(AppsQuery)
async def list_apps(query_args: AppsQuery) -> list[dict[str, Any]]:
    """Every app, optionally only those of one project and/or environment. Preview apps (one per pull
    request, see ``/api/apps/{id}/previews``) are left out unless ``include_previews=true``."""
    ctx = rivetr()
    stmt = select(App).order_by(col(App.name))
    if not query_args.include_previews:
        stmt = stmt.where(not_a_preview_app())
    if query_args.project_id:
        stmt = stmt.where(App.project_id == query_args.project_id)
    if query_args.environment:
        stmt = stmt.where(App.environment == query_args.environment)
    async with ctx.db.session() as session:
        apps = (await session.exec(stmt)).all()
        domain_rows = (await session.exec(select(AppDomain).order_by(col(AppDomain.position)))).all()
    domains: dict[str, list[str]] = {}
    for row in domain_rows:
        domains.setdefault(row.app_id, []).append(row.domain)
    return [app_json(a, domains.get(a.id, [])) for a in apps]


@bp.get("/<app_id>")
@tag(["apps"])
async def get_app(app_id: str) -> dict[str, Any]:
    app, domains = await load_app(app_id)
    return app_json(app, domains)


@bp.put("/<app_id>")
@tag(["apps"])
@validate_request(AppUpdate)
async def update_app(app_id: str, data: AppUpdate) -> dict[str, Any]:
    """Change some fields; domains and the HTTPS flags apply to the app's routes at once, the rest at the
    next deploy."""
    ctx = rivetr()
    old_app, old_domains = await load_app(app_id)
    fields = {k: getattr(data, k) for k in data.model_fields_set}
    for key, value in fields.items():
        if value is None and key not in NULLABLE_APP_FIELDS and key != "domains":
            raise validation_error(key, "must not be null")
    split_credentials(fields)
    _check_selection(fields)
    await _check_references(fields, app_id)
    domains = fields.pop("domains", None)
    try:
        async with ctx.db.session() as session:
            app = await session.get(App, app_id)
            if app is None:
                raise not_found("app", app_id)
            if "git_token" in fields:
                token = fields.pop("git_token")
                app.git_token_enc = ctx.secrets.encrypt(token) if token else None
            for key, value in fields.items():
                setattr(app, key, value)
            app.updated_at = utcnow()
            session.add(app)
            if domains is not None:
                for row in (await session.exec(select(AppDomain).where(AppDomain.app_id == app_id))).all():
                    await session.delete(row)
                await session.flush()
                for position, domain in enumerate(domains):
                    session.add(AppDomain(domain=domain, app_id=app_id, position=position))
            await session.commit()
    except IntegrityError as exc:
        raise _taken(exc) from None
    flags_changed = any(
        key in fields and fields[key] != getattr(old_app, key) for key in ("https_redirect", "hsts")
    )
    if (domains is not None and domains != old_domains) or flags_changed:
        await ctx.services["deployments"].sync_routes(app_id, old_domains)
    app, new_domains = await load_app(app_id)
    return app_json(app, new_domains)


@bp.delete("/<app_id>")
@tag(["apps"])
async def delete_app(app_id: str) -> Response:
    """Stop and remove the app's containers, routes and images, then the app and its history."""
    await rivetr().services["deployments"].delete_app(app_id)
    return Response(status=204)
