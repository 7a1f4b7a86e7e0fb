"""The audit-log page (``/audit``), in process through the login form: names instead of ids, readable actions,
every filter (user, action, resource by name, date range, outcome) from the URL, keyset paging both ways, the
htmx partial; a team's admin reads only their team's entries, a developer is refused (no AUDIT right) and sees no
link. Also the API's ``outcome`` filter the page uses."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.app import create_app
from tests.support.server import ApiClient, make_config

PASSWORD = "a-long-password-1"


def _csrf(body: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', body)
    assert match, "page has no CSRF token"
    return match.group(1)


async def _login(app: Any, username: str) -> Any:
    client = app.test_client()
    login = await (await client.get("/login")).get_data(as_text=True)
    response = await client.post(
        "/login", form={"username": username, "password": PASSWORD, "csrf_token": _csrf(login)}
    )
    assert response.status_code == 302, await response.get_data(as_text=True)
    return client


async def _created(api: ApiClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    status, created = await api.post(path, json=body)
    assert status == 201, created
    return created  # type: ignore[no-any-return]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    app = create_app(make_config(tmp_path / "data"))
    async with app.test_app():
        api = ApiClient(app)
        ids: dict[str, Any] = {"api": api, "app": app}
        for name in ("alpha", "beta"):
            team = await _created(api, "/api/teams", {"name": name})
            project = await _created(api, "/api/projects", {"name": f"{name}-proj", "team_id": team["id"]})
            created = await _created(
                api,
                "/api/apps",
                {
                    "name": f"{name}-app",
                    "source": {"kind": "image", "image": "nginx:1"},
                    "project_id": project["id"],
                },
            )
            ids[name] = {"team": team["id"], "project": project["id"], "app": created["id"]}
        accounts = api.ctx.services.accounts
        for user, role in (("olga", "admin"), ("ann", "member"), ("dev", "member")):
            await accounts.create_user(user, PASSWORD, role=role)
        for user, role in (("ann", "admin"), ("dev", "developer")):
            status, body = await api.post(
                f"/api/teams/{ids['alpha']['team']}/members", json={"username": user, "role": role}
            )
            assert status == 201, body
        # A change that fails (422) and one that works, both on alpha's app.
        status, _ = await api.put(f"/api/apps/{ids['alpha']['app']}", json={"port": "not-a-port"})
        assert status == 422
        status, body = await api.put(f"/api/apps/{ids['alpha']['app']}", json={"branch": "next"})
        assert status == 200, body
        yield ids


async def _page(client: Any, path: str, **kwargs: Any) -> tuple[int, str]:
    response = await client.get(path, **kwargs)
    return response.status_code, await response.get_data(as_text=True)


def _rows(body: str) -> list[str]:
    return re.findall(r'<tr data-entry="\d+" data-audit-action="([^"]+)"', body)


async def test_the_owner_sees_names_readable_actions_and_details(world: dict[str, Any]) -> None:
    olga = await _login(world["app"], "olga")
    status, home = await _page(olga, "/")
    assert status == 200 and 'id="nav-audit"' in home and 'id="full-audit-log"' in home
    status, body = await _page(olga, "/audit")
    assert status == 200, body[:400]
    alpha = world["alpha"]
    assert "Created an app" in body and "Changed app settings" in body
    # The resource by name, linked to its page; the team by name; no raw id where a name is known.
    assert f'<a href="/apps/{alpha["app"]}" data-resource="app">app alpha-app</a>' in body
    assert f'<a href="/teams/{alpha["team"]}">alpha</a>' in body
    assert "failed · 422" in body and "ok · 200" in body
    assert "data-request-id" in body and "/api/apps/" in body  # the detail: request and its id
    assert 'aria-current="page">Audit log' in body
    # The filters' choices: actions in use, the actors by name.
    assert '<option value="apps_api.update_app">Changed app settings (apps_api.update_app)</option>' in body
    assert '<option value="admin">admin</option>' in body


async def test_filters_in_the_url(world: dict[str, Any]) -> None:
    olga = await _login(world["app"], "olga")
    body = (await _page(olga, "/audit?action=apps_api.update_app"))[1]
    assert _rows(body) == ["apps_api.update_app"] * 2
    body = (await _page(olga, "/audit?action=apps_api.update_app&outcome=failed"))[1]
    assert len(_rows(body)) == 1 and "failed · 422" in body and "ok · 200" not in body
    body = (await _page(olga, "/audit?outcome=ok"))[1]
    assert _rows(body) and "failed · " not in body
    # Resource by name: alpha-app's entries, not beta's; by id as well.
    by_name = _rows((await _page(olga, "/audit?resource=alpha-app"))[1])
    assert by_name == ["apps_api.update_app", "apps_api.update_app"]
    assert _rows((await _page(olga, f"/audit?resource={world['beta']['app']}"))[1]) == []
    # A team's name: the entries whose URL names it (members added to it).
    assert _rows((await _page(olga, "/audit?resource=alpha"))[1]) == ["teams_api.add_member"] * 2
    # User: the admin token made everything so far; olga nothing but her login.
    assert _rows((await _page(olga, "/audit?user=user:olga"))[1]) == ["auth.login"]
    assert "apps_api.create_app" in _rows((await _page(olga, "/audit?user=admin"))[1])
    # Time range: whole UTC days, "to" included.
    today = datetime.now(UTC).date()
    assert _rows((await _page(olga, f"/audit?from={today}&to={today}"))[1])
    assert _rows((await _page(olga, f"/audit?from={today + timedelta(days=1)}"))[1]) == []
    assert _rows((await _page(olga, f"/audit?to={today - timedelta(days=1)}"))[1]) == []
    status, body = await _page(olga, "/audit?from=31/12/2026")
    assert status == 422 and "From: not a date (YYYY-MM-DD); not applied." in body
    # The filters are kept in the form (a view is a link).
    body = (await _page(olga, "/audit?outcome=failed&resource=alpha-app"))[1]
    assert '<option value="failed" selected>' in body and 'value="alpha-app"' in body


async def test_htmx_gets_the_results_only(world: dict[str, Any]) -> None:
    olga = await _login(world["app"], "olga")
    status, body = await _page(olga, "/audit?outcome=failed", headers={"HX-Request": "true"})
    assert status == 200 and "<html" not in body and 'id="audit-table"' in body
    assert len(_rows(body)) == 1


async def test_pages_older_and_newer(world: dict[str, Any]) -> None:
    api: ApiClient = world["api"]
    for n in range(55):
        status, body = await api.put(
            f"/api/projects/{world['beta']['project']}", json={"description": f"v{n}"}
        )
        assert status == 200, body
    olga = await _login(world["app"], "olga")
    first = (await _page(olga, "/audit"))[1]
    first_ids = re.findall(r'data-entry="(\d+)"', first)
    assert len(first_ids) == 50 and 'id="audit-newer"' not in first
    older = unescape(re.search(r'id="audit-older" rel="next" href="([^"]+)"', first).group(1))  # type: ignore[union-attr]
    second = (await _page(olga, older))[1]
    second_ids = re.findall(r'data-entry="(\d+)"', second)
    assert second_ids and not set(second_ids) & set(first_ids)
    assert int(second_ids[0]) < int(first_ids[-1])  # newest first, continuing where page 1 ended
    newer = unescape(re.search(r'id="audit-newer" rel="prev" href="([^"]+)"', second).group(1))  # type: ignore[union-attr]
    assert re.findall(r'data-entry="(\d+)"', (await _page(olga, newer))[1]) == first_ids
    # Paging keeps the filters.
    filtered = (await _page(olga, "/audit?action=projects_api.update_project"))[1]
    assert len(_rows(filtered)) == 50
    older = unescape(re.search(r'id="audit-older" rel="next" href="([^"]+)"', filtered).group(1))  # type: ignore[union-attr]
    assert "action=projects_api.update_project" in older
    assert _rows((await _page(olga, older))[1]) == ["projects_api.update_project"] * 5


async def test_a_team_admin_reads_only_their_teams_entries(world: dict[str, Any]) -> None:
    ann = await _login(world["app"], "ann")
    status, body = await _page(ann, "/audit")
    assert status == 200, body[:400]
    assert "alpha-app" in body and "beta-app" not in body and "beta-proj" not in body
    assert 'id="nav-audit"' in body
    # Even asking for beta's resource by id, nothing of beta's shows.
    assert _rows((await _page(ann, f"/audit?resource={world['beta']['app']}"))[1]) == []
    # The filters offer what their team's entries hold, nothing server-wide (olga's sign-in).
    assert 'value="teams_api.add_member"' in body
    assert 'value="auth.login"' not in body and 'value="user:olga"' not in body


async def test_a_developer_is_refused(world: dict[str, Any]) -> None:
    dev = await _login(world["app"], "dev")
    status, body = await _page(dev, "/audit")
    assert status == 403 and "owners and admins" in body and 'id="audit-table"' not in body
    status, home = await _page(dev, "/")
    assert status == 200 and 'id="nav-audit"' not in home and 'id="full-audit-log"' not in home


async def test_the_api_filters_by_outcome(world: dict[str, Any]) -> None:
    api: ApiClient = world["api"]
    status, body = await api.get("/api/audit?outcome=failure")
    assert status == 200 and body["items"] and {e["outcome"] for e in body["items"]} == {"failure"}
    status, body = await api.get("/api/audit?outcome=success")
    assert status == 200 and {e["outcome"] for e in body["items"]} == {"success"}
    status, body = await api.get("/api/audit?outcome=maybe")
    assert status == 422 and "outcome" in str(body["error"])
