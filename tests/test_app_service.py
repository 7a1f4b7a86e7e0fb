"""The service layer for apps (``rivetr_core.services``): one ``AppService`` every face goes through.

* PR previews create their preview app through it, so a plugin's ``rivetr_on_app_created`` fires for them
  (a registered hook implementation records the events), and ``rivetr_on_app_deleted`` when the PR closes.
* It raises domain errors (``rivetr_core.contract.errors``), usable without a request; the one mapping in
  ``rivetr_core.errors`` turns them into the API's JSON errors.
* Services import nothing from Quart and never raise an HTTP-shaped ``ApiError`` (checked on the source).
* ``ctx.services`` is a typed container; ``ctx.services["name"]`` stays an alias of the attribute.
"""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from rivetr_core import hookimpl
from tests.support.server import ApiClient
from tests.test_webhooks import GH, SECRETS, Hooks, fixture

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ROOT / "rivetr_core" / "services"


class Recorder:
    """A plugin recording the app lifecycle events it is told of."""

    __rivetr_name__ = "app-event-recorder"

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    @hookimpl
    def rivetr_on_app_created(self, app_id: str, name: str) -> None:
        self.events.append(("created", app_id, name))

    @hookimpl
    def rivetr_on_app_deleted(self, app_id: str, name: str) -> None:
        self.events.append(("deleted", app_id, name))


@pytest.fixture
async def recorded(
    config_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Hooks, Recorder]]:
    from rivetr_core.app import create_app

    monkeypatch.setenv("GIT_ALLOW_PROTOCOL", "file")  # the queued deployments' clones fail at once
    recorder = Recorder()
    app = create_app(
        config_factory(
            webhooks={"github_secret": SECRETS["github"]},
            runtime={"runtime_type": "docker", "docker_socket": "unix:///nonexistent.sock"},
            proxy={"preview_domain": "preview.example.com"},
        ),
        plugins=[recorder],
    )
    test_app = app.test_app()
    await test_app.__aenter__()
    try:
        yield Hooks(ApiClient(app)), recorder
    finally:
        await test_app.__aexit__(None, None, None)


async def test_a_preview_app_is_created_and_deleted_through_the_app_service(
    recorded: tuple[Hooks, Recorder],
) -> None:
    hooks, recorder = recorded
    app_id = await hooks.app("site")
    assert recorder.events == [("created", app_id, "site")]
    status, body = await hooks.github(fixture(GH / "github_pull_request_opened.json"), event="pull_request")
    assert status == 202, body
    _status, previews = await hooks.api.get(f"/api/apps/{app_id}/previews")
    preview_app_id = previews["items"][0]["preview_app_id"]
    assert recorder.events[1:] == [("created", preview_app_id, "site-pr-7")]
    # A push to the PR refreshes the same preview app: no second "created".
    status, _ = await hooks.github(fixture(GH / "github_pull_request_synchronize.json"), event="pull_request")
    assert status == 202
    assert [e for e in recorder.events if e[0] == "created"][1:] == [("created", preview_app_id, "site-pr-7")]
    status, _ = await hooks.github(
        fixture(GH / "github_pull_request_closed_merged.json"), event="pull_request"
    )
    assert status == 200
    assert recorder.events[-1] == ("deleted", preview_app_id, "site-pr-7")


async def test_the_service_raises_domain_errors_that_the_api_maps(
    recorded: tuple[Hooks, Recorder],
) -> None:
    from rivetr_core.contract.errors import Conflict, NotFound, RivetrError, ValidationFailed

    hooks, _recorder = recorded
    apps = hooks.api.ctx.services.apps
    created, domains = await apps.create({"name": "web", "git_url": "https://example.com/a.git"})
    assert created.name == "web" and domains == []
    # No request is active here: the service works (and fails) without Quart.
    with pytest.raises(Conflict) as conflict:
        await apps.create({"name": "web", "git_url": "https://example.com/b.git"})
    assert conflict.value.status == 409 and conflict.value.details == [
        {"field": "name", "message": "Already taken"}
    ]
    with pytest.raises(NotFound) as missing:
        await apps.update("nope", {"branch": "dev"})
    assert missing.value.status == 404 and missing.value.code == "not_found"
    with pytest.raises(ValidationFailed) as invalid:
        await apps.update(created.id, {"builder": "no-such-builder"})
    assert invalid.value.status == 422 and invalid.value.details[0]["field"] == "builder"
    assert "auto" in invalid.value.details[0]["available"]
    assert all(isinstance(e.value, RivetrError) for e in (conflict, missing, invalid))
    # Through the API the same errors answer the one JSON shape.
    status, body = await hooks.api.post("/api/apps", json={"name": "web", "git_url": "https://x.org/c.git"})
    assert status == 409 and body["error"]["code"] == "conflict"
    assert body["error"]["details"] == [{"field": "name", "message": "Already taken"}]
    status, body = await hooks.api.put("/api/apps/nope", json={"branch": "dev"})
    assert status == 404 and body["error"] == {
        "code": "not_found",
        "message": "App 'nope' not found",
        "details": {"id": "nope"},
    }


async def test_services_is_a_typed_container_with_the_old_keys_as_aliases(
    recorded: tuple[Hooks, Recorder],
) -> None:
    from rivetr_core.engine.service import DeploymentService
    from rivetr_core.services import Services
    from rivetr_core.services.apps import AppService

    hooks, _recorder = recorded
    services = hooks.api.ctx.services
    assert isinstance(services, Services)
    assert isinstance(services.deployments, DeploymentService)
    assert (
        services["deployments"] is services.deployments
        and services.get("deployments") is services.deployments
    )
    assert isinstance(services.apps, AppService) and "apps" in services
    replacement = object()
    services["cleanup"] = replacement
    assert services.cleanup is replacement
    with pytest.raises(KeyError, match="no-such-service"):
        services["no-such-service"] = replacement
    assert services.get("no-such-service") is None
    with pytest.raises(KeyError):
        services["no-such-service"]
    fresh = Services()
    assert fresh.get("routes") is None and "routes" not in fresh
    with pytest.raises(KeyError, match="routes"):
        fresh["routes"]


def _quart_or_api_error(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        modules: list[str] = []
        names: list[str] = []
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
            names = [a.name for a in node.names]
        elif isinstance(node, ast.Name) and node.id == "ApiError":
            found.append(f"{path.name}:{node.lineno} uses ApiError")
        elif isinstance(node, ast.Attribute) and node.attr == "ApiError":
            found.append(f"{path.name}:{node.lineno} uses ApiError")
        for module in modules:
            if (
                module.split(".")[0] in ("quart", "quart_schema", "werkzeug")
                or module == "rivetr_core.errors"
            ):
                found.append(f"{path.name}:{node.lineno} imports {module}")
        found += [f"{path.name}:{node.lineno} imports {n}" for n in names if n == "ApiError"]
    return found


def test_the_scan_catches_quart_and_api_error(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text(
        "import quart\nfrom quart import abort\nfrom rivetr_core.errors import not_found\n"
        "from x import ApiError\nraise ApiError(404, 'x')\n"
    )
    assert len(_quart_or_api_error(sample)) == 5
    sample.write_text("from rivetr_core.contract.errors import NotFound\nraise NotFound('x')\n")
    assert _quart_or_api_error(sample) == []


def test_services_import_no_quart_and_raise_no_api_error() -> None:
    files = sorted(SERVICES.glob("*.py"))
    assert {p.name for p in files} >= {"__init__.py", "apps.py"}
    assert [problem for path in files for problem in _quart_or_api_error(path)] == []
