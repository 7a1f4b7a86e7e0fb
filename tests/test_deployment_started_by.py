"""A deployment names who asked for it (``started_by``, as the audit log names them): the admin token, a team
member's API token, nobody for a webhook or a crash restart; a rollback names who rolled back. The dashboard and
the CLI show it."""

from __future__ import annotations

from typing import Any

from rivetr_ui.filters import who

from tests.support.team_members import bearer, member_token
from tests.test_deploy_pipeline import deploy, events, make_app, papi, wait_status  # noqa: F401 (fixtures)


async def test_deployments_and_rollbacks_name_who_started_them(papi: Any, git_server: Any) -> None:  # noqa: F811
    repo = git_server.create_repo("who")
    code, team = await papi.post("/api/teams", json={"name": "crew"})
    assert code == 201, team
    code, project = await papi.post("/api/projects", json={"name": "crew-proj", "team_id": team["id"]})
    assert code == 201, project
    app = await make_app(papi, repo, project_id=project["id"])

    first = await deploy(papi, app["id"])
    assert first["started_by"] == "admin"
    first = await wait_status(papi, first["id"], ("running",))

    token = await member_token(papi, "dana", team["id"], "developer")
    code, second = await papi.post(f"/api/apps/{app['id']}/deploy", **bearer(token))
    assert code == 202, second
    assert second["started_by"] == "token:dana/dana-token"
    await wait_status(papi, second["id"], ("running",))

    code, back = await papi.post(f"/api/deployments/{first['id']}/rollback", **bearer(token))
    assert code == 202, back
    assert (back["rollback_of"], back["started_by"]) == (first["id"], "token:dana/dana-token")
    # Kept, and listed: the app's deployments say who started each one.
    code, page = await papi.get(f"/api/apps/{app['id']}/deployments")
    assert code == 200
    assert [d["started_by"] for d in page["items"]][:3] == ["token:dana/dana-token"] * 2 + ["admin"]


def test_the_dashboard_says_it_in_words() -> None:
    assert who("user:alice") == "alice"
    assert who("token:alice/ci") == "token ci (alice)"
    assert who("admin") == "the admin token"
    assert who(None) == ""
