"""The dashboard's Teams pages without a browser: who sees which team, the read-only rendering for a viewer, the
controls for an owner, a server admin's "New team" form, and another team's page as a 404."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.app import create_app
from tests.support.roles import make_team, member
from tests.support.server import ApiClient, make_config


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    app = create_app(make_config(tmp_path / "data"))
    async with app.test_app():
        api = ApiClient(app)
        acme = await make_team(api, "acme", require_2fa=False)
        other = await make_team(api, "other")
        status, project = await api.post("/api/projects", json={"name": "acme-web", "team_id": acme["id"]})
        assert status == 201, project
        owner = await member(api, acme, "olga", "owner")
        viewer = await member(api, acme, "vic", "viewer")
        admin = await member(api, None, "sam", "viewer", server_role="admin")
        await owner.token(["read"], team_id=acme["id"])
        yield {"api": api, "acme": acme, "other": other, "owner": owner, "viewer": viewer, "admin": admin}


async def test_an_owner_sees_the_controls(world: dict[str, Any]) -> None:
    owner, acme = world["owner"], world["acme"]
    status, body = await owner.get("/teams")
    assert status == 200, body[:300]
    assert 'data-team-row="acme"' in body and 'data-team-row="other"' not in body
    assert "acme-web" in body and "team-new-form" not in body  # no server role: no "New team"
    status, body = await owner.get(f"/teams/{acme['id']}")
    assert status == 200, body[:300]
    for control in (
        "team-rename-form",
        "team-require-2fa",
        "member-add-form",
        "data-member-role",
        "team-delete",
    ):
        assert control in body, control
    assert 'data-member="vic"' in body and 'data-token="olga-read"' in body
    assert "team-read-only" not in body
    assert 'href="/users"' in body  # invitations live on the Users page


async def test_a_viewer_sees_the_team_read_only(world: dict[str, Any]) -> None:
    viewer, acme = world["viewer"], world["acme"]
    status, body = await viewer.get(f"/teams/{acme['id']}")
    assert status == 200, body[:300]
    assert "team-read-only" in body and 'data-member="olga"' in body
    for control in (
        "<select",
        '<button class="btn small danger"',
        "team-rename-form",
        "team-require-2fa",
        "member-add-form",
        "team-delete",
        "data-inline-action",
    ):
        assert control not in body, control
    assert 'data-token="olga-read"' not in body  # someone else's token: not listed to a team member
    status, partial = await viewer.get(f"/teams/{acme['id']}/partials/members")
    assert status == 200 and "<select" not in partial and 'data-member="vic"' in partial


async def test_another_teams_page_is_a_404(world: dict[str, Any]) -> None:
    owner, other = world["owner"], world["other"]
    for path in (
        f"/teams/{other['id']}",
        f"/teams/{other['id']}/partials/members",
        f"/teams/{other['id']}/partials/tokens",
        "/teams/no-such-team",
    ):
        status, body = await owner.get(path)
        assert status == 404, (path, body[:200])
    assert 'data-team-row="other"' not in (await owner.get("/teams"))[1]


async def test_a_server_admin_sees_every_team_and_the_new_team_form(world: dict[str, Any]) -> None:
    admin, acme, other = world["admin"], world["acme"], world["other"]
    status, body = await admin.get("/teams")
    assert status == 200, body[:300]
    for name in ("default", "acme", "other"):
        assert f'data-team-row="{name}"' in body, name
    assert "team-new-form" in body
    status, body = await admin.get(f"/teams/{other['id']}")
    assert status == 200 and "member-add-form" in body
    status, body = await admin.get(f"/teams/{acme['id']}")
    assert 'data-token="olga-read"' in body  # a server admin sees everyone's tokens of the team
    status, body = await admin.get("/teams/default")
    assert status == 200 and "team-delete-default" in body and 'id="team-delete"' not in body


async def test_the_nav_links_to_teams(world: dict[str, Any]) -> None:
    status, body = await world["viewer"].get("/")
    assert status == 200 and 'href="/teams"' in body


async def test_members_without_two_factor_are_marked_when_the_team_requires_it(world: dict[str, Any]) -> None:
    api, acme, admin = world["api"], world["acme"], world["admin"]
    async with (
        api.ctx.db.engine.begin() as conn
    ):  # olga enrolled (the enrolment itself: tests/test_two_factor.py)
        from sqlalchemy import text

        await conn.execute(text("UPDATE users SET two_factor_enabled = TRUE WHERE username = 'olga'"))
    status, page = await api.get(f"/api/teams/{acme['id']}/members")
    assert status == 200
    assert {m["username"]: m["two_factor_enabled"] for m in page["items"]} == {"olga": True, "vic": False}

    def marks(body: str) -> dict[str, str]:
        import re

        rows = re.findall(r'data-member="(\w+)".*?<td data-two-factor>(.*?)</td>', body, re.S)
        return {name: re.sub(r"<[^>]+>", "", cell).strip() for name, cell in rows}

    status, body = await admin.get(f"/teams/{acme['id']}/partials/members")
    assert status == 200 and marks(body) == {"olga": "on", "vic": "off"}, body
    status, _ = await api.put(f"/api/teams/{acme['id']}", json={"require_2fa": True})
    assert status == 200
    status, body = await admin.get(f"/teams/{acme['id']}/partials/members")
    assert status == 200 and marks(body) == {"olga": "on", "vic": "off: no access"}, body


async def test_only_server_admins_get_the_server_role_select_and_only_owners_offer_owner(
    world: dict[str, Any],
) -> None:
    # A team owner invites; users and server roles are not theirs.
    status, body = await world["owner"].get("/users")
    assert status == 200 and "invitations-title" in body and "data-server-role-url" not in body
    status, body = await world["admin"].get("/users")  # a server admin: selects, but cannot make owners
    import re

    selects = re.findall(r"<select [^>]*data-server-role-url.*?</select>", body, re.S)
    assert status == 200 and selects, body[:300]
    assert all('value="admin"' in s and 'value="owner"' not in s for s in selects)
