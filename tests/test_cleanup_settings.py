"""Cleanup settings stored over the config file's ``[cleanup]`` (``/api/system/cleanup/settings``): validation
(ranges as the file's, unknown fields named, nothing half-stored), who may change them (a team viewer reads, gets
403 on a change), persistence across a new app object on the same data dir, reset of one field or all, and the
running cleanup, disk monitor and scheduler using the effective values without a restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest

from rivetr_core.cleanup.service import CleanupService
from tests.support.roles import make_team, member
from tests.support.server import ApiClient

URL = "/api/system/cleanup/settings"
#: The config file's section in these tests: a non-default value shows the file is the base.
FILE = {"keep_images": 5, "interval_minutes": 120}


@pytest.fixture
async def api(config_factory: Callable[..., Any]) -> AsyncIterator[ApiClient]:
    from rivetr_core.app import create_app

    app = create_app(config_factory(cleanup=FILE))
    async with app.test_app():
        yield ApiClient(app)


async def test_overrides_field_by_field_and_reset(api: ApiClient) -> None:
    status, body = await api.get(URL)
    assert status == 200, body
    assert body["settings"]["keep_images"] == 5 and body["settings"]["audit_retention_days"] == 365
    assert set(body["sources"].values()) == {"config"} and body["updated_at"] is None
    assert body["config"] == body["settings"]

    status, body = await api.put(URL, json={"keep_images": 2, "prune_build_cache": True})
    assert status == 200, body
    assert body["settings"]["keep_images"] == 2 and body["settings"]["prune_build_cache"] is True
    assert body["sources"]["keep_images"] == "dashboard" and body["sources"]["interval_minutes"] == "config"
    assert body["config"]["keep_images"] == 5 and body["updated_at"]
    # The cleanup answer (the Server page's) carries the effective values too.
    _, last = await api.get("/api/system/cleanup")
    assert last["settings"] == body["settings"]

    # null drops one override; DELETE .../{field} another; the file's values come back.
    status, body = await api.put(URL, json={"prune_build_cache": None, "build_log_retention_days": 7})
    assert status == 200 and body["sources"]["prune_build_cache"] == "config", body
    status, body = await api.delete(f"{URL}/keep_images")
    assert status == 200 and body["settings"]["keep_images"] == 5, body
    assert [k for k, v in body["sources"].items() if v == "dashboard"] == ["build_log_retention_days"]
    status, body = await api.delete(URL)
    assert status == 200 and set(body["sources"].values()) == {"config"} and body["updated_at"] is None
    status, body = await api.delete(f"{URL}/no_such_setting")
    assert status == 404 and body["error"]["code"] == "not_found", body
    # A change of server-wide settings is in the audit log, as running the cleanup is.
    _, audit = await api.get("/api/audit?action=cleanup_settings_api.put_cleanup_settings")
    assert len(audit["items"]) == 2, audit


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"keep_images": 0}, "keep_images"),
        ({"disk_warning_percent": 101}, "disk_warning_percent"),
        ({"interval_minutes": "soon"}, "interval_minutes"),
        ({"prune_build_cache": 1}, "prune_build_cache"),
        ({"keep_images": True}, "keep_images"),
        ({"keep_images": 2, "keep_imagez": 3}, "keep_imagez"),
        ({"disk_warning_percent": 96}, "disk_warning_percent"),  # above the critical 95
    ],
)
async def test_bad_values_are_refused_naming_the_field(api: ApiClient, payload: dict, field: str) -> None:
    status, body = await api.put(URL, json=payload)
    assert status == 422, body
    assert body["error"]["code"] == "validation_error"
    assert field in [d["field"] for d in body["error"]["details"]], body
    _, after = await api.get(URL)
    assert set(after["sources"].values()) == {"config"}, "a refused request stored something"


async def test_a_viewer_reads_but_may_not_change(api: ApiClient) -> None:
    team = await make_team(api, "cleanup-team")
    viewer = await member(api, team, "viewer1", "viewer")
    status, body = await viewer.get(URL)
    assert status == 200 and body["settings"]["keep_images"] == 5, body
    for method, path, kw in (
        ("PUT", URL, {"json": {"keep_images": 1}}),
        ("DELETE", URL, {}),
        ("DELETE", f"{URL}/keep_images", {}),
    ):
        status, body = await viewer.request(method, path, **kw)
        assert status == 403, (method, path, body)
    _, after = await api.get(URL)
    assert after["settings"]["keep_images"] == 5


async def test_stored_settings_survive_a_new_app(config_factory: Callable[..., Any]) -> None:
    from rivetr_core.app import create_app

    config = config_factory(cleanup=FILE)
    app = create_app(config)
    async with app.test_app():
        status, body = await ApiClient(app).put(URL, json={"keep_images": 1, "disk_critical_percent": 99})
        assert status == 200, body
    again = create_app(config)  # a restart: new app object, same data dir
    async with again.test_app():
        client = ApiClient(again)
        _, body = await client.get(URL)
        assert body["settings"]["keep_images"] == 1 and body["settings"]["disk_critical_percent"] == 99
        assert body["sources"]["keep_images"] == "dashboard"
        assert client.ctx.services["cleanup"].config.keep_images == 1


async def test_the_cleanup_run_and_disk_monitor_use_the_stored_values(api: ApiClient, monkeypatch) -> None:
    from rivetr_core.db.engine import utcnow
    from rivetr_core.models.ops import AuditEntry

    async with api.ctx.db.session() as session:
        session.add(
            AuditEntry(
                ts=utcnow() - timedelta(days=10),
                actor="admin",
                action="ten-days-old",
                method="POST",
                route="/api/x",
                path="/api/x",
                target={},
                status=200,
                client="127.0.0.1",
            )
        )
        await session.commit()
    status, _ = await api.post("/api/system/cleanup")
    assert status == 200
    _, audit = await api.get("/api/audit?action=ten-days-old")
    assert len(audit["items"]) == 1  # the file's 365 days keep it

    status, body = await api.put(URL, json={"audit_retention_days": 5})
    assert status == 200, body
    await api.post("/api/system/cleanup")
    _, audit = await api.get("/api/audit?action=ten-days-old")
    assert audit["items"] == []

    service = api.ctx.services["cleanup"]
    monkeypatch.setattr(service, "disk_usage", lambda: 90.0)
    monkeypatch.setattr(api.ctx, "emit", lambda event: None)
    assert await service.check_disk() == "warning"  # the file's (default) warning threshold is 85
    await api.put(URL, json={"disk_warning_percent": 92})
    assert await service.check_disk() == "ok"


async def test_a_new_interval_applies_to_the_wait_under_way(api: ApiClient) -> None:
    """The scheduler waits the file's 120 minutes; setting 1 minute when more than a minute has passed since the
    last run wakes it (no restart), and the announced next run moves."""
    service = CleanupService(api.ctx)
    await service.load_settings()
    service._waiting_since, service._first_wait = time.monotonic() - 90, False
    waiting = asyncio.create_task(service._wait_until_due())
    await asyncio.sleep(0.05)
    assert not waiting.done(), "the scheduler ran before its 120 minutes were up"
    before = service.next_run_at()
    await service.update_settings({"interval_minutes": 1})
    await asyncio.wait_for(waiting, 30)  # woken by the change: the new minute is already over
    after = service.next_run_at()
    assert before is not None and after is not None and after < before

    # The API announces the app's own scheduler's next run, and a new interval moves it (past the first wait,
    # which is the start-up delay whatever the interval).
    api.ctx.services["cleanup"]._first_wait = False
    _, body = await api.get(URL)
    first = body["next_run_at"]
    _, body = await api.put(URL, json={"interval_minutes": 600})
    assert first is not None and body["next_run_at"] > first, body


async def test_two_changes_at_once_are_both_kept(api: ApiClient) -> None:
    """Each change rewrites the one stored row: made at the same time, neither may lose the other's field."""
    results = await asyncio.gather(
        api.put(URL, json={"keep_images": 2}),
        api.put(URL, json={"interval_minutes": 15}),
        api.put(URL, json={"audit_retention_days": 30}),
    )
    assert [status for status, _ in results] == [200, 200, 200], results
    _, body = await api.get(URL)
    assert sorted(k for k, v in body["sources"].items() if v == "dashboard") == [
        "audit_retention_days",
        "interval_minutes",
        "keep_images",
    ], body
