"""Notification routing by project (issue 24): a project routes its events (of all its apps or the ones named) to
a channel an admin made; real deliveries to a real HTTP receiver through apprise ``json://``. Then the routing as
project.toml's ``[[notifications]]``: exported, applied to a second server (whose channel of the same name holds
its own URL), idempotent, the plan's diff, and a channel the server lacks refused before any change."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.contract import RivetrEvent
from tests.support.json_receiver import JsonReceiver as Receiver
from tests.support.json_receiver import running_receiver
from tests.test_iac_api import export, server

# Its servers deploy nothing: it may run beside the engine tests (tests/support/workers.py).
pytestmark = pytest.mark.engine_free

GIT = "https://git.example.com/team/shop.git"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running_receiver()


async def make_project(api: Any, name: str, apps: list[str]) -> tuple[str, dict[str, str]]:
    status, project = await api.post("/api/projects", json={"name": name})
    assert status == 201, project
    ids = {}
    for app in apps:
        status, out = await api.post(
            "/api/apps", json={"name": app, "git_url": GIT, "project_id": project["id"]}
        )
        assert status == 201, out
        ids[app] = out["id"]
    return project["id"], ids


def titles(receiver: Receiver) -> list[str]:
    return sorted(p["title"] for p in receiver.payloads)


async def test_a_project_routes_its_events_to_a_channel(api, receiver: Receiver) -> None:
    shop, shop_apps = await make_project(api, "shop", ["web", "worker"])
    _blog, blog_apps = await make_project(api, "blog", ["site"])
    everything = Receiver()
    try:
        status, routed = await api.post(
            "/api/notification-channels",
            json={"name": "shop-alerts", "url": receiver.url, "routed_only": True},
        )
        assert status == 201 and routed["routed_only"] is True and routed["routes"] == [], routed
        status, out = await api.post(
            "/api/notification-channels",
            json={"name": "ops", "url": everything.url, "events": ["deployment_failed"]},
        )
        assert status == 201, out
        route = {"apps": ["web"], "events": ["deployment_failed", "backup_failed"]}
        status, out = await api.put(f"/api/projects/{shop}/notification-routes/{routed['id']}", json=route)
        assert status == 200, out
        assert out == {"channel_id": routed["id"], "channel": "shop-alerts", "routed_only": True, **route}
        status, listed = await api.get(f"/api/projects/{shop}/notification-routes")
        assert status == 200 and listed["items"] == [out], listed
        status, channel = await api.get(f"/api/notification-channels/{routed['id']}")
        assert channel["routes"] == [{"project_id": shop, **route}], channel

        def emit(kind: str, app: str, app_id: str) -> None:
            api.ctx.emit(RivetrEvent(type=kind, app_id=app_id, app_name=app, level="failure"))

        emit("deployment_failed", "web", shop_apps["web"])  # routed: its project, its app, its event
        emit("deployment_succeeded", "web", shop_apps["web"])  # not a routed event
        emit("deployment_failed", "worker", shop_apps["worker"])  # an app the route does not name
        emit("deployment_failed", "site", blog_apps["site"])  # another project
        await api.ctx.services["notifications"].wait_idle()
        assert titles(receiver) == ["[Rivetr] web: deployment failed"]
        # The other channel's own subscription is untouched by routes: every deployment_failed, any project.
        assert titles(everything) == [
            "[Rivetr] site: deployment failed",
            "[Rivetr] web: deployment failed",
            "[Rivetr] worker: deployment failed",
        ]

        # All of the project's apps once the route names none; deleting the route stops them.
        status, out = await api.put(
            f"/api/projects/{shop}/notification-routes/{routed['id']}", json={"events": ["deployment_failed"]}
        )
        assert status == 200 and out["apps"] == [], out
        emit("deployment_failed", "worker", shop_apps["worker"])
        await api.ctx.services["notifications"].wait_idle()
        assert titles(receiver) == ["[Rivetr] web: deployment failed", "[Rivetr] worker: deployment failed"]
        assert (await api.delete(f"/api/projects/{shop}/notification-routes/{routed['id']}"))[0] == 204
        emit("deployment_failed", "worker", shop_apps["worker"])
        await api.ctx.services["notifications"].wait_idle()
        assert len(receiver.payloads) == 2
    finally:
        everything.close()


async def test_bad_routes_are_refused_naming_the_field(api, receiver: Receiver) -> None:
    shop, _ = await make_project(api, "shop", [])
    _, channel = await api.post("/api/notification-channels", json={"name": "c", "url": receiver.url})
    path = f"/api/projects/{shop}/notification-routes/{channel['id']}"
    status, body = await api.put(path, json={"events": ["deployment_exploded"]})
    assert status == 422 and body["error"]["details"][0]["field"] == "events", body
    status, body = await api.put(path, json={"apps": ["Not A Name"]})
    assert status == 422 and body["error"]["details"][0]["field"] == "apps", body
    status, body = await api.put(f"/api/projects/nosuch/notification-routes/{channel['id']}", json={})
    assert status == 404, body
    status, body = await api.put(f"/api/projects/{shop}/notification-routes/nosuch", json={})
    assert status == 404, body
    status, body = await api.delete(path)
    assert status == 404 and "routes nothing" in body["error"]["message"], body
    assert (await api.get(f"/api/notification-channels/{channel['id']}"))[1]["routes"] == []


async def add_channel(api: Any, name: str, url: str) -> str:
    status, out = await api.post(
        "/api/notification-channels", json={"name": name, "url": url, "routed_only": True}
    )
    assert status == 201, out
    return str(out["id"])


async def apply(api: Any, text: str, **flags: bool) -> tuple[int, Any]:
    return await api.post("/api/projects/apply", json={"toml": text, **flags})  # type: ignore[no-any-return]


async def test_routing_in_project_toml_export_apply_elsewhere_idempotent(
    tmp_path: Path, receiver: Receiver
) -> None:
    async with server(tmp_path / "one") as one:
        shop, _ = await make_project(one, "shop", ["web"])
        channel = await add_channel(one, "team-slack", "json://127.0.0.1:9/one")
        route = {"apps": ["web"], "events": ["deployment_failed", "backup_failed"]}
        assert (await one.put(f"/api/projects/{shop}/notification-routes/{channel}", json=route))[0] == 200
        text = await export(one, shop)
    assert '[[notifications]]\nchannel = "team-slack"' in text, text
    assert "127.0.0.1:9" not in text  # the channel's URL stays on its server

    async with server(tmp_path / "two") as two:
        status, body = await apply(two, text)
        assert status == 422, body  # the channel is the server's: refused before anything changes
        assert body["error"]["details"][0]["field"] == "notifications[0].channel", body
        assert (await two.get("/api/projects"))[1]["items"] == []

        channel_two = await add_channel(two, "team-slack", receiver.url)
        status, plan = await apply(two, text, dry_run=True)
        assert status == 200, plan
        change = next(c for c in plan["changes"] if c["resource"] == "notifications to team-slack")
        assert change["action"] == "create", change
        assert change["fields"]["events"] == {"old": None, "new": ["deployment_failed", "backup_failed"]}
        status, plan = await apply(two, text)
        assert status == 200 and plan["changed"], plan
        assert await export(two, "shop") == text
        status, again = await apply(two, text)
        assert again["changed"] is False, again

        # The copy routes for real: web's failed deployment on the second server reaches its channel.
        project_two, web = plan["project_id"], None
        status, apps = await two.get("/api/apps")
        web = next(a for a in apps["items"] if a["name"] == "web")
        two.ctx.emit(RivetrEvent(type="deployment_failed", app_id=web["id"], app_name="web"))
        await two.ctx.services["notifications"].wait_idle()
        assert titles(receiver) == ["[Rivetr] web: deployment failed"]

        # A changed route is an update with its diff; a table removed is left alone unless pruned.
        changed = text.replace('"backup_failed"', '"backup_succeeded"')
        status, plan = await apply(two, changed, dry_run=True)
        change = next(c for c in plan["changes"] if c["resource"] == "notifications to team-slack")
        assert change["action"] == "update", change
        assert change["fields"] == {
            "events": {
                "old": ["deployment_failed", "backup_failed"],
                "new": ["deployment_failed", "backup_succeeded"],
            }
        }
        without = text.split("[[notifications]]")[0]
        status, plan = await apply(two, without)
        change = next(c for c in plan["changes"] if c["resource"] == "notifications to team-slack")
        assert change["action"] == "not_in_file" and plan["changed"] is False, plan
        status, plan = await apply(two, without, prune=True)
        assert status == 200 and plan["summary"]["delete"] == 1, plan
        status, listed = await two.get(f"/api/projects/{project_two}/notification-routes")
        assert listed["items"] == [] and channel_two


async def test_project_toml_schema_publishes_notifications(api) -> None:
    status, schema = await api.get("/api/schemas/project.toml")
    assert status == 200, schema
    spec = schema["$defs"]["NotificationSpec"]
    assert set(spec["properties"]) == {"channel", "apps", "events"} and spec["required"] == ["channel"]
    assert "deployment_failed" in spec["properties"]["events"]["items"]["enum"]


def test_cli_routes_route_unroute(tmp_path: Path, receiver: Receiver) -> None:
    """``rivetr notifications add --routed-only``, ``route``, ``routes`` and ``unroute`` against a real server."""
    from click.testing import CliRunner

    from rivetr_core.cli.main import cli
    from tests.support.cli import cli_env
    from tests.support.server import start_server

    server_process = start_server(tmp_path / "data")
    try:
        env = cli_env(server_process, tmp_path)

        def run(*args: str, stdin: str | None = None) -> str:
            result = CliRunner().invoke(cli, list(args), env=env, input=stdin, catch_exceptions=False)
            assert result.exit_code == 0, result.output
            return str(result.output)

        with server_process.client() as http:
            assert http.post("/api/projects", json={"name": "shop"}).status_code == 201
        run("notifications", "add", "shop-alerts", "--url-stdin", "--routed-only", stdin=receiver.url + "\n")
        out = run(
            "notifications", "route", "shop", "shop-alerts", "--event", "deployment_failed", "--app", "web"
        )
        assert out.strip() == "routed shop's events (deployment_failed; apps: web) to shop-alerts", out
        listed = json.loads(run("notifications", "routes", "shop", "--json"))
        assert [(r["channel"], r["apps"], r["events"]) for r in listed] == [
            ("shop-alerts", ["web"], ["deployment_failed"])
        ]
        assert "shop-alerts" in run("notifications", "routes", "shop")
        assert "no longer routes" in run("notifications", "unroute", "shop", "shop-alerts")
        assert "routes no events" in run("notifications", "routes", "shop")
    finally:
        server_process.stop()


async def test_a_team_routes_only_its_own_projects(api, receiver: Receiver) -> None:
    """Routing takes write on the project: a team's developer routes its projects' events to a channel, reads
    and changes nothing of another team's project (404, as for its other resources), and cannot make channels."""
    from tests.support.roles import make_team
    from tests.support.team_members import bearer, member_token

    ours, theirs = await make_team(api, "ours"), await make_team(api, "theirs")
    status, mine = await api.post("/api/projects", json={"name": "mine", "team_id": ours["id"]})
    assert status == 201, mine
    status, other = await api.post("/api/projects", json={"name": "other", "team_id": theirs["id"]})
    assert status == 201, other
    _, channel = await api.post("/api/notification-channels", json={"name": "c", "url": receiver.url})
    as_dev = bearer(await member_token(api, "dev", ours["id"], "developer"))

    path = "/api/projects/{}/notification-routes/" + channel["id"]
    status, body = await api.put(path.format(mine["id"]), json={"events": ["deployment_failed"]}, **as_dev)
    assert status == 200 and body["channel"] == "c", body
    status, body = await api.put(path.format(other["id"]), json={}, **as_dev)
    assert status == 404, body
    status, body = await api.get(f"/api/projects/{other['id']}/notification-routes", **as_dev)
    assert status == 404, body
    status, body = await api.post(
        "/api/notification-channels", json={"name": "x", "url": receiver.url}, **as_dev
    )
    assert status == 403, body
    status, channel = await api.get(f"/api/notification-channels/{channel['id']}")
    assert [r["project_id"] for r in channel["routes"]] == [mine["id"]]
