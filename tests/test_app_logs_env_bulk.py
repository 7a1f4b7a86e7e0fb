"""``GET /api/apps/{id}/logs`` searched (since/until, relative or RFC 3339, q, tail, ?download=1) and the bulk .env
import (``POST /api/apps/{id}/env-vars/bulk`` and its ``/preview``) through the real app with the FAKE runtime
(lines with chosen timestamps are put into its container's log). The .env parser's syntax is unit-tested here
too; the pending-changes read-model (the app page's banner) is checked against real API changes. A real
engine's log is searched in tests/test_ops_e2e.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rivetr_core import readmodels
from rivetr_core.contract.runtime import LogLine
from rivetr_core.dotenv import DotenvError, parse_dotenv
from rivetr_core.services.app_logs import parse_log_time
from rivetr_core.testing import FakeRuntime
from tests.support import at_rest
from tests.support.server import AUTH, ApiClient, api_on, make_config

IMAGE = "registry.example.com/team/logs:1"


@pytest.fixture
async def api(tmp_path: Path, fake_runtime: FakeRuntime) -> AsyncIterator[ApiClient]:
    fake_runtime.publish(IMAGE, body="hello")
    async with api_on(fake_runtime, make_config(tmp_path / "data")) as client:
        yield client


async def create(api: ApiClient, name: str) -> dict[str, Any]:
    code, app = await api.post(
        "/api/apps", json={"name": name, "source": {"kind": "image", "image": IMAGE}, "port": 8080}
    )
    assert code == 201, app
    return app  # type: ignore[no-any-return]


async def deploy(api: ApiClient, app_id: str) -> dict[str, Any]:
    code, dep = await api.post(f"/api/apps/{app_id}/deploy", json={})
    assert code == 202, dep
    async with asyncio.timeout(15):
        while dep["status"] not in ("running", "failed", "cancelled"):
            await asyncio.sleep(0.02)
            code, dep = await api.get(f"/api/deployments/{dep['id']}")
    assert dep["status"] == "running", dep
    return dep  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------------- parsing


def test_log_times_relative_and_rfc3339() -> None:
    now = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
    assert parse_log_time("10m", now) == now - timedelta(minutes=10)
    assert parse_log_time("2h", now) == now - timedelta(hours=2)
    assert parse_log_time("7d", now) == now - timedelta(days=7)
    assert parse_log_time("30s", now) == now - timedelta(seconds=30)
    assert parse_log_time("2026-01-31T13:00:00+01:00") == now
    assert parse_log_time("2026-01-31T12:00:00Z") == now
    for bad in ("yesterday", "10", "10w", "2026-01-31T12:00:00", "-5m", ""):
        with pytest.raises(ValueError):
            parse_log_time(bad, now)


def test_dotenv_syntax() -> None:
    text = (
        "# a comment\n"
        "\n"
        "export DATABASE_URL=postgres://db/app\n"
        "  SPACED =  two words   # trailing comment\n"
        "HASH=a#b\n"
        "EMPTY=\n"
        'DOUBLE="line one\\nline \\"two\\""\n'
        "SINGLE='kept \\n $literal'\n"
        'MULTI="first\n'
        "second  \n"
        'third" # after\n'
        "SPACED=last wins\r\n"
    )
    assert parse_dotenv(text) == [
        ("DATABASE_URL", "postgres://db/app"),
        ("HASH", "a#b"),
        ("EMPTY", ""),
        ("DOUBLE", 'line one\nline "two"'),
        ("SINGLE", "kept \\n $literal"),
        ("MULTI", "first\nsecond  \nthird"),
        ("SPACED", "last wins"),
    ]
    for bad, line, message in (
        ("A=1\nnot an assignment\n", 2, "expected KEY=VALUE"),
        ("A=1\n\nB='open\nstill open\n", 3, "never closed"),
        ('A="x" y\n', 1, "after the closing quote"),
        ("1BAD=x\n", 1, "is not a variable name"),
    ):
        with pytest.raises(DotenvError, match=message) as info:
            parse_dotenv(bad)
        assert info.value.line == line


# ---------------------------------------------------------------------------------------------- logs


async def test_logs_filters_window_search_tail_and_download(
    api: ApiClient, fake_runtime: FakeRuntime
) -> None:
    app = await create(api, "logweb")
    dep = await deploy(api, app["id"])
    container = fake_runtime.containers[dep["container_id"]]
    now = datetime.now(UTC)
    container.log[:] = [
        LogLine("boot: listening on 8080", "stdout", now - timedelta(hours=3)),
        LogLine("GET /old 200", "stdout", now - timedelta(hours=2)),
        LogLine("ERROR database timeout", "stderr", now - timedelta(minutes=90)),
        LogLine("GET /recent 200", "stdout", now - timedelta(minutes=20)),
        LogLine("error: cache miss", "stderr", now - timedelta(minutes=5)),
        LogLine("GET /now 200", "stdout", now - timedelta(seconds=30)),
    ]
    path = f"/api/apps/{app['id']}/logs"

    async def lines(query: str) -> list[str]:
        code, body = await api.get(f"{path}?{query}")
        assert code == 200, body
        return [e["line"] for e in body]

    assert await lines("tail=2") == ["error: cache miss", "GET /now 200"]
    assert await lines("since=1h") == ["GET /recent 200", "error: cache miss", "GET /now 200"]
    # q is a case-insensitive substring; tail keeps the newest matches.
    assert await lines("q=ERROR") == ["ERROR database timeout", "error: cache miss"]
    assert await lines("q=error&tail=1") == ["error: cache miss"]
    assert await lines("q=nothing-like-this") == []
    assert await lines("until=1h") == ["boot: listening on 8080", "GET /old 200", "ERROR database timeout"]
    window = f"since={(now - timedelta(hours=2, minutes=1)).isoformat()}&until=30m"
    assert await lines(window.replace("+", "%2B")) == ["GET /old 200", "ERROR database timeout"]
    _code, body = await api.get(f"{path}?since=1h&q=GET")
    assert [(e["stream"], e["line"]) for e in body] == [
        ("stdout", "GET /recent 200"),
        ("stdout", "GET /now 200"),
    ]
    assert body[0]["ts"].endswith("Z")

    response = await api.client.get(f"{path}?download=1&q=error", headers=AUTH)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="logweb-') and disposition.endswith('.log"')
    text = await response.get_data(as_text=True)
    rows = text.splitlines()
    assert [r.split(" ", 2)[1:] for r in rows] == [
        ["stderr", "ERROR database timeout"],
        ["stderr", "error: cache miss"],
    ]
    # The download writes each line's time to the millisecond.
    logged = container.log[2].ts
    assert parse_log_time(rows[0].split(" ", 1)[0]) == logged.replace(
        microsecond=logged.microsecond // 1000 * 1000
    )


async def test_logs_refusals(api: ApiClient) -> None:
    app = await create(api, "idle")
    path = f"/api/apps/{app['id']}/logs"
    for query, field in (
        ("since=yesterday", "since"),
        ("until=2026-01-31T12:00:00", "until"),  # no zone: which one was meant cannot be guessed
        ("since=1h&until=2h", "until"),  # a window ending before it starts
        ("tail=100001", "tail"),
        ("tail=-1", "tail"),
        ("q=", "q"),
        (f"q={'x' * 201}", "q"),
        ("grep=x", "grep"),
    ):
        code, body = await api.get(f"{path}?{query}")
        assert code == 422, (query, body)
        assert set(body["error"]) == {"code", "message", "details"}
        assert any(field in str(d.get("field") or d.get("loc")) for d in body["error"]["details"]), (
            query,
            body,
        )
    code, body = await api.get(f"{path}?since=10m")
    assert code == 409 and body["error"]["code"] == "no_container"
    code, body = await api.get("/api/apps/nope/logs?q=x")
    assert code == 404


# ---------------------------------------------------------------------------------------------- bulk .env


async def test_bulk_env_preview_then_apply(api: ApiClient) -> None:
    app = await create(api, "bulkweb")
    base = f"/api/apps/{app['id']}/env-vars"
    assert (await api.post(base, json={"key": "KEEP", "value": "same"}))[0] == 201
    assert (await api.post(base, json={"key": "TOKEN", "value": "old", "is_secret": True}))[0] == 201
    assert (await api.post(base, json={"key": "UNTOUCHED", "value": "stays"}))[0] == 201
    dotenv = "# pasted\nexport KEEP=same\nTOKEN='new secret'\nNEW_ONE=\"a\\nb\"\nPLAIN=1\n"

    code, plan = await api.post(f"{base}/bulk/preview", json={"dotenv": dotenv})
    assert code == 200, plan
    assert plan == {
        "dry_run": True,
        "added": ["NEW_ONE", "PLAIN"],
        "changed": ["TOKEN"],
        "unchanged": ["KEEP"],
    }
    # A secret is never compared (the answer would confirm a guess): the same value still counts as changed.
    code, guess = await api.post(f"{base}/bulk/preview", json={"dotenv": "TOKEN=old"})
    assert guess["changed"] == ["TOKEN"] and guess["unchanged"] == []
    code, page = await api.get(f"{base}?reveal=true")
    assert {v["key"]: v["value"] for v in page["items"]} == {
        "KEEP": "same",
        "TOKEN": "old",
        "UNTOUCHED": "stays",
    }

    code, done = await api.post(f"{base}/bulk", json={"dotenv": dotenv})
    assert code == 200 and {**done, "dry_run": True} == plan and done["dry_run"] is False
    code, page = await api.get(f"{base}?reveal=true")
    rows = {v["key"]: v for v in page["items"]}
    assert {k: v["value"] for k, v in rows.items()} == {
        "KEEP": "same",
        "NEW_ONE": "a\nb",
        "PLAIN": "1",
        "TOKEN": "new secret",
        "UNTOUCHED": "stays",
    }
    # An existing secret stays secret (masked without reveal), new keys are plain runtime variables.
    assert (
        rows["TOKEN"]["is_secret"]
        and not rows["NEW_ONE"]["is_secret"]
        and rows["NEW_ONE"]["scope"] == "runtime"
    )
    code, masked = await api.get(f"{base}/TOKEN")
    assert masked["value"] != "new secret"
    # Encrypted at rest like every variable: the plain value is nowhere in the database file.
    assert b"new secret" not in at_rest.stored_bytes(api.ctx)

    # The same plain value again is unchanged; flags for every imported key (build scope) are a change.
    code, done = await api.post(f"{base}/bulk", json={"dotenv": "PLAIN=1\n"})
    assert done["unchanged"] == ["PLAIN"] and not done["added"] and not done["changed"]
    code, done = await api.post(
        f"{base}/bulk", json={"dotenv": "PLAIN=1\n", "is_secret": True, "scope": "both"}
    )
    assert done["changed"] == ["PLAIN"]
    code, row = await api.get(f"{base}/PLAIN")
    assert row["is_secret"] and row["scope"] == "both"


async def test_bulk_env_refusals_write_nothing(api: ApiClient) -> None:
    app = await create(api, "bulkbad")
    base = f"/api/apps/{app['id']}/env-vars"
    for body, needle in (
        ({"dotenv": "GOOD=1\nthis line is wrong\n"}, "Line 2: expected KEY=VALUE"),
        ({"dotenv": "GOOD=1\nPORT=80\n"}, "PORT: PORT is set by Rivetr"),
        ({"dotenv": "GOOD=1\nbad-key=1\n"}, "bad-key: must be letters"),
        ({"dotenv": "A='never closed\n"}, "Line 1: the ' quote of A is never closed"),
        ({"dotenv": "# only a comment\n"}, "Holds no KEY=VALUE line"),
        ({"dotenv": "A=1", "scope": "nowhere"}, "scope"),
        ({"dotenv": "A=1", "unknown": True}, "unknown"),
    ):
        for path in (f"{base}/bulk", f"{base}/bulk/preview"):
            code, answer = await api.post(path, json=body)
            assert code == 422, (body, answer)
            assert needle in str(answer["error"]), (needle, answer)
    code, page = await api.get(base)
    assert page["items"] == []
    code, answer = await api.post("/api/apps/nope/env-vars/bulk", json={"dotenv": "A=1"})
    assert code == 404


# ---------------------------------------------------------------------------------------------- pending changes


async def test_pending_changes_follow_the_running_deployment(api: ApiClient) -> None:
    app = await create(api, "pendweb")
    db = api.ctx.db
    assert (await api.post(f"/api/apps/{app['id']}/env-vars", json={"key": "A", "value": "1"}))[0] == 201
    assert await readmodels.pending_changes(db, app["id"]) is None  # never deployed: nothing to apply to
    await deploy(api, app["id"])
    assert await readmodels.pending_changes(db, app["id"]) is None  # A was set before: it runs with it
    # A preview is not a change; reads are not either.
    assert (await api.post(f"/api/apps/{app['id']}/env-vars/bulk/preview", json={"dotenv": "B=2"}))[0] == 200
    assert await readmodels.pending_changes(db, app["id"]) is None
    # A refused change is not one.
    assert (await api.put(f"/api/apps/{app['id']}", json={"port": 0}))[0] == 422
    assert await readmodels.pending_changes(db, app["id"]) is None
    assert (await api.delete(f"/api/apps/{app['id']}/env-vars/A"))[0] == 204
    pending = await readmodels.pending_changes(db, app["id"])
    assert pending is not None and pending.what == ("environment variables",)
    assert (await api.put(f"/api/apps/{app['id']}", json={"port": 8081}))[0] == 200
    pending = await readmodels.pending_changes(db, app["id"])
    assert pending is not None and pending.what == ("environment variables", "settings")
    # Another app's changes are its own.
    other = await create(api, "pendother")
    await deploy(api, other["id"])
    assert await readmodels.pending_changes(db, other["id"]) is None
    await deploy(api, app["id"])
    assert await readmodels.pending_changes(db, app["id"]) is None
