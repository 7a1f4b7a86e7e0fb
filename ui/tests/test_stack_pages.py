"""Compose stacks' dashboard pages in-process (no browser): the nav and New menu entries, the empty list, the New
stack form, a stack's page (header, services, deployments, settings with masked variables, delete), 404s, the
project page's Network panel (the same members as ``GET /api/projects/{id}/network``, without loading the stack
feature while no stack exists), the stack service terminal's admin rule, and no YAML/jsonschema at import."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from rivetr_core.app import create_app
from tests.support.server import websocket_outcome
from ui.tests.test_pages import PASSWORD, csrf_in, do_setup

BUSYBOX = "localhost/rivetr-test/busybox:latest"
COMPOSE = f"""
services:
  web:
    image: {BUSYBOX}
    command: ["sh", "-c", "echo hello from web; exec sleep 3600"]
    environment:
      GREETING: ${{GREETING:-hi}}
    depends_on: [worker]
  worker:
    image: {BUSYBOX}
    command: ["sh", "-c", "exec sleep 3600"]
"""


@pytest.fixture
async def served(config_factory: Any) -> AsyncIterator[tuple[Any, Any, dict[str, str]]]:
    """The app, a logged-in client and its CSRF header."""
    app = create_app(config_factory())
    async with app.test_app():
        client = app.test_client()
        csrf = await do_setup(client)
        yield app, client, {"X-CSRF-Token": csrf}


async def _page(client: Any, path: str, status: int = 200) -> str:
    response = await client.get(path)
    body: str = await response.get_data(as_text=True)
    assert response.status_code == status, body[:2000]
    return body


async def _post(client: Any, headers: dict[str, str], path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=headers)
    created: dict[str, Any] = await response.get_json()
    assert response.status_code == 201, created
    return created


def test_dashboard_views_import_no_yaml_or_jsonschema() -> None:
    """Idle memory: the server imports every view at start-up; compose parsing must load only with a stack."""
    code = (
        "import sys, rivetr_core.app, rivetr_ui.views, rivetr_ui.views.stacks, rivetr_ui.views.terminal;"
        "print(sorted(m for m in ('yaml', 'jsonschema', 'rivetr_core.services.stacks', 'rivetr_core.compose')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


async def test_nav_list_new_form_and_404(served: tuple[Any, Any, dict[str, str]]) -> None:
    app, client, _headers = served
    home = await _page(client, "/")
    assert 'href="/stacks"' in home and 'id="new-menu-stack"' in home and 'href="/stacks/new"' in home
    listing = await _page(client, "/stacks")
    assert "No stacks yet" in listing and 'aria-current="page">Stacks<' in listing
    assert "stacks" not in app.extensions["rivetr_ctx"].services.__dict__, "an empty list loaded the feature"
    form = await _page(client, "/stacks/new")
    for part in (
        'data-stack-form="POST /api/stacks"',
        'name="compose"',
        'name="repo_url"',
        'name="branch"',
        'name="compose_path"',
        'data-add-row="domain"',
        'data-add-row="env"',
        'name="profiles"',
        "data-validate-stack",
        "js/stacks.js",
    ):
        assert part in form, part
    await _page(client, "/stacks/nope", 404)
    await _page(client, "/stacks/nope/partials/services", 404)


async def test_stack_page_settings_and_list(served: tuple[Any, Any, dict[str, str]]) -> None:
    _app, client, headers = served
    project = await _post(client, headers, "/api/projects", {"name": "shop"})
    stack = await _post(
        client,
        headers,
        "/api/stacks",
        {
            "name": "shopstk",
            "project_id": project["id"],
            "compose": COMPOSE,
            "domains": [{"domain": "shop.example.test", "service": "web", "port": 8080}],
            "env": {"GREETING": "top-secret-value"},
            "profiles": ["debug"],
        },
    )
    listing = await _page(client, "/stacks")
    row = re.search(r'<tr data-stack="shopstk">(.*?)</tr>', listing, re.S)
    assert row, listing
    assert f'href="/stacks/{stack["id"]}"' in row.group(1) and ">shop</a>" in row.group(1)
    assert "pasted file" in row.group(1) and "created" in row.group(1)
    assert "shop.example.test" in row.group(1) and "<td data-stack-services>0</td>" in row.group(1)

    for ref in (stack["id"], "shopstk"):  # by id or by name, like the API
        page = await _page(client, f"/stacks/{ref}")
        assert 'id="stack-status" data-status="created"' in page
    assert "Nothing runs yet" in page and "No deployments yet" in page
    assert f'data-action="POST /api/stacks/{stack["id"]}/deploy"' in page
    assert "stack-rollback" not in page  # nothing to go back to yet
    assert f'data-stack-form="PUT /api/stacks/{stack["id"]}"' in page
    # Settings: the file, the domain row, the variable's name but never its value; the admin may reveal it.
    assert "echo hello from web" in page and 'value="shop.example.test"' in page
    assert 'value="GREETING"' in page and "top-secret-value" not in page
    assert f'data-reveal-stack="/api/stacks/{stack["id"]}?reveal=true"' in page
    assert 'value="debug"' in page
    assert f'data-delete-stack="/api/stacks/{stack["id"]}"' in page and 'name="volumes"' in page
    header = await _page(client, f"/stacks/{stack['id']}/partials/header")
    assert "Current deployment" in header and "none yet" in header

    assert 'name="previews"' in page and 'name="previews" checked' not in page  # off for a pasted stack
    # A repository stack with previews on says so, and its settings show the box ticked.
    git = await _post(
        client,
        headers,
        "/api/stacks",
        {"name": "gitstk", "repo_url": "https://git.example.test/shop.git", "previews": True},
    )
    page = await _page(client, f"/stacks/{git['id']}")
    assert "pull-request previews on" in page and 'name="previews" checked' in page

    # The network panel of a project with a stack comes from the stack service (loaded by now).
    network = await _page(client, f"/projects/{project['id']}/partials/network")
    assert f"rivetr-net-{project['id']}" in network


async def test_project_network_panel_matches_the_api(served: tuple[Any, Any, dict[str, str]]) -> None:
    """Without any stack the panel is built without the stack feature, from the apps and services read-models;
    it must list what the stack service lists (the API), and keep doing so once a stack exists."""
    app, client, headers = served
    ctx = app.extensions["rivetr_ctx"]
    project = await _post(client, headers, "/api/projects", {"name": "netproj"})
    page = await _page(client, f"/projects/{project['id']}")
    assert f'hx-get="/projects/{project["id"]}/partials/network"' in page
    assert f'href="/stacks/new?project_id={project["id"]}"' in page
    for name in ("netweb", "netapi"):
        await _post(
            client,
            headers,
            "/api/apps",
            {"name": name, "git_url": "git://127.0.0.1:9/x.git", "port": 8000, "project_id": project["id"]},
        )
    await _post(
        client, headers, "/api/apps", {"name": "elsewhere", "git_url": "git://127.0.0.1:9/x.git", "port": 1}
    )
    panel = await _page(client, f"/projects/{project['id']}/partials/network")
    assert "stacks" not in ctx.services.__dict__, "the Network panel loaded the stack feature with no stack"
    rows = dict(re.findall(r'<tr data-member="([^"]+)" data-kind="([^"]+)">', panel))
    assert rows == {"netweb": "app", "netapi": "app"}, panel
    assert f"rivetr-net-{project['id']}" in panel

    from rivetr_ui import queries

    mine = await queries.project_network(ctx, project["id"])
    response = await client.get(f"/api/projects/{project['id']}/network", headers=headers)
    api = await response.get_json()

    def members(data: dict[str, Any]) -> list[tuple[str, str, str, tuple[str, ...]]]:
        return sorted((m["kind"], m["id"], m["name"], tuple(m["internal_names"])) for m in data["members"])

    assert (mine["network"], members(mine)) == (api["network"], members(api))
    assert "netweb" in panel and re.search(r'<td class="mono">netweb</td>', panel)


async def test_stack_terminal_is_for_administrators(served: tuple[Any, Any, dict[str, str]]) -> None:
    app, client, headers = served
    stack = await _post(client, headers, "/api/stacks", {"name": "termstk", "compose": COMPOSE})
    # No deployment yet: no such service container.
    await _page(client, f"/stacks/{stack['id']}/services/web/terminal", 404)
    accounts = app.extensions["rivetr_ctx"].services["accounts"]
    await accounts.create_user("viewer", "a long enough password", role="viewer")
    # A viewer of the team owning the stack (a projectless stack is the default team's): a user of no team would
    # not see the stack at all (404, team isolation), whatever the terminal rule.
    await _post(client, headers, "/api/teams/default/members", {"username": "viewer", "role": "viewer"})
    client.cookie_jar.clear()
    body = await _page(client, "/login")
    response = await client.post(
        "/login",
        form={"username": "viewer", "password": "a long enough password", "csrf_token": csrf_in(body)},
    )
    assert response.status_code == 302
    await _page(client, f"/stacks/{stack['id']}/services/web/terminal", 403)
    page = await _page(client, f"/stacks/{stack['id']}")
    assert "data-reveal-stack" not in page  # only administrators may reveal the variables
    assert "data-service-terminal" not in page
    # The shell's WebSocket says the same to a viewer (refused at the handshake: no terminal in its role), and
    # to nobody without the session's CSRF offer.
    path = f"/stacks/{stack['id']}/services/web/terminal/ws"
    assert await _terminal_ws(client, path) == "rejected 403"
    assert await _terminal_ws(client, path, offer_csrf=False) == "closed 4401"
    client.cookie_jar.clear()
    body = await _page(client, "/login")
    response = await client.post(
        "/login", form={"username": "alice", "password": PASSWORD, "csrf_token": csrf_in(body)}
    )
    assert response.status_code == 302
    # An administrator gets past the rule, to the stack's state: nothing deployed, no such container.
    assert await _terminal_ws(client, path) == "closed 4404"
    assert await _terminal_ws(client, "/stacks/nope/services/web/terminal/ws") == "closed 4404"


async def _terminal_ws(client: Any, path: str, *, offer_csrf: bool = True) -> str:
    """The outcome of opening a terminal WebSocket as the browser does (cookie, Origin, CSRF subprotocol)."""
    cookie = next(c for c in client.cookie_jar if c.name == "rivetr_session")
    csrf = csrf_in(await _page(client, "/"))
    headers = {"Cookie": f"rivetr_session={cookie.value}", "Host": "localhost", "Origin": "http://localhost"}
    protocols = ["rivetr.v1", f"rivetr.csrf.{csrf}"] if offer_csrf else ["rivetr.v1"]
    return await websocket_outcome(client, path, headers=headers, scope_base={"subprotocols": protocols})
