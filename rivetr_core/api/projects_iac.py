"""Configuration as code (issue 24): the files' JSON Schemas, ``GET /api/projects/{id}/export`` and
``POST /api/projects/apply``. Thin handlers over :mod:`rivetr_core.iac` (imported inside them: an idle server
never loads the models, the TOML writer or the planner). See docs/config-as-code.md.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator
from quart import Blueprint, Response
from quart_schema import document_response, tag, validate_querystring, validate_request

from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr
from rivetr_core.contract.errors import NotFound
from rivetr_core.openapi import also_returns, responds

bp = Blueprint("projects_iac_api", __name__)

_TOML_HELP = "project.toml's text (GET /api/schemas/project.toml); give it or document, not both."
_DOCUMENT_HELP = "The same file as a JSON object (what ?format=json of an export answers)."


class ExportQuery(ApiModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["toml", "json"] = Field("toml", description="toml (a file, project.toml) or json.")


class ApplyIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    toml: str | None = Field(None, max_length=1_000_000, description=_TOML_HELP)
    document: dict[str, Any] | None = Field(None, description=_DOCUMENT_HELP)
    dry_run: bool = Field(False, description="Answer the plan without changing anything.")
    prune: bool = Field(
        False,
        description="Delete what the project has on the server but the file does not name (apps and services "
        "keep their volumes' data); without it those are listed as not_in_file and left alone.",
    )

    @model_validator(mode="after")
    def _one(self) -> ApplyIn:
        if (self.toml is None) == (self.document is None):
            raise ValueError("give either toml (the file's text) or document (the file as JSON)")
        return self


class FieldChangeOut(ApiModel):
    old: Any = Field(description='The server\'s value (null when created; "(secret)" for a secret).')
    new: Any = Field(description="The file's value.")


class ChangeOut(ApiModel):
    resource: str = Field(description='What changes: "app web", "service db", "app web: env LOG_LEVEL"...')
    action: Literal["create", "update", "unchanged", "not_in_file", "delete"]
    fields: dict[str, FieldChangeOut] = Field(description="Field → old and new value (create and update).")


class MissingSecretOut(ApiModel):
    app: str
    name: str = Field(
        description="A secret variable (kind env) or a basic auth user (kind basic_auth) the file "
        "names that has no value on the server yet."
    )
    kind: Literal["env", "basic_auth"]
    route: str | None = Field(description="The route key of a basic auth user; null for a variable.")


class PlanOut(ApiModel):
    project: str
    project_id: str | None = Field(description="null in a dry run that would create the project.")
    dry_run: bool
    prune: bool
    changed: bool = Field(
        description="Whether anything was (or, in a dry run, would be) created, updated, deleted."
    )
    summary: dict[str, int] = Field(description="Count of each action.")
    message: str
    changes: list[ChangeOut]
    missing_secrets: list[MissingSecretOut]


@bp.get("/api/schemas/rivetr.toml")
@tag(["projects"])
async def rivetr_toml_schema() -> dict[str, Any]:
    """JSON Schema of an app's ``rivetr.toml`` (for editors; the same rules as the apps API)."""
    from rivetr_core.iac.model import json_schema

    return json_schema("rivetr.toml")


@bp.get("/api/schemas/project.toml")
@tag(["projects"])
async def project_toml_schema() -> dict[str, Any]:
    """JSON Schema of ``project.toml`` (``rivetr apply -f``, ``POST /api/projects/apply``)."""
    from rivetr_core.iac.model import json_schema

    return json_schema("project.toml")


@bp.get("/api/projects/<project_id>/export")
@tag(["projects"])
@validate_querystring(ExportQuery)
@also_returns("application/toml", "The project as project.toml (the default format).")
async def export_project(project_id: str, query_args: ExportQuery) -> Response | dict[str, Any]:
    """The project (by id or name) as a file: its services, its apps' settings (those not at their default),
    env defaults, volumes, tasks and links. Secrets are names only, never values."""
    from rivetr_core.iac.files import dump_toml
    from rivetr_core.iac.state import find_project, project_document, read_project

    ctx = rivetr()
    project = await find_project(ctx, project_id)
    if project is None:
        raise NotFound.of("project", project_id)
    document = project_document(await read_project(ctx, project))
    if query_args.format == "json":
        return document
    return Response(
        dump_toml(document),
        mimetype="application/toml",
        headers={"Content-Disposition": f'attachment; filename="{project.name}.project.toml"'},
    )


@bp.post("/api/projects/apply")
@responds(404, 409)
@tag(["projects"])
@validate_request(ApplyIn)
@document_response(PlanOut)
async def apply_project(data: ApplyIn) -> dict[str, Any]:
    """Create or update a project from a file, idempotently: the answer is the plan, each resource ``create``,
    ``update`` (field: old → new), ``unchanged`` or ``not_in_file`` (``delete`` with ``prune``). A second apply
    of the same file changes nothing and says so. 422 names the key, line and column of a bad file."""
    from rivetr_core.iac.apply import apply_project as apply
    from rivetr_core.iac.files import load, validate
    from rivetr_core.iac.model import ProjectFile

    spec = load(ProjectFile, data.toml) if data.toml is not None else validate(ProjectFile, data.document)
    return await apply(rivetr(), spec, dry_run=data.dry_run, prune=data.prune, on_call=_audit_call)


_STATUS = {"POST": 201, "PUT": 200, "DELETE": 204}


async def _audit_call(call: dict[str, Any]) -> None:
    """One audit entry per change apply makes, written as the API call it stands for (by the same principal,
    from the same client, under the apply request's id), next to the apply request's own entry."""
    from quart import current_app, request

    from rivetr_core.db.engine import utcnow
    from rivetr_core.logsetup import request_id_var
    from rivetr_core.ratelimit import current_client

    audit = current_app.extensions.get("rivetr_audit")
    if audit is None:
        return
    authz = getattr(request, "rivetr_authz", None)
    await audit.record(
        ts=utcnow(),
        actor=str(getattr(request, "rivetr_principal", None) or "anonymous")[:200],
        action=call["action"],
        method=call["method"],
        route=call["route"],
        path=call["path"][:500],
        target=call["target"],
        status=_STATUS[call["method"]],
        client=(current_client(current_app) or "unknown")[:100],
        request_id=request_id_var.get(None),
        team_id=getattr(request, "rivetr_audit_team", None) or getattr(authz, "team_id", None),
    )
