"""``AppService`` (``ctx.services.apps``): the business rules of apps, shared by every face.

The API's handlers, the dashboard (through the API), the CLI (through the API) and PR previews create, change,
delete and deploy apps through here, so the same checks and side effects apply to all of them:

* ``await apps.create(fields) -> (App, domains)`` — credentials split out of the git URL and encrypted, the
  builder and health check checked against what is installed, references (project, SSH key) and uniqueness
  (name, domains, the dashboard's domain) checked, rows written, ``rivetr_on_app_created`` told.
* ``await apps.update(app_id, fields) -> (App, domains)`` — the same checks for the fields given; domains and
  the HTTPS flags apply to the app's routes at once, the rest at the next deployment.
* Settings and variables the app's repository file manages (:mod:`rivetr_core.iac.managed`) are refused here,
  whoever calls (409 ``managed_by_file``, nothing applied), unless the caller says ``managed_ok=True``: the
  deployment applying that file, or ``rivetr apply`` once it refused its plan's managed changes.
* ``await apps.delete(app_id, keep_volumes=False)`` — containers, routes, images and rows (the pipeline's
  ``delete_app``), then ``rivetr_on_app_deleted``, then the app's named volumes unless ``keep_volumes``.
* ``await apps.deploy(app_id, commit=None, trigger="api")`` / ``await apps.rollback(deployment_id)`` — queue a
  deployment through the pipeline.
* ``await apps.sync_preview_app(...)`` — create or refresh a PR's hidden preview app (``rivetr_on_app_created``
  fires for a new one like for any other app).

Errors are domain errors (:mod:`rivetr_core.contract.errors`): ``NotFound`` for a missing app or reference,
``Conflict`` for a taken name or domain, ``ValidationFailed`` for a value this install cannot accept.
Uniqueness is checked before writing (a clear error naming the field) and enforced by the database (unique
name, domain primary key), so a race can never store a duplicate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

import sqlalchemy as sa
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from rivetr_core.contract.errors import Conflict, NotFound, ValidationFailed
from rivetr_core.db import utcnow
from rivetr_core.engine.gitsource import classify_url
from rivetr_core.engine.ports import DEFAULT_PORT, PORT_DETECT
from rivetr_core.engine.rollout_plan import check_app_fields as check_rollout_fields
from rivetr_core.engine.selection import SelectionError, check_installed, merge_legacy
from rivetr_core.models.apps import App, AppDomain, Deployment, EnvVar, Project, SshKey
from rivetr_core.models.core import ProxyRoute

from .app_responses import app_json, env_var_json

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext
    from rivetr_core.pagination import PageQuery

#: Fields of an update that may be null (cleared); the others must be given a value when present.
NULLABLE_APP_FIELDS = frozenset(
    {
        "healthcheck_status",
        "project_id",
        "cpu_limit",
        "memory_limit",
        "pids_limit",
        "log_max_size",
        "log_max_files",
        "ssh_key_id",
        "git_token",
        "git_token_user",
        "pre_backup_command",
        "release_command",
        "post_deploy_command",
        "install_command",
        "build_command",
        "start_command",
        "base_image",
        "config_path",
    }
)

#: Release phase limits (see rivetr_core.engine.release): the longest command, the timeout's range in seconds.
MAX_COMMAND_LENGTH = 2000
RELEASE_TIMEOUT_RANGE = (1.0, 86400.0)

#: What a preview app copies from its base app (HSTS is left off: preview hosts come and go).
PREVIEW_COPIED_FIELDS = (
    "project_id",
    "environment",
    "dockerfile",
    "build_context",
    "port",
    "healthcheck_path",
    "healthcheck_status",
    "healthcheck_timeout",
    "healthcheck_retries",
    "healthcheck_interval",
    "builder",
    "health_check",
    "cpu_limit",
    "memory_limit",
    "https_redirect",
    "deploy_strategy",
    "install_command",
    "build_command",
    "start_command",
    "base_image",
    "config_path",  # the PR's head is read where the base app's is
)


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


def _taken(exc: IntegrityError) -> Conflict:
    """The database's unique constraints caught what the checks before the write could not (a race)."""
    field = "domains" if "app_domains" in str(exc.orig) else "name"
    return Conflict.on(field, "already in use")


def check_backup_settings(consistency: str, command: str | None) -> None:
    """``backup_consistency = "command"`` needs a ``pre_backup_command`` (run in the app's container before
    each volume backup; see rivetr_core.services.backups)."""
    if consistency == "command" and not (command or "").strip():
        raise ValidationFailed.on(
            "pre_backup_command",
            'required when backup_consistency is "command" (what to run before a backup)',
        )


def check_release_settings(fields: dict[str, Any]) -> None:
    """``release_command`` / ``post_deploy_command``: at most 2000 characters, no NUL, a blank one clears it;
    ``release_timeout``: 1 to 86400 seconds. Normalises ``fields`` in place."""
    for key in ("release_command", "post_deploy_command"):
        if key not in fields or fields[key] is None:
            continue
        command = str(fields[key])
        if len(command) > MAX_COMMAND_LENGTH:
            raise ValidationFailed.on(key, f"must be at most {MAX_COMMAND_LENGTH} characters")
        if "\x00" in command:
            raise ValidationFailed.on(key, "must not contain NUL characters")
        fields[key] = command if command.strip() else None
    if "release_timeout" in fields:
        timeout = fields["release_timeout"]
        low, high = RELEASE_TIMEOUT_RANGE
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not low <= timeout <= high:
            raise ValidationFailed.on("release_timeout", f"must be {low:g} to {high:g} seconds")
        fields["release_timeout"] = float(timeout)


class AppService:
    def __init__(self, ctx: RivetrContext) -> None:
        self.ctx = ctx

    # ------------------------------------------------------------------------------------------- reading
    async def get(self, app_id: str) -> tuple[App, list[str]]:
        """The app and its domains (in order); ``NotFound`` when there is no such app."""
        async with self.ctx.db.session() as session:
            app = await session.get(App, app_id)
            if app is None:
                raise NotFound.of("app", app_id)
            rows = await session.exec(
                select(AppDomain).where(AppDomain.app_id == app_id).order_by(col(AppDomain.position))
            )
            return app, [r.domain for r in rows.all()]

    # ------------------------------------------------------------------------------------------ checking
    def _check_selection(self, fields: dict[str, Any]) -> None:
        """``ValidationFailed`` listing the installed names for a builder or health check no plugin provides;
        folds ``health_check`` into the ``healthcheck_*`` columns and the stored JSON (see engine.selection)."""
        plugins = self.ctx.plugins
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
            extra = {"available": exc.available} if exc.available is not None else {}
            raise ValidationFailed.on(exc.field, exc.message, **extra) from None

    async def _check_references(self, fields: Mapping[str, Any], app_id: str | None) -> None:
        """A disallowed git URL, a missing project or SSH key, a taken name or domain."""
        ctx = self.ctx
        if (
            fields.get("git_url")
            and classify_url(fields["git_url"]) in ("file", "local")
            and not ctx.config.git.allow_local
        ):
            raise ValidationFailed.on(
                "git_url", "local paths and file:// URLs are disabled ([git] allow_local)"
            )
        async with ctx.db.session() as session:
            if fields.get("project_id") and await session.get(Project, fields["project_id"]) is None:
                raise NotFound.on("project_id", f"no project with id {fields['project_id']!r}")
            if fields.get("ssh_key_id") and await session.get(SshKey, fields["ssh_key_id"]) is None:
                raise NotFound.on("ssh_key_id", f"no SSH key with id {fields['ssh_key_id']!r}")
            if fields.get("name"):
                other = (await session.exec(select(App).where(App.name == fields["name"]))).first()
                if other is not None and other.id != app_id:
                    raise Conflict.on(
                        "name", "already taken", summary=f"an app named {fields['name']!r} already exists"
                    )
                # Apps and managed services share one name space (a service's name is its host name on the
                # project network). Raw SQL: checking must not load the services feature.
                service = await session.exec(  # type: ignore[call-overload]
                    sa.text("SELECT 1 FROM services WHERE name = :name LIMIT 1"),
                    params={"name": fields["name"]},
                )
                if service.first() is not None:
                    raise Conflict.on(
                        "name", "already taken", summary=f"a service named {fields['name']!r} already exists"
                    )
                stack = await session.exec(  # type: ignore[call-overload]
                    sa.text("SELECT 1 FROM stacks WHERE name = :name LIMIT 1"),
                    params={"name": fields["name"]},
                )
                if stack.first() is not None:
                    raise Conflict.on(
                        "name", "already taken", summary=f"a stack named {fields['name']!r} already exists"
                    )
            if fields.get("domains"):
                from rivetr_core.domainhosts import check_host_shared_in_project

                current = await session.get(App, app_id) if app_id else None
                project = current.project_id if current is not None else None
                if "project_id" in fields:
                    project = fields["project_id"]
                for domain in fields["domains"]:
                    # Paths of one host (api.example.com/v1) are shared inside one project only.
                    await check_host_shared_in_project(
                        session,
                        domain,
                        field="domains",
                        owner_id=app_id,
                        project_id=project,
                        dashboard_domain=ctx.config.server.dashboard_domain,
                    )
            for domain in fields.get("domains") or ():
                if domain == ctx.config.server.dashboard_domain:
                    raise Conflict.on(
                        "domains",
                        f"{domain} is the dashboard's",
                        summary=f"{domain!r} is the dashboard's ([server] dashboard_domain)",
                    )
                owner = await session.get(AppDomain, domain)
                route = await session.get(ProxyRoute, domain)
                stack_domain = await session.exec(  # type: ignore[call-overload]
                    sa.text("SELECT 1 FROM stack_domains WHERE domain = :domain LIMIT 1"),
                    params={"domain": domain},
                )
                if stack_domain.first() is not None:
                    raise Conflict.on(
                        "domains",
                        f"{domain} is a stack's",
                        summary=f"{domain!r} is already used by a compose stack",
                    )
                if (owner is not None and owner.app_id != app_id) or (
                    route is not None and route.app_id != app_id and (owner is None or owner.app_id != app_id)
                ):
                    raise Conflict.on(
                        "domains",
                        f"{domain} is already in use",
                        summary=f"{domain!r} is already used by another app or route",
                    )

    @staticmethod
    def _apply_source(values: dict[str, Any], old: App | None) -> None:
        """Fold ``source`` ({"kind", "image"}) into the ``source_kind``/``image`` columns: an image app has
        ``git_url`` "" (giving one with an image source is refused), a git app needs one. An update giving an
        image app a ``git_url`` alone switches it to git (what the new URL can only mean)."""
        source = values.pop("source", None)
        if hasattr(source, "model_dump"):  # an update's fields keep nested models as they came
            source = source.model_dump()
        if source is None and old is not None and old.source_kind == "image" and values.get("git_url"):
            source = {"kind": "git", "image": None}
        kind = source["kind"] if source else (old.source_kind if old is not None else "git")
        if source:
            values["source_kind"] = kind
            values["image"] = source.get("image") if kind == "image" else None
        if kind == "image":
            if values.get("git_url"):
                raise ValidationFailed.on("git_url", "an image app has no repository: leave git_url out")
            if source or old is None:
                values["git_url"] = ""
        elif not values.get("git_url", old.git_url if old is not None else None):
            raise ValidationFailed.on(
                "git_url", 'required for a git app (an image app gives "source": {"kind": "image", "image"})'
            )

    async def _validate(self, fields: dict[str, Any], app_id: str | None) -> None:
        if "tags" in fields:
            from rivetr_core.tags import check_tags

            fields["tags"] = check_tags(fields["tags"])
        split_credentials(fields)
        self._check_selection(fields)
        await self._check_references(fields, app_id)

    # ------------------------------------------------------------------------------------------ changing
    async def create(self, fields: Mapping[str, Any]) -> tuple[App, list[str]]:
        """A new app from API-shaped ``fields`` (``AppIn``'s); nothing is deployed until :meth:`deploy`."""
        ctx = self.ctx
        values = dict(fields)
        self._apply_source(values, None)
        if values.get("port") is None:  # omitted: the first deployment chooses it (rivetr_core.engine.ports)
            values["port"] = DEFAULT_PORT if values.get("source_kind") == "image" else PORT_DETECT
        await self._validate(values, None)
        check_release_settings(values)
        check_rollout_fields(values)
        check_backup_settings(values.get("backup_consistency", "pause"), values.get("pre_backup_command"))
        token = values.pop("git_token", None)
        domains = list(values.pop("domains", None) or [])
        app = App(**values, git_token_enc=ctx.secrets.encrypt(token) if token else None)
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
        return app, domains

    async def update(
        self, app_id: str, fields: Mapping[str, Any], *, managed_ok: bool = False
    ) -> tuple[App, list[str]]:
        """Change the fields given (``None`` clears the nullable ones); domains and the HTTPS flags apply to
        the app's routes at once, the rest at the next deployment. 409 ``managed_by_file`` when a field is one
        the app's repository file manages, nothing of ``fields`` applied (unless ``managed_ok``: see above)."""
        ctx = self.ctx
        if not managed_ok:
            from rivetr_core.iac.managed import refuse_managed_fields

            await refuse_managed_fields(ctx.db, app_id, fields)
        old_app, old_domains = await self.get(app_id)
        values = dict(fields)
        for key, value in values.items():
            if value is None and key not in NULLABLE_APP_FIELDS and key != "domains":
                raise ValidationFailed.on(key, "must not be null")
        self._apply_source(values, old_app)
        await self._validate(values, app_id)
        check_release_settings(values)
        check_rollout_fields(values, old_app)
        check_backup_settings(
            values.get("backup_consistency", old_app.backup_consistency),
            values.get("pre_backup_command", old_app.pre_backup_command),
        )
        domains = values.pop("domains", None)
        try:
            async with ctx.db.session() as session:
                app = await session.get(App, app_id)
                if app is None:
                    raise NotFound.of("app", app_id)
                if "git_token" in values:
                    token = values.pop("git_token")
                    app.git_token_enc = ctx.secrets.encrypt(token) if token else None
                for key, value in values.items():
                    setattr(app, key, value)
                app.updated_at = utcnow()
                session.add(app)
                if domains is not None:
                    for row in (
                        await session.exec(select(AppDomain).where(AppDomain.app_id == app_id))
                    ).all():
                        await session.delete(row)
                    await session.flush()
                    for position, domain in enumerate(domains):
                        session.add(AppDomain(domain=domain, app_id=app_id, position=position))
                await session.commit()
        except IntegrityError as exc:
            raise _taken(exc) from None
        flags_changed = any(
            key in values and values[key] != getattr(old_app, key) for key in ("https_redirect", "hsts")
        )
        if (domains is not None and domains != old_domains) or flags_changed:
            await ctx.services.deployments.sync_routes(app_id, old_domains)
        elif values.get("load_balancer", old_app.load_balancer) != old_app.load_balancer:
            await ctx.services.routes.publish_app(app_id)  # the routes carry it: pushed again, now
        from rivetr_core.autodomains import follow_app_edit  # the generated name follows renames (issue 22)

        await follow_app_edit(ctx, old_app, values)
        return await self.get(app_id)

    async def delete(self, app_id: str, *, keep_volumes: bool = False) -> App:
        """Stop and remove the app's containers, routes and images, then the app and its history; then its
        named volumes (their data) unless ``keep_volumes``, once no container of the app can use them.

        The choice outlives an interrupted deletion (engine gone mid-way, server killed): keeping drops the
        app's volume rows in the transaction that marks it ``deleting`` (the engine volumes stay), so the rows
        still there when start-up recovery finishes a deletion are exactly the volumes to remove
        (``engine.recovery.resume_deletions``)."""
        volumes = self.ctx.services.volumes
        names = [v.name for v in await volumes.for_app(app_id) if v.kind == "volume"]
        app = await self.ctx.services.deployments.delete_app(app_id, keep_volumes=keep_volumes)
        if not keep_volumes:
            await volumes.remove_engine_volumes(app_id, names)
        return app

    async def delete_unless_used(
        self,
        model: Any,
        row_id: str,
        what: str,
        app_column: Any,
        refusal: Callable[[Any, int], tuple[str, str]],
    ) -> None:
        """Delete row ``row_id`` of ``model`` (a project, an SSH key...) unless apps point at it through
        ``app_column``: ``NotFound`` naming ``what`` if absent, ``Conflict`` with ``refusal(row, count)`` →
        (message, code) while apps use it."""
        async with self.ctx.db.session() as session:
            row = await session.get(model, row_id)
            if row is None:
                raise NotFound.of(what, row_id)
            count = (
                await session.exec(select(func.count()).select_from(App).where(app_column == row_id))
            ).one()
            if count:
                message, code = refusal(row, count)
                raise Conflict(message, code=code, details={"apps": count})
            await session.delete(row)
            await session.commit()

    # ----------------------------------------------------------------------------------------- deploying
    async def deploy(
        self,
        app_id: str,
        *,
        commit: str | None = None,
        trigger: str = "api",
        image: str | None = None,
        no_cache: bool = False,
        started_by: str | None = None,
    ) -> Deployment:
        """Queue a deployment of the branch head (or ``commit``); the pipeline runs it in the background. An
        image app given ``image`` (another tag) keeps it as its image and deploys it. ``started_by``: who asked
        (the principal's audit name), shown with the deployment."""
        if image is not None:
            app, _domains = await self.get(app_id)
            if app.source_kind != "image":
                raise ValidationFailed.on(
                    "image", f"app {app.name!r} builds from git; only image apps take one"
                )
            async with self.ctx.db.session() as session:
                row = await session.get(App, app_id)
                if row is not None:
                    row.image, row.updated_at = image, utcnow()
                    session.add(row)
                    await session.commit()
        elif commit is not None or no_cache:
            app, _domains = await self.get(app_id)
            if app.source_kind == "image":
                field = "commit" if commit is not None else "no_cache"
                raise ValidationFailed.on(
                    field, f"app {app.name!r} runs a pre-built image: it has no commits and no build"
                )
        return await self.ctx.services.deployments.deploy(
            app_id, commit=commit, trigger=trigger, no_cache=no_cache, started_by=started_by
        )

    async def rollback(self, deployment_id: str, *, started_by: str | None = None) -> Deployment:
        """A new deployment reusing that deployment's image (no clone, no build); ``Conflict`` without one."""
        return await self.ctx.services.deployments.rollback(deployment_id, started_by=started_by)

    def app_json(self, app: App, domains: list[str]) -> dict[str, Any]:
        """The app as the API shows it (:class:`~.app_responses.AppOut`)."""
        return app_json(app, domains, self.ctx.config.runtime)

    # ------------------------------------------------------------------------------------------ env vars
    def env_var_json(self, row: EnvVar, *, reveal: bool = False) -> dict[str, Any]:
        """An env var as the API shows it (:class:`~.app_responses.EnvVarOut`): masked unless ``reveal``."""
        return env_var_json(self.ctx.secrets, row, reveal=reveal)

    async def env_var_page(self, app_id: str, page: PageQuery) -> tuple[list[EnvVar], str | None]:
        """A page of the app's environment by key; ``NotFound`` for an unknown app."""
        from rivetr_core.pagination import list_page

        return list_page(await self.env_vars(app_id), lambda r: (r.key,), (str,), page)

    async def env_vars(self, app_id: str) -> list[EnvVar]:
        """The app's environment, by key. Values stay encrypted: the caller decrypts what it may show."""
        async with self.ctx.db.session() as session:
            await self._require(session, app_id)
            rows = await session.exec(select(EnvVar).where(EnvVar.app_id == app_id).order_by(col(EnvVar.key)))
            return list(rows.all())

    async def env_var(self, app_id: str, key: str) -> EnvVar:
        async with self.ctx.db.session() as session:
            return await self._env_row(session, app_id, key)

    async def add_env_var(
        self,
        app_id: str,
        key: str,
        value: str,
        *,
        is_secret: bool,
        scope: str = "runtime",
        managed_ok: bool = False,
    ) -> EnvVar:
        """Set a new key (encrypted at rest, secret or not); ``Conflict`` when it is set already. Applies at
        the next deployment: ``scope`` says whether to the container (``runtime``), the build (``build``) or
        both. 409 ``managed_by_file`` for a key of the file's ``env``/``build_env`` (unless ``managed_ok``)."""
        ctx = self.ctx
        await self.refuse_managed_env(app_id, [key], managed_ok)
        row = EnvVar(
            app_id=app_id, key=key, value_enc=ctx.secrets.encrypt(value), is_secret=is_secret, scope=scope
        )
        try:
            async with ctx.db.session() as session:
                await self._require(session, app_id)
                session.add(row)
                await session.commit()
        except IntegrityError:
            raise Conflict.on(
                "key", "already set", summary=f"{key!r} is already set; use PUT to change it"
            ) from None
        return row

    async def update_env_var(
        self,
        app_id: str,
        key: str,
        *,
        value: str | None = None,
        is_secret: bool | None = None,
        scope: str | None = None,
        managed_ok: bool = False,
    ) -> EnvVar:
        """Change the value, the secret flag and/or the scope of a key that is set (``None``: unchanged); 409
        ``managed_by_file`` for a key of the file's ``env``/``build_env`` (unless ``managed_ok``)."""
        await self.refuse_managed_env(app_id, [key], managed_ok)
        async with self.ctx.db.session() as session:
            row = await self._env_row(session, app_id, key)
            if value is not None:
                row.value_enc = self.ctx.secrets.encrypt(value)
            if is_secret is not None:
                row.is_secret = is_secret
            if scope is not None:
                row.scope = scope
            row.updated_at = utcnow()
            session.add(row)
            await session.commit()
        return row

    async def delete_env_var(self, app_id: str, key: str, *, managed_ok: bool = False) -> None:
        """Unset a key; 409 ``managed_by_file`` for one the file sets (unless ``managed_ok``)."""
        await self.refuse_managed_env(app_id, [key], managed_ok)
        async with self.ctx.db.session() as session:
            await session.delete(await self._env_row(session, app_id, key))
            await session.commit()

    async def refuse_managed_env(self, app_id: str, keys: Sequence[str], managed_ok: bool = False) -> None:
        """409 ``managed_by_file`` when a key of ``keys`` is a variable the app's repository file sets in its
        ``env``/``build_env`` (its other variables, secrets included, stay editable); nothing unless
        ``managed_ok``. rivetr_core.iac.managed loads on the first change of a variable, never at start."""
        if managed_ok:
            return
        from rivetr_core.iac.managed import refuse_managed_env

        await refuse_managed_env(self.ctx.db, app_id, keys)

    @staticmethod
    async def _require(session: Any, app_id: str) -> None:
        if await session.get(App, app_id) is None:
            raise NotFound.of("app", app_id)

    async def _env_row(self, session: Any, app_id: str, key: str) -> EnvVar:
        await self._require(session, app_id)
        row = (await session.exec(select(EnvVar).where(EnvVar.app_id == app_id, EnvVar.key == key))).first()
        if row is None:
            raise NotFound.of("env var", key)
        return row  # type: ignore[no-any-return]

    # ------------------------------------------------------------------------------------------ previews
    async def sync_preview_app(
        self,
        base: App,
        preview_app_id: str | None,
        *,
        name: str,
        git_url: str,
        branch: str,
        domain: str,
        trusted: bool,
        with_secrets: bool,
        extra_env: Mapping[str, str],
    ) -> str:
        """Create or refresh a PR's hidden preview app: ``base``'s build/run settings, its env vars minus the
        secrets unless ``with_secrets``, ``extra_env`` where the base app does not set the key, served at
        ``domain``. An untrusted one (a fork's PR) gets neither the base app's git token nor its SSH key.
        Returns the preview app's id; a new one is announced with ``rivetr_on_app_created``."""
        ctx = self.ctx
        created = False
        async with ctx.db.session() as session:
            preview_app = await session.get(App, preview_app_id) if preview_app_id else None
            if preview_app is None:
                preview_app = App(name=name, git_url=git_url)
                created = True
            for key in PREVIEW_COPIED_FIELDS:
                setattr(preview_app, key, getattr(base, key))
            preview_app.git_url = git_url
            preview_app.branch = branch
            # A fork's code must never run with, or be fetched by, the base repository's credentials.
            preview_app.ssh_key_id = base.ssh_key_id if trusted else None
            preview_app.git_token_enc = base.git_token_enc if trusted else None
            preview_app.git_token_user = base.git_token_user if trusted else None
            preview_app.auto_domain = False  # served at its pr-<n> preview domain only (autodomains)
            preview_app.updated_at = utcnow()
            session.add(preview_app)
            await session.flush()
            for old in (await session.exec(select(EnvVar).where(EnvVar.app_id == preview_app.id))).all():
                await session.delete(old)
            base_env = (await session.exec(select(EnvVar).where(EnvVar.app_id == base.id))).all()
            for var in base_env:
                if var.is_secret and not with_secrets:
                    continue
                session.add(
                    EnvVar(
                        app_id=preview_app.id,
                        key=var.key,
                        value_enc=var.value_enc,
                        is_secret=var.is_secret,
                        scope=var.scope,
                    )
                )
            for key, value in extra_env.items():
                if not any(v.key == key for v in base_env):
                    session.add(EnvVar(app_id=preview_app.id, key=key, value_enc=ctx.secrets.encrypt(value)))
            existing = await session.get(AppDomain, domain)
            if existing is not None and existing.app_id != preview_app.id:
                raise Conflict(f"preview domain {domain} is already used by another app", code="domain_taken")
            if existing is None:
                for old_domain in (
                    await session.exec(select(AppDomain).where(AppDomain.app_id == preview_app.id))
                ).all():
                    await session.delete(old_domain)
                session.add(AppDomain(domain=domain, app_id=preview_app.id, position=0))
            try:
                await session.commit()
            except IntegrityError as exc:
                raise Conflict(f"cannot create preview app {preview_app.name}: name or domain taken") from exc
        # Its own, empty, named volumes at the base app's mount paths; never production's data.
        await ctx.services.volumes.copy_for_preview(base.id, preview_app.id)
        if created:
            ctx.plugins.notify("rivetr_on_app_created", app_id=preview_app.id, name=preview_app.name)
        return preview_app.id
