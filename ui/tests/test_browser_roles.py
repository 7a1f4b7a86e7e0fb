"""The dashboard respects roles (issue 20), in Chromium against a real ``rivetr serve``: a viewer's app page has no
buttons it cannot use and a call forced from the page is still refused (403); when an owner makes the viewer a
developer, the viewer's open session gets the new rights without logging in again."""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx
from playwright.sync_api import expect

from ui.tests.browser_helpers import ADMIN_PASSWORD, ADMIN_USER, screenshot

PASSWORD = "a viewer's long password"

FORCED = """async ([method, path, body]) => {
  const response = await fetch(path, {method, headers: {'Content-Type': 'application/json',
    'X-CSRF-Token': document.querySelector('meta[name=csrf-token]').content},
    body: body === null ? undefined : JSON.stringify(body)});
  const answer = await response.json().catch(() => null);
  return [response.status, answer && answer.error ? answer.error.code : null];
}"""


def _viewer_of_a_team(server: Any, suffix: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Team, image app and the name of a viewer who joined the team through an invitation (made by the admin)."""
    name = f"viewer-{suffix}"
    with server.client() as admin:
        team = admin.post("/api/teams", json={"name": f"roles-{suffix}"}).json()
        owner = admin.post(f"/api/teams/{team['id']}/members", json={"username": ADMIN_USER, "role": "owner"})
        assert owner.status_code == 201, owner.text
        project = admin.post("/api/projects", json={"name": f"roles-{suffix}", "team_id": team["id"]}).json()
        app = admin.post(
            "/api/apps",
            json={
                "name": f"roles-{suffix}",
                "project_id": project["id"],
                "source": {"kind": "image", "image": "registry.example.com/roles/web:1"},
                "port": 8080,
            },
        )
        assert app.status_code == 201, app.text
        invited = admin.post(
            "/api/invitations", json={"username": name, "team_id": team["id"], "role": "viewer"}
        )
        assert invited.status_code == 201, invited.text
    accepted = httpx.post(
        f"{server.url}/api/invitations/{invited.json()['token']}/accept",
        json={"username": name, "password": PASSWORD},
    )
    assert accepted.status_code == 201, accepted.text
    return team, app.json(), name


def test_a_viewer_sees_no_buttons_it_cannot_use_and_a_promotion_applies_without_relogin(
    shared_server: Any, page: Any
) -> None:
    server = shared_server
    suffix = secrets.token_hex(3)
    team, app, name = _viewer_of_a_team(server, suffix)

    page.goto(server.url + "/login")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/")
    expect(page.locator("#acting-team")).to_have_text(team["name"])
    page.goto(f"{server.url}/apps/{app['id']}/settings")
    expect(page.locator("#app-settings")).to_be_visible()  # the tab is there: what it leaves out is meant
    for hidden in ("#delete-app", "#delete-app-keep-volumes", "#app-settings button[type=submit]"):
        expect(page.locator(hidden)).to_have_count(0)
    page.goto(f"{server.url}/apps/{app['id']}/env")
    expect(page.locator("h1")).to_contain_text(app["name"])
    for hidden in ("#deploy-btn", "#env-add", "#env-bulk", "#new-menu"):
        expect(page.locator(hidden)).to_have_count(0)
    expect(page.get_by_role("link", name="Terminal")).to_have_count(0)
    expect(page.locator("#tab-terminal")).to_have_count(0)
    # The server-wide pages a team viewer may not manage are not in its navigation; the ones it may read are.
    expect(page.locator("#nav-notifications")).to_have_count(0)
    expect(page.locator("#nav-audit")).to_have_count(0)
    expect(page.locator("#nav-certificates")).to_have_count(1)
    screenshot(page, "roles-viewer-app")

    # Forcing the page's calls changes nothing: the server refuses them.
    forced = page.evaluate(FORCED, ["POST", f"/api/apps/{app['id']}/deploy", {}])
    assert forced == [403, "permission_denied"], forced
    forced = page.evaluate(FORCED, ["DELETE", f"/api/apps/{app['id']}", None])
    assert forced == [403, "permission_denied"], forced
    assert page.evaluate(FORCED, ["GET", "/api/auth/team", None])[0] == 200

    with httpx.Client(
        base_url=server.url
    ) as owner:  # the team's owner promotes the viewer, with its own session
        session = owner.post(
            "/api/auth/login", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD}
        ).json()
        promoted = owner.put(
            f"/api/teams/{team['id']}/members/{name}",
            json={"role": "developer"},
            headers={"X-CSRF-Token": session["csrf_token"]},
        )
        assert promoted.status_code == 200, promoted.text

    # Same session, no login: the rights follow within the cache window (5 s), then the page shows the buttons.
    deadline = time.monotonic() + 15
    while page.evaluate(FORCED, ["PUT", f"/api/apps/{app['id']}", {"port": 0}])[0] != 422:
        assert time.monotonic() < deadline, "the promotion did not reach the logged-in session"
        time.sleep(0.5)
    page.reload()
    expect(page.locator("#deploy-btn")).to_be_visible()
    expect(page.locator("#env-add")).to_have_count(1)
    expect(page.locator("#env-bulk")).to_have_count(1)
    expect(page.locator("#tab-terminal")).to_be_attached()  # developers have the terminal (the tab bar's)
    expect(page.locator("#acting-team")).to_have_text(team["name"])
    expect(page.locator("#team-switch summary")).to_contain_text("developer")
    screenshot(page, "roles-developer-app")
