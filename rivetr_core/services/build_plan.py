"""Build plans: what an app's build would do with its source, without building (docs/builds.md).

``GET /api/apps/{id}/build-plan`` clones the app's branch like a deployment does, selects the builder the way the
pipeline does (:meth:`~rivetr_core.engine.service.DeploymentService.select_builder`) and asks its optional
``plan()``; ``rivetr build plan PATH`` asks the installed builders about a local directory. Builders are reached
only through the plugin manager (core never imports a plugin). Nothing here runs code from the repository:
detection and plans only read files.

Imported with the first plan request or ``rivetr build`` command, never at server start-up (idle memory).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rivetr_core.contract import BuildFailed, BuildRequest, Conflict, NotFound, ValidationFailed

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext
    from rivetr_core.contract import Builder, BuilderRegistration, PluginContext
    from rivetr_core.models.apps import App


class PlanCloneFailed(Conflict):
    """The app's repository could not be cloned for a plan (the message is redacted, as a deployment's is): a 409,
    since what fails is the app's current repository settings (URL, branch, credentials), not the request."""

    code = "clone_failed"


def build_request(app: App, source_dir: Path, build_vars: dict[str, bool]) -> BuildRequest:
    """The request a deployment of ``app`` would give its builder, without values: the tag is a placeholder and
    the build variables (``build_vars``: name → is secret) are empty, since a plan shows names only."""
    from rivetr_core.engine.pipeline import app_build_request

    return app_build_request(
        app,
        source_dir,
        f"localhost/rivetr/{app.name}:plan",
        {**dict.fromkeys(build_vars, ""), "SOURCE_COMMIT": ""},
        [name for name, secret in build_vars.items() if secret],
    )


def plan_of(builder: Builder, source_dir: Path, request: BuildRequest) -> dict[str, Any]:
    """The builder's ``plan()``, or ``{builder, detector: None}`` for a builder without one (the Dockerfile
    builder: the repository's Dockerfile is the plan)."""
    plan = getattr(builder, "plan", None)
    if plan is None:
        return {"builder": builder.name, "detector": None}
    result: dict[str, Any] = dict(plan(source_dir, request))
    result.setdefault("builder", builder.name)
    return result


def with_port(plan: dict[str, Any], app_port: int, source_dir: Path, request: BuildRequest) -> dict[str, Any]:
    """``plan`` with the container port a deployment would use and why (rivetr_core.engine.ports): ``port``
    (text, as builders give it), ``port_source`` (``app``: the app's port; ``detected``: the builder's
    detection or the Dockerfile's ``EXPOSE``, recorded on the app at its first deployment; ``default``: 3000,
    nothing detected one) and ``port_reason`` (one human line). Blocking (may read the Dockerfile)."""
    from rivetr_core.engine.ports import PORT_DETECT, chosen_port, detected_plan, port_reason

    if app_port == PORT_DETECT:
        plan = detected_plan(plan, source_dir, request.build_context, request.dockerfile)
    port, source = chosen_port(app_port, plan)
    return {**plan, "port": str(port), "port_source": source, "port_reason": port_reason(source, plan)}


def why_not(
    registrations: dict[str, BuilderRegistration],
    context: PluginContext,
    source_dir: Path,
    request: BuildRequest,
) -> dict[str, str]:
    """builder name → what its ``plan()`` says about a source no builder detected (builders with a plan explain
    what they looked for); builders without one are listed with "detect() said no"."""
    reasons = {}
    for name, registration in sorted(registrations.items(), key=lambda kv: (kv[1].priority, kv[0])):
        builder = registration.factory(context)
        reasons[name] = "detect() said no"
        if getattr(builder, "plan", None) is not None:
            try:
                plan_of(builder, source_dir, request)
            except BuildFailed as exc:
                reasons[name] = exc.message
    return reasons


@dataclass
class LocalPlan:
    """``rivetr build plan PATH``: every builder's answer (by priority) and the plan of the one selected."""

    detected: dict[str, bool]
    selected: str | None
    plan: dict[str, Any] | None
    reasons: dict[str, str]


def plan_local(
    registrations: dict[str, BuilderRegistration],
    context: PluginContext,
    source_dir: Path,
    request: BuildRequest,
    name: str = "auto",
) -> LocalPlan:
    """Detection as the pipeline does it (``auto``: first by priority whose ``detect()`` says yes; a name: only
    that builder), reporting every builder's answer. Raises :class:`ValidationFailed` for an unknown name."""
    if name != "auto" and name not in registrations:
        raise ValidationFailed.on(
            "builder", f"{name!r} is not installed", available=["auto", *sorted(registrations)]
        )
    ordered = sorted(registrations.items(), key=lambda kv: (kv[1].priority, kv[0]))
    detected: dict[str, bool] = {}
    selected: Builder | None = None
    for builder_name, registration in ordered:
        if name != "auto" and builder_name != name:
            continue
        builder = registration.factory(context)
        detected[builder_name] = builder.detect(source_dir, request)
        if detected[builder_name] and selected is None:
            selected = builder
    if selected is None:
        chosen = {n: r for n, r in registrations.items() if name in ("auto", n)}
        return LocalPlan(detected, None, None, why_not(chosen, context, source_dir, request))
    from rivetr_core.engine.ports import PORT_DETECT

    port = request.settings.get("port")
    app_port = int(port) if port else PORT_DETECT
    plan = with_port(plan_of(selected, source_dir, request), app_port, source_dir, request)
    return LocalPlan(detected, selected.name, plan, {})


class BuildPlanService:
    """The app-facing plan: clone, select as the pipeline does, plan."""

    def __init__(self, ctx: RivetrContext) -> None:
        self.ctx = ctx

    async def for_app(self, app_id: str) -> dict[str, Any]:
        from sqlmodel import select

        from rivetr_core.models.apps import App, EnvVar, SshKey

        async with self.ctx.db.session() as session:
            app = await session.get(App, app_id)
            if app is None:
                raise NotFound.of("app", app_id)
            key = await session.get(SshKey, app.ssh_key_id) if app.ssh_key_id else None
            rows = await session.exec(
                select(EnvVar.key, EnvVar.is_secret).where(EnvVar.app_id == app_id, EnvVar.scope != "runtime")
            )
            build_vars = {name: secret for name, secret in rows.all()}
        if app.source_kind == "image":
            raise Conflict(
                f"the app runs a pre-built image ({app.image}): it has no build to plan",
                code="image_app",
                details={"source_kind": app.source_kind, "image": app.image},
            )
        box = self.ctx.secrets
        workdir = Path(tempfile.mkdtemp(prefix="rivetr-plan-"))
        try:
            source = workdir / "src"
            await self._clone(
                app,
                source,
                ssh_private_key=box.decrypt(key.private_key_enc) if key else None,
                token=box.decrypt(app.git_token_enc) if app.git_token_enc else None,
            )
            return await asyncio.to_thread(self._plan, app, source, build_vars)
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)

    async def _clone(self, app: App, dest: Path, *, ssh_private_key: str | None, token: str | None) -> None:
        from rivetr_core.engine.gitsource import CloneRequest, GitSourceError, classify_url, clone_sync
        from rivetr_core.knownhosts import KnownHostsStore, ssh_target

        # Pinned keys only (a plan never pins a host on first use: that is a deployment's decision).
        target = ssh_target(app.git_url) if classify_url(app.git_url) == "ssh" else None
        host_keys = await KnownHostsStore(self.ctx.db).keys(*target) if target is not None else None
        request = CloneRequest(
            url=app.git_url,
            branch=app.branch,
            ssh_private_key=ssh_private_key,
            token=token,
            username=app.git_token_user,
            timeout=self.ctx.config.git.clone_timeout,
            host_keys=host_keys,
        )
        try:
            await asyncio.to_thread(clone_sync, request, dest, lambda line: None)
        except GitSourceError as exc:
            raise PlanCloneFailed(f"could not clone the app's repository: {exc}") from None

    def _plan(self, app: App, source: Path, build_vars: dict[str, bool]) -> dict[str, Any]:
        """Blocking (detection reads files): select as the pipeline does, then plan."""
        from rivetr_core.engine.pipeline import PipelineError

        request = build_request(app, source, build_vars)
        try:
            builder = self.ctx.services.deployments.select_builder(source, request, app.builder)
        except PipelineError as exc:
            registrations = self.ctx.plugins.builders()
            if app.builder != "auto":
                registrations = {n: r for n, r in registrations.items() if n == app.builder}
            reasons = why_not(registrations, self.ctx.plugin_context(), source, request)
            raise ValidationFailed(
                str(exc), details={"builder": app.builder, "builders": reasons}, code="no_builder"
            ) from None
        return with_port(plan_of(builder, source, request), app.port, source, request)
