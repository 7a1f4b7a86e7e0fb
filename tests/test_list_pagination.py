"""The list envelope and cursor pagination (issue 15): ``{"items", "next"}``, ``?limit=``/``?cursor=``.

In-process app on a real SQLite file for the API; a real ``rivetr serve`` for the CLI, which follows ``next``
to list everything.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from rivetr_core.cli.main import cli
from tests.support.server import ApiClient, ServerProcess, start_server

# Its server never deploys: it runs beside the engine tests (tests/support/workers.py).
pytestmark = pytest.mark.engine_free


async def _create(api: ApiClient, name: str, **extra: object) -> dict:
    body = {"name": name, "git_url": f"https://git.example.com/acme/{name}.git", **extra}
    code, created = await api.post("/api/apps", json=body)
    assert code == 201, created
    return created  # type: ignore[no-any-return]


async def _all_pages(api: ApiClient, query: str = "") -> list[list[str]]:
    """Names page by page, following ``next``."""
    pages, cursor = [], None
    while True:
        sep = "&" if query else ""
        url = f"/api/apps?{query}{sep}cursor={cursor}" if cursor else f"/api/apps?{query}"
        code, body = await api.get(url)
        assert code == 200, body
        assert set(body) == {"items", "next"}
        pages.append([a["name"] for a in body["items"]])
        cursor = body["next"]
        if cursor is None:
            return pages


async def test_apps_list_is_an_envelope_paged_by_50(api: ApiClient) -> None:
    names = [f"app-{i:03d}" for i in range(120)]
    for name in names:
        await _create(api, name)
    code, body = await api.get("/api/apps")
    assert code == 200
    assert set(body) == {"items", "next"}
    assert len(body["items"]) == 50 and isinstance(body["next"], str)
    pages = await _all_pages(api)
    assert [len(p) for p in pages] == [50, 50, 20]
    # Creation order, each app exactly once.
    assert [n for p in pages for n in p] == names
    assert [len(p) for p in await _all_pages(api, "limit=7")][:2] == [7, 7]
    assert [len(p) for p in await _all_pages(api, "limit=200")] == [120]


async def test_empty_list_is_an_empty_envelope(api: ApiClient) -> None:
    assert await api.get("/api/apps") == (200, {"items": [], "next": None})


async def test_pages_neither_repeat_nor_skip_across_inserts_and_deletes(api: ApiClient) -> None:
    first = [f"old-{i:02d}" for i in range(30)]
    ids = {}
    for name in first:
        ids[name] = (await _create(api, name))["id"]
    code, page1 = await api.get("/api/apps?limit=10")
    seen = [a["name"] for a in page1["items"]]
    # Between pages: new apps arrive (one named to sort first by name), an app already served goes away.
    await _create(api, "aaa-new")
    await _create(api, "zzz-new")
    assert (await api.delete(f"/api/apps/{ids['old-00']}"))[0] in (200, 202, 204)
    cursor = page1["next"]
    while cursor:
        code, page = await api.get(f"/api/apps?limit=10&cursor={cursor}")
        assert code == 200, page
        seen += [a["name"] for a in page["items"]]
        cursor = page["next"]
    assert len(seen) == len(set(seen)), "an app was served twice"
    assert seen[:30] == first, "an app that existed all along was skipped"
    assert seen[30:] == ["aaa-new", "zzz-new"]


async def test_filters_apply_to_every_page(api: ApiClient) -> None:
    for i in range(12):
        await _create(api, f"s-{i:02d}", environment="staging" if i % 2 else "development")
    pages = await _all_pages(api, "environment=staging&limit=4")
    assert [n for p in pages for n in p] == [f"s-{i:02d}" for i in range(1, 12, 2)]


@pytest.mark.parametrize(
    "query",
    [
        "cursor=not-a-cursor",
        "cursor=e30",  # base64 of {}
        "cursor=WzEsMl0",  # base64 of [1,2]
        "cursor=WyJub3QgYSB0aW1lIiwieCJd",  # base64 of ["not a time","x"]
        "limit=0",
        "limit=201",
        "limit=ten",
    ],
)
async def test_bad_cursor_or_limit_is_a_422_naming_it(api: ApiClient, query: str) -> None:
    await _create(api, "one")
    await _create(api, "two")
    # The parameters exist (a good value works) ...
    code, good = await api.get("/api/apps?limit=1")
    assert code == 200 and len(good["items"]) == 1 and good["next"]
    # ... and a bad one is refused, naming it.
    code, body = await api.get(f"/api/apps?{query}")
    assert code == 422, body
    assert body["error"]["code"] and body["error"]["message"]
    fields = json.dumps(body["error"]["details"])
    assert query.split("=")[0] in fields


async def test_list_items_are_the_app_objects(api: ApiClient) -> None:
    """The read-model answers exactly what GET /api/apps/{id} does (secrets redacted, derived fields)."""
    project = (await api.post("/api/projects", json={"name": "shop"}))[1]
    created = await _create(
        api,
        "web",
        domains=["b.example.com", "a.example.com"],
        project_id=project["id"],
        git_token="s3cret-token",
        memory_limit="256m",
        health_check={"kind": "tcp"},
    )
    await _create(api, "bare")
    _code, body = await api.get("/api/apps")
    listed = {a["name"]: a for a in body["items"]}
    for name in ("web", "bare"):
        one = (await api.get(f"/api/apps/{listed[name]['id']}"))[1]
        # What the app's rivetr.toml manages is looked up per app (its current deployment): lists leave it out.
        assert one.pop("managed_by_file") is None and "managed_by_file" not in listed[name]
        assert listed[name] == one
    assert listed["web"]["domains"] == ["b.example.com", "a.example.com"] == created["domains"]
    assert listed["web"]["has_git_token"] is True and "s3cret" not in json.dumps(body)


async def test_a_listed_page_reflects_every_commit_at_once(api: ApiClient) -> None:
    """Pages are cached until the next commit: a change written by any code path (not only the API) shows in
    the very next list, whether through the ORM or Core."""
    from sqlalchemy import text

    from rivetr_core.models.apps import App

    app = await _create(api, "cached")
    assert (await api.get("/api/apps"))[1]["items"][0]["status"] == "created"
    assert (await api.get("/api/apps"))[1]["items"][0]["status"] == "created"  # served from the cache
    async with api.ctx.db.session() as session:  # the pipeline's way: an ORM session
        row = await session.get(App, app["id"])
        row.status = "running"
        session.add(row)
        await session.commit()
    assert (await api.get("/api/apps"))[1]["items"][0]["status"] == "running"
    async with api.ctx.db.engine.begin() as conn:  # Core, autocommitted at the end of the block
        await conn.execute(text("UPDATE apps SET status = 'stopped'"))
    assert (await api.get("/api/apps"))[1]["items"][0]["status"] == "stopped"
    await _create(api, "second")
    assert [a["name"] for a in (await api.get("/api/apps"))[1]["items"]] == ["cached", "second"]


def _private_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return (
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        .decode()
    )


@pytest.mark.parametrize("path", ["/api/projects", "/api/ssh-keys", "/api/tokens"])
async def test_other_lists_share_the_envelope_and_cursor(api: ApiClient, path: str) -> None:
    names = [f"n-{i:02d}" for i in range(7)]
    for name in names:
        body = {"name": name, "private_key": _private_key()} if path == "/api/ssh-keys" else {"name": name}
        if path == "/api/tokens":
            body["scopes"] = ["read"]
        code, created = await api.post(path, json=body)
        assert code == 201, created
    seen, cursor = [], None
    while True:
        code, page = await api.get(f"{path}?limit=3" + (f"&cursor={cursor}" if cursor else ""))
        assert code == 200 and set(page) == {"items", "next"}, page
        seen.append([x["name"] for x in page["items"]])
        if not (cursor := page["next"]):
            break
    assert seen == [names[:3], names[3:6], names[6:]]
    code, body = await api.get(f"{path}?cursor=%%%")
    assert code == 422 and body["error"]["details"][0]["field"] == "cursor"
    assert "PRIVATE" not in json.dumps((await api.get(path))[1])


@pytest.mark.parametrize(
    ("path", "title"),
    [
        ("/api/apps", "AppPage"),
        ("/api/audit", "AuditPage"),
        ("/api/apps/{app_id}/deployments", "DeploymentPage"),
        ("/api/apps/{app_id}/env-vars", "EnvVarPage"),
        ("/api/apps/{app_id}/previews", "PreviewPage"),
        ("/api/auth/sessions", "SessionPage"),
        ("/api/certificates", "CertificatePage"),
        ("/api/git-providers", "GitAccountPage"),
        ("/api/git-providers/available", "GitProviderPage"),
        ("/api/notification-channels/{channel_id}/deliveries", "NotificationDeliveryPage"),
        ("/api/plugins", "PluginPage"),
        ("/api/routes", "RoutePage"),
    ],
)
async def test_openapi_documents_the_envelope_and_page_parameters(
    api: ApiClient, path: str, title: str
) -> None:
    spec = (await api.get("/openapi.json"))[1]
    operation = spec["paths"][path]["get"]
    assert {"limit", "cursor"} <= {p["name"] for p in operation["parameters"]}
    page = operation["responses"]["200"]["content"]["application/json"]["schema"]
    if "$ref" in page:  # item models with a schema of their own are referenced
        page = spec["components"]["schemas"][page["$ref"].rsplit("/", 1)[1]]
    assert page["title"] == title
    assert set(page["properties"]) == set(page["required"]) == {"items", "next"}


async def test_revoked_api_token_fails_at_once_despite_the_verification_cache(api: ApiClient) -> None:
    _code, token = await api.post("/api/tokens", json={"name": "script", "scopes": ["read"]})
    headers = {"Authorization": f"Bearer {token['token']}"}
    for _ in range(3):  # verified once, then served from the cache
        assert (await api.get("/api/apps", auth=False, headers=headers))[0] == 200
    assert (await api.delete(f"/api/tokens/{token['id']}"))[0] == 204
    assert (await api.get("/api/apps", auth=False, headers=headers))[0] == 401


# ------------------------------------------------------------------------ the other lists, one contract
async def _walk(api: ApiClient, path: str, limit: int) -> list[list[dict]]:
    """Every page of ``path`` at ``limit``, following ``next``."""
    sep = "&" if "?" in path else "?"
    pages, cursor = [], None
    while True:
        code, page = await api.get(f"{path}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
        assert code == 200 and set(page) == {"items", "next"}, page
        pages.append(page["items"])
        if not (cursor := page["next"]):
            return pages


async def _holds_the_contract(api: ApiClient, path: str, expected: list[str], field: str = "id") -> None:
    """First page at the default size, the cursor to the next page (in order, each item once), a bad cursor
    is a 422 naming it, and the limit's bounds."""
    sep = "&" if "?" in path else "?"
    code, first = await api.get(path)
    assert code == 200 and set(first) == {"items", "next"}, first
    assert [i[field] for i in first["items"]] == expected[:50]
    pages = await _walk(api, path, 3)
    assert [[i[field] for i in p] for p in pages] == [expected[i : i + 3] for i in range(0, len(expected), 3)]
    assert len(pages) >= 2, "too few items to follow a cursor"
    for bad in ("cursor=%%%", "cursor=WzEsMl0", "limit=0", "limit=201"):
        code, body = await api.get(f"{path}{sep}{bad}")
        assert code == 422, (bad, body)
        assert bad.split("=")[0] in json.dumps(body["error"]["details"])
    assert len((await api.get(f"{path}{sep}limit=200"))[1]["items"]) == min(len(expected), 200)


async def test_deployments_newest_first_by_cursor(api: ApiClient) -> None:
    from datetime import UTC, datetime, timedelta

    from rivetr_core.models.apps import Deployment

    app = await _create(api, "deployed")
    other = await _create(api, "other")
    base = datetime(2026, 3, 1, tzinfo=UTC)
    rows = [
        # Two deployments share a timestamp: the id breaks the tie, so a page boundary between them holds.
        Deployment(app_id=app["id"], created_at=base + timedelta(seconds=min(i, 5)), status="replaced")
        for i in range(8)
    ]
    async with api.ctx.db.session() as session:
        session.add_all([*rows, Deployment(app_id=other["id"], created_at=base)])
        await session.commit()
        expected = [d.id for d in sorted(rows, key=lambda d: (d.created_at, d.id), reverse=True)]
    await _holds_the_contract(api, f"/api/apps/{app['id']}/deployments", expected)
    assert (await api.get("/api/apps/nope/deployments"))[0] == 404


async def test_notification_deliveries_newest_first_by_cursor(api: ApiClient) -> None:
    from datetime import UTC, datetime, timedelta

    from rivetr_core.models.ops import NotificationDelivery

    channels = []
    for name in ("ops", "other"):
        code, channel = await api.post(
            "/api/notification-channels", json={"name": name, "url": "json://127.0.0.1:9/x"}
        )
        assert code == 201, channel
        channels.append(channel["id"])
    base = datetime(2026, 3, 1, tzinfo=UTC)
    rows = [
        NotificationDelivery(
            channel_id=channels[0],
            event_type="deployment_failed",
            created_at=base + timedelta(seconds=min(i, 4)),
        )
        for i in range(7)
    ]
    async with api.ctx.db.session() as session:
        session.add_all([*rows, NotificationDelivery(channel_id=channels[1], event_type="rollback")])
        await session.commit()
        expected = [d.id for d in sorted(rows, key=lambda d: (d.created_at, d.id), reverse=True)]
    await _holds_the_contract(api, f"/api/notification-channels/{channels[0]}/deliveries", expected)
    assert (await api.get("/api/notification-channels/nope/deliveries"))[0] == 404


async def test_env_vars_by_key_by_cursor(api: ApiClient) -> None:
    app = await _create(api, "configured")
    keys = [f"K_{i:02d}" for i in (5, 0, 3, 1, 6, 2, 4)]
    for key in keys:
        body = {"key": key, "value": f"v-{key}", "is_secret": key == "K_03"}
        assert (await api.post(f"/api/apps/{app['id']}/env-vars", json=body))[0] == 201
    path = f"/api/apps/{app['id']}/env-vars"
    await _holds_the_contract(api, path, sorted(keys), field="key")
    # The filter-like ?reveal= holds on every page.
    pages = await _walk(api, path + "?reveal=true", 2)
    assert {v["key"]: v["value"] for p in pages for v in p}["K_03"] == "v-K_03"
    assert (await api.get(f"{path}?limit=4"))[1]["items"][3]["value"] != "v-K_03"  # masked without it


async def test_previews_newest_pr_first_by_cursor(api: ApiClient) -> None:
    from rivetr_core.models.git import Preview

    app = await _create(api, "previewed")
    # One row per PR number (unique per app), whichever host it came from.
    rows = [
        Preview(app_id=app["id"], provider=provider, pr_number=n, domain=f"pr-{n}-{provider}.example.com")
        for n, provider in (
            (1, "github"),
            (4, "github"),
            (2, "gitlab"),
            (8, "gitlab"),
            (9, "github"),
            (3, "github"),
            (7, "github"),
        )
    ]
    async with api.ctx.db.session() as session:
        session.add_all(rows)
        await session.commit()
        expected = [p.id for p in sorted(rows, key=lambda p: (p.pr_number, p.id), reverse=True)]
    await _holds_the_contract(api, f"/api/apps/{app['id']}/previews", expected)
    assert (await api.get("/api/apps/nope/previews"))[0] == 404


async def test_routes_by_domain_by_cursor(api: ApiClient) -> None:
    domains = [f"r{i}.example.com" for i in (4, 1, 6, 0, 3, 5, 2)]
    for domain in domains:
        code, body = await api.post("/api/routes", json={"domain": domain, "upstreams": ["127.0.0.1:9"]})
        assert code == 201, body
    await _holds_the_contract(api, "/api/routes", sorted(domains), field="domain")


async def test_certificates_by_domain_by_cursor(api: ApiClient) -> None:
    from rivetr_core.models.tls import Certificate

    domains = [f"c{i}.example.com" for i in (4, 1, 6, 0, 3, 5, 2)]
    async with api.ctx.db.session() as session:  # ACME rows waiting for issuance: no proxy, no CA here
        session.add_all([Certificate(domain=d, source="acme") for d in domains])
        await session.commit()
    await _holds_the_contract(api, "/api/certificates", sorted(domains), field="domain")


async def test_plugins_by_name_by_cursor(api: ApiClient) -> None:
    names = sorted(info.name for info in api.ctx.plugins.plugin_infos())
    assert len(names) > 3
    await _holds_the_contract(api, "/api/plugins", names, field="name")


async def test_sessions_newest_first_by_cursor(api: ApiClient) -> None:
    from rivetr_core.accounts.service import AccountService

    assert (await api.post("/api/auth/setup", json={"username": "ann", "password": "a-long-password-9"}))[
        0
    ] == 201
    service: AccountService = api.ctx.services["accounts"]
    user = await service.get_user_by_name("ann")
    for i in range(7):
        await service.open_session(user, ip=f"203.0.113.{i}", user_agent="test")
    rows = [row for row, _name in await service.list_sessions()]
    expected = [r.id for r in sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)]
    assert len(expected) == 8  # setup logged ann in too
    await _holds_the_contract(api, "/api/auth/sessions?all=true", expected)  # the admin token has none itself


async def test_git_accounts_and_providers_by_cursor(api: ApiClient) -> None:
    from rivetr_core.models.git import GitAccount

    sealed = api.ctx.secrets.encrypt("not-a-real-token")
    rows = [
        GitAccount(provider="github", login=f"u{i}", remote_id=str(i), access_token_enc=sealed)
        for i in range(7)
    ]
    async with api.ctx.db.session() as session:
        session.add_all(rows)
        await session.commit()
        expected = [a.id for a in sorted(rows, key=lambda a: (a.created_at, a.id))]
    await _holds_the_contract(api, "/api/git-providers", expected)
    names = sorted(api.ctx.plugins.git_providers())
    assert len(names) >= 4
    first = (await api.get("/api/git-providers/available?limit=3"))[1]
    assert [p["provider"] for p in first["items"]] == names[:3] and first["next"]
    rest = (await api.get(f"/api/git-providers/available?limit=200&cursor={first['next']}"))[1]
    assert [p["provider"] for p in rest["items"]] == names[3:] and rest["next"] is None


# ------------------------------------------------------------------------------- the scheme's parts, unit
def test_cursor_keys_round_trip_and_refuse_another_shape() -> None:
    from datetime import UTC, datetime

    from rivetr_core.errors import ApiError
    from rivetr_core.pagination import decode_cursor, encode_cursor

    at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert decode_cursor(encode_cursor((at, 42)), (datetime, int)) == (at, 42)
    assert decode_cursor(encode_cursor(("a.example.com",)), (str,)) == ("a.example.com",)
    for key, shape in (
        ((at, "x"), (datetime, int)),  # a cursor of another list
        ((at, True), (datetime, int)),  # JSON true is no id
        ((at, 2**63), (datetime, int)),  # beyond SQL integers
        (("x",), (str, str)),
        ((1,), (str,)),
    ):
        with pytest.raises(ApiError) as caught:
            decode_cursor(encode_cursor(key), shape)
        assert caught.value.status == 422 and "cursor" in json.dumps(caught.value.details)


@pytest.mark.parametrize("descending", [False, True])
def test_list_page_walks_an_in_memory_list_in_key_order(descending: bool) -> None:
    from rivetr_core.pagination import PageQuery, list_page

    items = [f"d{i}" for i in (3, 0, 4, 1, 2)]
    key = lambda item: (item,)  # noqa: E731
    pages, cursor = [], None
    while True:
        page, cursor = list_page(items, key, (str,), PageQuery(limit=2, cursor=cursor), descending=descending)
        pages.append(page)
        if cursor is None:
            break
        items.append("d9" if descending else "d00")  # arrives behind the cursor: not served this walk
    expected = [["d4", "d3"], ["d2", "d1"], ["d0"]] if descending else [["d0", "d1"], ["d2", "d3"], ["d4"]]
    assert pages == expected


# ----------------------------------------------------------------------------------------- CLI, real server
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_server(tmp_path_factory.mktemp("pages") / "data", {"RIVETR_RATE_LIMIT__ENABLED": "false"})
    with proc.client() as client:
        for i in range(230):  # more than the CLI's page of 200, and than the default 50
            r = client.post(
                "/api/apps", json={"name": f"c-{229 - i:03d}", "git_url": "git://127.0.0.1:9/x.git"}
            )
            assert r.status_code == 201, r.text
    yield proc
    proc.stop()


def _cli(server: ServerProcess, tmp_path: Path, *args: str):  # type: ignore[no-untyped-def]
    env = {"RIVETR_URL": server.url, "RIVETR_TOKEN": server.token, "RIVETR_LOGIN_FILE": str(tmp_path / "l")}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_cli_apps_list_follows_next_to_list_everything(server: ServerProcess, tmp_path: Path) -> None:
    with server.client() as client:
        assert len(client.get("/api/apps").json()["items"]) == 50
    result = _cli(server, tmp_path, "apps", "list", "--json")
    assert result.exit_code == 0, result.output
    names = [a["name"] for a in json.loads(result.output)]
    assert names == [f"c-{i:03d}" for i in range(230)]  # every app once, by name
    table = _cli(server, tmp_path, "apps", "list").output
    assert "c-000" in table and "c-229" in table


def test_cli_resolves_an_app_by_name_beyond_the_first_pages(server: ServerProcess, tmp_path: Path) -> None:
    # c-000 was created last: it is on the last page.
    result = _cli(server, tmp_path, "apps", "show", "c-000", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["name"] == "c-000"


def test_cli_status_counts_every_app(server: ServerProcess, tmp_path: Path) -> None:
    result = _cli(server, tmp_path, "status", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert len(body["apps"]) == 230


def test_dashboard_apps_table_lists_every_app(server: ServerProcess) -> None:
    setup = httpx.post(
        server.url + "/api/auth/setup",
        json={"username": "admin", "password": "correct horse battery staple"},
        headers={"Authorization": f"Bearer {server.token}"},
    )
    assert setup.status_code == 201, setup.text
    with httpx.Client(base_url=server.url) as browser:
        login = browser.get("/login")
        csrf = login.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        r = browser.post(
            "/login",
            data={"username": "admin", "password": "correct horse battery staple", "csrf_token": csrf},
        )
        assert r.status_code in (200, 302, 303), r.text[:300]
        page = browser.get("/apps")
        assert page.status_code == 200
        rows = page.text.count('<tr data-app="')
        assert rows == 230
