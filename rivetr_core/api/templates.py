"""``/api/templates``: the service template catalogue (see docs/templates.md).

Thin handlers over :class:`~rivetr_core.managed.catalog.Catalog`. The catalogue is feature code an idle control
plane never needs: it is imported inside the handlers, on the first request, and this module imports only what
the server has loaded anyway.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field
from quart import Blueprint
from quart_schema import document_response, tag, validate_querystring

from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr
from rivetr_core.contract.errors import NotFound
from rivetr_core.openapi import responds

bp = Blueprint("templates_api", __name__, url_prefix="/api/templates")

Category = Literal["database", "app"]


class TemplateQuery(ApiModel):
    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(
        None, max_length=200, description="Case-insensitive text in the name, title, description or image."
    )
    category: Category | None = Field(None, description="Only databases or only apps.")


class TemplateOut(ApiModel):
    name: str = Field(description='What POST /api/services takes as "type".')
    title: str
    category: Category
    description: str
    docs_url: str = Field(description="The image's own documentation (its environment contract).")
    image: str = Field(description="Official image name without a tag (postgres, gitea/gitea).")
    versions: list[str] = Field(description="Image tags a service may run, the default first.")
    default_version: str
    port: int = Field(description="The port the service listens on inside the container.")
    link_prefix: str | None = Field(
        description="Default prefix of the variables a linked app receives (DATABASE: DATABASE_URL ...); "
        "null: the template hands apps host and port only."
    )
    backup_method: Literal["pg_dumpall", "mysqldump", "redis_rdb", "volume"]
    source: str = Field(description='"builtin" or the name of the plugin that ships it.')


class TemplateVolumeOut(ApiModel):
    name: str
    path: str = Field(description="Mount path in the container.")


class TemplateCredentialsOut(ApiModel):
    user: str | None = Field(description="The user a service of it gets (null: none, e.g. Redis).")
    database: str | None = Field(description="The database a service of it gets (null: none).")


class TemplateDetailOut(TemplateOut):
    volumes: list[TemplateVolumeOut]
    env_keys: list[str] = Field(description="Environment variables the template sets (values are not shown).")
    secret_env_keys: list[str] = Field(description="Those holding a generated secret of their own.")
    credentials: TemplateCredentialsOut
    link_parts: list[str] = Field(description="<PREFIX>_<PART> variables a linked app receives besides _URL.")
    rotatable: bool = Field(description="Its password can be rotated in the running service.")
    has_health_check: bool = Field(description="false: ready as soon as its container runs.")


class TemplateProblemOut(ApiModel):
    source: str = Field(description="The file or plugin the broken template came from.")
    message: str = Field(description="What is wrong, field by field.")


class TemplatePage(ApiModel):
    items: list[TemplateOut]
    next: str | None = Field(description="Always null: the catalogue fits on one page.")
    errors: list[TemplateProblemOut] = Field(
        description="Templates left out because they do not load (bad TOML, a missing key, a name taken)."
    )


def _catalog() -> Any:
    from rivetr_core.managed.catalog import catalog_for

    return catalog_for(rivetr().plugins)


@bp.get("")
@tag(["templates"])
@validate_querystring(TemplateQuery)
@document_response(TemplatePage)
async def list_templates(query_args: TemplateQuery) -> dict[str, Any]:
    """Templates a service can be created from (databases first, then by name), with the ones that failed to
    load in ``errors``."""
    catalog = _catalog()
    items = [t.summary() for t in catalog.list(query_args.q, query_args.category)]
    return {"items": items, "next": None, "errors": [p.as_dict() for p in catalog.errors]}


@bp.get("/<name>")
@tag(["templates"])
@responds(404)
@document_response(TemplateDetailOut)
async def get_template(name: str) -> dict[str, Any]:
    """One template: its summary and what a service of it gets (volumes, env keys, credentials, link)."""
    catalog = _catalog()
    template = catalog.find(name)
    if template is None:
        available = catalog.names()
        raise NotFound(
            f"template {name!r} not found (available: {', '.join(available)})",
            details={"id": name, "available": available},
        )
    detail: dict[str, Any] = template.detail()
    return detail
