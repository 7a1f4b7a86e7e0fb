"""A repository's ``rivetr.toml``, applied to its app at each deployment, after the clone and before the build.

The file is an :class:`~rivetr_core.iac.model.AppFile` (the API's models): an invalid one fails the deployment
before anything changes, naming the key, line and column; a secret it names that the app has no variable for
fails it naming the secret. Otherwise the file's settings are planned and applied by the same
:class:`~rivetr_core.iac.apply.Planner` as ``rivetr apply`` (only the keys the file has are managed), each
change is a ``rivetr.toml: ...`` line of the deployment log, and what was applied is recorded on the deployment
(``applied_config``), so a rollback to it applies the same file again (settings go with the image).

Where the file is comes from the app (``config_path``, default ``rivetr.toml`` at the repository's root; null:
off), never from the file. A pull request's preview applies its head's file to the preview app, within the
preview policy (:mod:`.preview_policy`: what a fork's file may not do).

The iac modules (pydantic models of every resource) load only when a file exists: an app without one costs a
``stat``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .pipeline import Pipeline

#: Where the file is unless the app says otherwise (``apps.config_path``), relative to the repository's root.
REPO_CONFIG_PATH = "rivetr.toml"
#: Starts every log line of the feature, whatever the file's path.
PREFIX = "rivetr.toml"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value) if value is None else _json(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _json(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True, default=str)


def change_lines(app_name: str, changes: list[dict[str, Any]]) -> list[str]:
    """The plan's changes of one app as log lines: ``port 8000 -> 8080``, ``env LOG_LEVEL: (none) -> info``."""
    lines: list[str] = []
    own = f"app {app_name}"
    for change in changes:
        if change["action"] not in ("create", "update", "delete"):
            continue
        what = change["resource"]
        what = "" if what == own else what.removeprefix(own + ": ")
        fields = change["fields"] or {}
        if not fields:
            lines.append(f"{what}: {change['action']}")
        for key, diff in fields.items():
            old = "(none)" if diff["old"] is None else _short(diff["old"])
            label = key if not what else f"{what} {key}"
            lines.append(f"{label} {old} -> {_short(diff['new'])}")
    return lines


async def read_file(workdir: Path, rel: str = REPO_CONFIG_PATH) -> str | None:
    """The checked-out file's text at ``rel`` (the app's ``config_path``), or None when the commit has none
    (read confined to the checkout, no links, size-capped: the builders' own reader)."""
    import asyncio

    from rivetr_core.contract.repofiles import read_repo_text

    path = workdir / rel
    if not path.is_file() and not path.is_symlink():
        return None
    return await asyncio.to_thread(read_repo_text, workdir, rel, label=rel)


async def apply_repo_config(pipeline: Pipeline, document: dict[str, Any] | None = None) -> bool:
    """Apply the checked-out ``rivetr.toml`` (or ``document``, a rollback's recorded file) to the pipeline's app;
    True when something was applied (the caller reads the app again). Raises PipelineError before any change
    when the file is invalid or names a secret the app lacks."""
    from .pipeline import PipelineError

    svc, dep = pipeline.service, pipeline.deployment
    text: str | None = None
    rel = pipeline.snap.app.config_path  # None: off (a rollback still re-applies what it recorded)
    if document is None:
        if pipeline.workdir is None or not rel:
            return False
        try:
            text = await read_file(pipeline.workdir, rel)
        except Exception as exc:  # a link out of the checkout, a file over the cap...
            raise PipelineError(f"{PREFIX}: {exc}") from None
        if text is None:
            return False
    from sqlmodel import select

    from rivetr_core.contract.errors import RivetrError, ValidationFailed
    from rivetr_core.iac.apply import Planner
    from rivetr_core.iac.files import load, validate
    from rivetr_core.iac.model import AppFile, ProjectApp, ProjectFile
    from rivetr_core.iac.state import ProjectState, read_app, read_project
    from rivetr_core.models.apps import App, Project
    from rivetr_core.models.git import Preview

    try:
        # The API's models decide (AppFile); the project file's app (ProjectApp) is the same plus the name the
        # Planner finds the app by.
        declared = load(AppFile, text) if text is not None else validate(AppFile, document)
    except ValidationFailed as exc:
        for detail in exc.details or []:
            where = f"line {detail['line']}, column {detail['column']}: " if "line" in detail else ""
            pipeline.log(f"{PREFIX}: {where}{detail.get('field') or 'the file'}: {detail['message']}")
        raise PipelineError(f"invalid {PREFIX}: {exc.message}") from None
    recorded = declared.model_dump(mode="json", exclude_unset=True)
    app = pipeline.snap.app
    async with svc.db.session() as session:
        project = await session.get(Project, app.project_id)
        preview = (await session.exec(select(Preview).where(Preview.preview_app_id == app.id))).first()
        base = await session.get(App, preview.app_id) if preview is not None else None
    ignored: list[str] = []
    if preview is not None:  # the PR's head applies to the preview app, within the preview policy
        from .preview_policy import filter_for_preview

        if base is None:  # the base app is being deleted: its preview goes with it
            raise PipelineError(f"{PREFIX}: the preview's app no longer exists")
        config = svc.ctx.config
        kept = filter_for_preview(
            recorded,
            fork=preview.is_fork,
            preview=app,
            base=base,
            runtime=config.runtime,
            previews=config.previews,
            prefix=PREFIX,
        )
        for line in kept.lines:
            pipeline.log(line)
        recorded, ignored = kept.kept, kept.ignored
    app_file = ProjectApp.model_validate({**recorded, "name": app.name})
    # The Planner of ``rivetr apply`` for this one app (an app need not be in a project: then it has no
    # services to link to), so the diff and every change are apply's and the API's own.
    spec = ProjectFile.model_validate(
        {"project": {"name": project.name if project else app.name}, "apps": []}
    )
    spec.apps.append(app_file)
    # managed_ok: this is the file whose settings the services keep everyone else from changing.
    planner = Planner(svc.ctx, spec, prune=False, managed_ok=True)
    try:
        state = (
            await read_project(svc.ctx, project)
            if project is not None
            else ProjectState(id="", name="", description="", services={}, apps={})
        )
        current = state.apps.get(app.name) or await read_app(svc.ctx, app.id)
        await planner.plan_app(app_file, current, state)
    except RivetrError as exc:
        raise PipelineError(f"{PREFIX}: {exc.message}") from None
    missing = [str(m["name"]) for m in planner.missing if m["kind"] == "env"]
    if missing and preview is not None:
        # Whether a preview gets the app's secrets is the preview policy's call (never for a fork, else
        # [git settings] preview_secrets): failing every preview for it would make the file unusable there.
        pipeline.log(f"{PREFIX}: secret {', '.join(missing)} not given to this preview (preview policy)")
    elif missing:
        names = ", ".join(missing)
        raise PipelineError(
            f"{PREFIX}: secret {names} is not set on the server (set it as a secret variable of the app; "
            "a file names secrets, never holds their values)"
        )
    own = f"app {app.name}"
    mine = [c for c in planner.changes if c.resource == own or c.resource.startswith(own + ": ")]
    for item in planner.missing:  # basic auth users without a password: left out, as apply does
        if item["kind"] != "env":
            pipeline.log(
                f"{PREFIX}: route {item['route']}: user {item['name']} has no password here (left out)"
            )
    for change in mine:
        if change.run is None:
            continue
        try:
            await change.run()
        except RivetrError as exc:
            raise PipelineError(f"{PREFIX}: {change.resource}: {exc.message}") from None
    lines = change_lines(app.name, [c.json() for c in mine])
    commit = dep.commit_sha
    where = f" at {commit[:12]}" if commit else ""
    for line in lines:
        pipeline.log(f"{PREFIX}: {line}")
    if not lines:
        pipeline.log(f"{PREFIX}{where}: settings unchanged")
    # A rollback records where its deployment's file was, wherever the app's file is now.
    source = pipeline.source.applied_config if document is not None and pipeline.source else None
    path = (source or {}).get("path") or rel or REPO_CONFIG_PATH
    dep.applied_config = {"commit": commit, "path": path, "file": recorded, "changes": lines}
    if ignored:
        dep.applied_config["ignored"] = ignored
    await svc.update_deployment(dep.id, applied_config=dep.applied_config)
    if lines:  # the settings the file changed, in the audit log beside the API's changes
        from rivetr_core.iac.managed import audit_applied

        await audit_applied(
            svc.db,
            app_id=app.id,
            deployment_id=dep.id,
            path=dep.applied_config["path"],
            commit=commit,
            lines=lines,
        )
    return bool(lines)
