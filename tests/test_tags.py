"""Tags on apps, managed services and stacks (rivetr_core.tags, docs/tags.md) through the real app: set on create
and update (normalised, validated with errors naming ``tags`` / ``tags[i]``), ``?tag=`` filters on the three lists
with paging, ``GET /api/tags`` with counts, and a team member seeing only their own team's tags."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.testing import FakeRuntime
from tests.support.server import ApiClient, api_on, make_config
from tests.support.services import stored_service
from tests.support.team_members import bearer, member_token

IMAGE = "registry.example.com/team/api:1"
COMPOSE = "services:\n  web:\n    image: docker.io/library/nginx:1\n"


@pytest.fixture
async def api(tmp_path: Path, fake_runtime: FakeRuntime) -> AsyncIterator[ApiClient]:
    async with api_on(fake_runtime, make_config(tmp_path / "data")) as client:
        yield client


async def _app(api: ApiClient, name: str, **fields: Any) -> dict[str, Any]:
    status, body = await api.post(
        "/api/apps", json={"name": name, "source": {"kind": "image", "image": IMAGE}, **fields}
    )
    assert status == 201, body
    return body  # type: ignore[no-any-return]


async def _service(api: ApiClient, name: str, tags: list[str], project_id: str | None = None) -> str:
    """A stopped managed service row (no container work: the list and its filter are what is tested)."""
    return str((await stored_service(api.ctx, name, project_id=project_id, tags=tags)).id)


def _names(body: Any) -> list[str]:
    return [i["name"] for i in body["items"]]


def _error_fields(body: Any) -> list[str | None]:
    return [d["field"] for d in body["error"]["details"]]


async def _all_pages(api: ApiClient, path: str) -> list[str]:
    """Every name of a list, one item per page (so the filter has to hold across cursors)."""
    names: list[str] = []
    cursor = None
    while True:
        sep = "&" if "?" in path else "?"
        status, body = await api.get(f"{path}{sep}limit=1" + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200, body
        names += _names(body)
        cursor = body["next"]
        if cursor is None:
            return names


async def test_app_tags_are_normalised_returned_and_replaced(api: ApiClient) -> None:
    app = await _app(api, "web", tags=["Prod", "team:core", "prod", " eu-west.1 ", "a_b"])
    assert app["tags"] == ["a_b", "eu-west.1", "prod", "team:core"]
    assert (await api.get(f"/api/apps/{app['id']}"))[1]["tags"] == app["tags"]
    listed = (await api.get("/api/apps"))[1]["items"]
    assert [a["tags"] for a in listed] == [app["tags"]]  # the fast list path shows the same

    status, changed = await api.put(f"/api/apps/{app['id']}", json={"tags": ["staging"]})
    assert status == 200 and changed["tags"] == ["staging"]
    status, untouched = await api.put(f"/api/apps/{app['id']}", json={"port": 8080})
    assert status == 200 and untouched["tags"] == ["staging"]
    status, cleared = await api.put(f"/api/apps/{app['id']}", json={"tags": []})
    assert status == 200 and cleared["tags"] == []
    assert (await _app(api, "plain"))["tags"] == []


@pytest.mark.parametrize(
    ("tags", "field"),
    [
        (["ok", "ok2", "bad tag"], "tags[2]"),
        (["x" * 33], "tags[0]"),
        (["", "fine"], "tags[0]"),
        (["ümlaut"], "tags[0]"),
        ([f"t{i}" for i in range(21)], "tags"),
    ],
)
async def test_invalid_tags_are_422_naming_the_field(api: ApiClient, tags: list[str], field: str) -> None:
    status, body = await api.post(
        "/api/apps", json={"name": "web", "source": {"kind": "image", "image": IMAGE}, "tags": tags}
    )
    assert status == 422 and _error_fields(body) == [field], body
    assert (await api.get("/api/apps"))[1]["items"] == []  # nothing was created
    app = await _app(api, "web2", tags=["keep"])
    status, body = await api.put(f"/api/apps/{app['id']}", json={"tags": tags})
    assert status == 422 and _error_fields(body) == [field], body
    status, body = await api.put(f"/api/apps/{app['id']}", json={"tags": None})
    assert status == 422 and "tags" in str(body["error"]["details"])
    assert (await api.get(f"/api/apps/{app['id']}"))[1]["tags"] == ["keep"]
    status, body = await api.get("/api/apps?tag=Not%20a%20tag")
    assert status == 422 and _error_fields(body) == ["tag[0]"]


async def test_app_list_filters_by_all_given_tags_across_pages(api: ApiClient) -> None:
    for i in range(5):
        await _app(api, f"a{i}", tags=["web"] + (["prod"] if i % 2 == 0 else ["staging"]))
    await _app(api, "lonely", tags=["prod_x"])  # '_' must not act as a LIKE wildcard: "prodax" etc.
    await _app(api, "prodax", tags=["prodax"])
    await _app(api, "untagged")

    assert await _all_pages(api, "/api/apps?tag=web") == ["a0", "a1", "a2", "a3", "a4"]
    assert await _all_pages(api, "/api/apps?tag=web&tag=prod") == ["a0", "a2", "a4"]
    assert await _all_pages(api, "/api/apps?tag=PROD&tag=web&tag=prod") == ["a0", "a2", "a4"]
    assert await _all_pages(api, "/api/apps?tag=prod_x") == ["lonely"]
    assert await _all_pages(api, "/api/apps?tag=pro") == []  # whole tags only, never a substring
    assert await _all_pages(api, "/api/apps?tag=staging&environment=development") == ["a1", "a3"]
    assert len(await _all_pages(api, "/api/apps")) == 8  # unfiltered: unchanged


async def test_services_take_tags_filter_by_them_and_tag_only_updates_leave_the_container(
    api: ApiClient,
) -> None:
    from rivetr_core.models.services import ManagedService

    for name, tags in [("db1", ["data", "prod"]), ("db2", ["data"]), ("cache", ["prod"]), ("q", [])]:
        await _service(api, name, tags)
    assert await _all_pages(api, "/api/services?tag=data") == ["db1", "db2"]
    assert await _all_pages(api, "/api/services?tag=data&tag=prod") == ["db1"]
    assert len(await _all_pages(api, "/api/services")) == 4

    async with api.ctx.db.session() as session:
        row = next(iter((await session.exec(_by_name(ManagedService, "db2"))).all()))
    status, body = await api.put(f"/api/services/{row.id}", json={"tags": ["Data", "eu"]})
    assert status == 200 and body["tags"] == ["data", "eu"], body
    assert body["status"] == "stopped"  # only a label changed: not recreated, not started
    status, body = await api.put(f"/api/services/{row.id}", json={"tags": ["no way"]})
    assert status == 422 and _error_fields(body) == ["tags[0]"]
    status, body = await api.post("/api/services", json={"name": "x", "type": "redis", "tags": ["BAD!"]})
    assert status == 422 and _error_fields(body) == ["tags[0]"]
    assert (await api.get(f"/api/services/{row.id}"))[1]["tags"] == ["data", "eu"]


def _by_name(model: Any, name: str) -> Any:
    from sqlmodel import select

    return select(model).where(model.name == name)


async def test_stacks_take_tags_and_filter_by_them(api: ApiClient) -> None:
    ids = {}
    for name, tags in [("s1", ["edge", "prod"]), ("s2", ["edge"]), ("s3", [])]:
        status, body = await api.post("/api/stacks", json={"name": name, "compose": COMPOSE, "tags": tags})
        assert status == 201, body
        ids[name] = body["id"]
    assert (await api.get(f"/api/stacks/{ids['s1']}"))[1]["tags"] == ["edge", "prod"]
    assert await _all_pages(api, "/api/stacks?tag=edge") == ["s1", "s2"]
    assert await _all_pages(api, "/api/stacks?tag=edge&tag=prod") == ["s1"]
    status, body = await api.put(f"/api/stacks/{ids['s3']}", json={"tags": ["edge", "Beta"]})
    assert status == 200 and body["tags"] == ["beta", "edge"]
    assert await _all_pages(api, "/api/stacks?tag=edge") == ["s1", "s2", "s3"]
    status, body = await api.post("/api/stacks", json={"name": "s4", "compose": COMPOSE, "tags": ["a b"]})
    assert status == 422 and _error_fields(body) == ["tags[0]"]
    status, body = await api.put(f"/api/stacks/{ids['s1']}", json={"tags": None})
    assert status == 422


async def test_tags_in_use_are_counted_per_kind(api: ApiClient) -> None:
    await _app(api, "a1", tags=["prod", "web"])
    await _app(api, "a2", tags=["prod"])
    await _service(api, "db", ["prod", "data"])
    status, _ = await api.post("/api/stacks", json={"name": "st", "compose": COMPOSE, "tags": ["web"]})
    assert status == 201
    status, body = await api.get("/api/tags")
    assert status == 200 and body["next"] is None
    assert body["items"] == [
        {"tag": "data", "apps": 0, "services": 1, "stacks": 0, "total": 1},
        {"tag": "prod", "apps": 2, "services": 1, "stacks": 0, "total": 3},
        {"tag": "web", "apps": 1, "services": 0, "stacks": 1, "total": 2},
    ]


async def test_a_team_member_sees_only_their_teams_tags_and_tagged_resources(api: ApiClient) -> None:
    made = {}
    for team in ("alpha", "beta"):
        status, t = await api.post("/api/teams", json={"name": team})
        assert status == 201, t
        status, project = await api.post("/api/projects", json={"name": f"{team}-p", "team_id": t["id"]})
        assert status == 201, project
        await _app(api, f"{team}-web", project_id=project["id"], tags=["shared", team])
        await _service(api, f"{team}-db", ["shared"], project_id=project["id"])
        made[team] = t["id"]
    await _app(api, "default-web", tags=["shared"])
    alice = bearer(await member_token(api, "alice", made["alpha"], "viewer"))

    for _ in range(2):  # the second read comes from the page cache: it must be alice's page, not the admin's
        status, body = await api.get("/api/apps?tag=shared", **alice)
        assert status == 200 and _names(body) == ["alpha-web"], body
    assert _names((await api.get("/api/apps?tag=shared"))[1]) == ["alpha-web", "beta-web", "default-web"]
    assert _names((await api.get("/api/apps?tag=beta", **alice))[1]) == []
    assert _names((await api.get("/api/services?tag=shared", **alice))[1]) == ["alpha-db"]
    status, body = await api.get("/api/tags", **alice)
    assert status == 200 and body["items"] == [
        {"tag": "alpha", "apps": 1, "services": 0, "stacks": 0, "total": 1},
        {"tag": "shared", "apps": 1, "services": 1, "stacks": 0, "total": 2},
    ]
    everything = {i["tag"]: i["total"] for i in (await api.get("/api/tags"))[1]["items"]}
    assert everything == {"alpha": 1, "beta": 1, "shared": 5}


async def test_concurrent_filtered_and_unfiltered_pages_do_not_mix(api: ApiClient) -> None:
    await _app(api, "a", tags=["x"])
    await _app(api, "b")
    results = await asyncio.gather(*(api.get("/api/apps" + ("?tag=x" if i % 2 else "")) for i in range(10)))
    for i, (status, body) in enumerate(results):
        assert status == 200 and _names(body) == (["a"] if i % 2 else ["a", "b"])


# ---------------------------------------------------------------------------------------------------- the CLI
@pytest.fixture(scope="module")
def cli_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real API served by Hypercorn in a thread, its container engine a fake that can run services."""
    from tests.support.cli import api_in_thread
    from tests.test_services_api import _teach

    async def seed(_accounts: Any) -> None:
        pass

    with api_in_thread(tmp_path_factory.mktemp("cli-tags") / "data", seed) as (url, app):
        fake = FakeRuntime()
        _teach(fake)
        app.extensions["rivetr_ctx"]._runtime = fake
        yield url


def cli(server: str, tmp_path: Path, *args: str) -> Any:
    from click.testing import CliRunner

    from rivetr_core.cli.main import cli as main
    from tests.support.server import ADMIN_TOKEN

    env = {
        "RIVETR_URL": server,
        "RIVETR_TOKEN": ADMIN_TOKEN,
        "RIVETR_LOGIN_FILE": str(tmp_path / "login.json"),
    }
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def _json(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_apps_tags_from_the_cli(cli_server: str, tmp_path: Path) -> None:
    created = cli(
        cli_server, tmp_path, "apps", "create", "cli-web", "--image", IMAGE, "--tag", "Web", "--tag", "eu"
    )
    assert created.exit_code == 0, created.output
    cli(cli_server, tmp_path, "apps", "create", "cli-api", "--image", IMAGE, "--tag", "web")
    shown = _json(cli(cli_server, tmp_path, "apps", "show", "cli-web", "--json"))
    assert shown["tags"] == ["eu", "web"]

    tagged = cli(cli_server, tmp_path, "apps", "tag", "cli-api", "prod", "team:core")
    assert tagged.exit_code == 0 and "cli-api: prod, team:core, web" in tagged.output, tagged.output
    untagged = _json(cli(cli_server, tmp_path, "apps", "untag", "cli-api", "WEB", "absent", "--json"))
    assert untagged["tags"] == ["prod", "team:core"]
    bad = cli(cli_server, tmp_path, "apps", "tag", "cli-api", "no spaces")
    assert bad.exit_code != 0 and "tags[" in bad.output and "422" in bad.output, bad.output

    only = _json(cli(cli_server, tmp_path, "apps", "list", "--tag", "web", "--json"))
    assert [a["name"] for a in only] == ["cli-web"]
    both = _json(cli(cli_server, tmp_path, "apps", "list", "--tag", "prod", "--tag", "team:core", "--json"))
    assert [a["name"] for a in both] == ["cli-api"]
    table = cli(cli_server, tmp_path, "apps", "list", "--tag", "eu")
    assert table.exit_code == 0 and "cli-web" in table.output and "eu, web" in table.output
    assert "cli-api" not in table.output

    counts = {r["tag"]: r for r in _json(cli(cli_server, tmp_path, "tags", "--json"))}
    assert counts["web"]["apps"] == 1 and counts["prod"]["apps"] == 1
    listed = cli(cli_server, tmp_path, "tags")
    assert listed.exit_code == 0 and "team:core" in listed.output


def test_services_and_stacks_tags_from_the_cli(cli_server: str, tmp_path: Path) -> None:
    made = cli(
        cli_server, tmp_path, "services", "create", "cli-db", "--type", "redis", "--tag", "data", "--no-wait"
    )
    assert made.exit_code == 0, made.output
    cli(cli_server, tmp_path, "services", "create", "cli-cache", "--type", "redis", "--no-wait")
    assert _json(cli(cli_server, tmp_path, "services", "tag", "cli-cache", "Hot", "--json"))["tags"] == [
        "hot"
    ]
    assert [
        s["name"] for s in _json(cli(cli_server, tmp_path, "services", "list", "--tag", "data", "--json"))
    ] == ["cli-db"]
    untag = cli(cli_server, tmp_path, "services", "untag", "cli-db", "data")
    assert untag.exit_code == 0 and "cli-db: no tags" in untag.output
    assert _json(cli(cli_server, tmp_path, "services", "list", "--tag", "data", "--json")) == []

    compose = tmp_path / "compose.yaml"
    compose.write_text(COMPOSE)
    for name, extra in (("cli-st1", ["--tag", "edge"]), ("cli-st2", [])):
        done = cli(cli_server, tmp_path, "stacks", "create", name, "--file", str(compose), *extra)
        assert done.exit_code == 0, done.output
    assert _json(cli(cli_server, tmp_path, "stacks", "show", "cli-st1", "--json"))["tags"] == ["edge"]
    cli(cli_server, tmp_path, "stacks", "tag", "cli-st2", "edge", "beta")
    rows = _json(cli(cli_server, tmp_path, "stacks", "list", "--tag", "edge", "--tag", "beta", "--json"))
    assert [s["name"] for s in rows] == ["cli-st2"]
    table = cli(cli_server, tmp_path, "stacks", "list", "--tag", "edge")
    assert table.exit_code == 0 and "cli-st1" in table.output and "beta, edge" in table.output
