"""The Server screen's API with the FAKE runtime (logic only; the real engines' answers are checked by the
runtime contract suite's ``image_usage`` case and by ui/tests/test_browser_server.py on a real deployment):

* ``GET /api/system/metrics``: the windows the page offers answer, a bad one is a 422 naming ``range``; host
  samples carry network counters;
* ``GET /api/system/status``: engine, proxy, database size, plugins;
* ``GET /api/system/cleanup``: the settings beside the last report;
* ``GET /api/system/disk-usage``: per app, service and stack; a runtime without ``image_usage`` still gets its
  images counted (bytes null); a team member sees only their team's.
"""

from __future__ import annotations

from typing import Any

import pytest

from rivetr_core.testing import FakeRuntime
from rivetr_core.testing.fake_runtime import FakeImage
from tests.support import postgres
from tests.support.server import ApiClient, api_on, make_config
from tests.support.team_members import bearer
from tests.test_team_isolation import Teams, teams  # noqa: F401  (fixture)


async def test_host_history_windows_and_network_counters(api: ApiClient) -> None:
    sampler = api.ctx.services["sampler"]
    await sampler.sample_once()
    await sampler.sample_once()
    for window in ("1h", "24h", "7d"):
        status, body = await api.get(f"/api/system/metrics?range={window}&points=120")
        assert status == 200, body
        assert body["range"] == window and body["points"], body
    point, latest = body["points"][-1], body["latest"]
    # Counters since boot of the host's own interfaces: as stored, and in the latest sample.
    assert point["net_rx"] == int(latest["net_rx_bytes"]) >= 0
    assert point["net_tx"] == int(latest["net_tx_bytes"]) >= 0
    assert latest["disk_total_bytes"] >= latest["disk_used_bytes"] > 0
    for bad in ("1w", "0h", "forever", "367d"):
        status, body = await api.get(f"/api/system/metrics?range={bad}")
        assert status == 422, (bad, body)
        assert body["error"]["code"] == "validation_error" and "range" in body["error"]["message"], body


async def test_status_names_engine_proxy_database_and_plugins(
    tmp_path: Any, fake_runtime: FakeRuntime
) -> None:
    async with api_on(fake_runtime, make_config(tmp_path / "data")) as api:
        status, body = await api.get("/api/system/status")
    assert status == 200, body
    assert body["runtime"]["state"] == "ok" and body["runtime"]["name"] == fake_runtime.name
    assert body["runtime"]["version"] and body["runtime"]["error"] is None
    assert body["proxy"]["state"] == "disabled" and body["proxy"]["ports"] == []  # off in tests' config
    on_postgres = postgres.enabled()  # RIVETR_TEST_DATABASE=postgres: the app's own PostgreSQL database
    assert body["database"] == {
        "state": "ok",
        "backend": "postgresql" if on_postgres else "sqlite",
        "size_bytes": body["database"]["size_bytes"],
    }
    if on_postgres:
        assert body["database"]["size_bytes"] > 0
    else:
        assert body["database"]["size_bytes"] >= (tmp_path / "data" / "rivetr.db").stat().st_size > 0
    assert {p["name"] for p in body["plugins"]} >= {"runtime-docker", "runtime-podman"}
    assert all(p["status"] in ("ok", "disabled", "failed") for p in body["plugins"])


async def test_cleanup_answers_its_settings(api: ApiClient) -> None:
    status, body = await api.get("/api/system/cleanup")
    assert status == 200, body
    assert body["report"] is None
    assert body["settings"] == api.ctx.config.cleanup.model_dump()
    assert body["settings"]["keep_images"] == 3


async def test_disk_usage_per_owner_without_image_sizes(teams: Teams) -> None:  # noqa: F811
    """The fake runtime has no ``image_usage``: images are counted by name with bytes null; volumes and build
    logs are measured; services have no images or build logs (null). A team member sees only their team's."""
    api = teams.api
    status, body = await api.get("/api/system/disk-usage")
    assert status == 200, body
    assert body["engine"] == "fake" and body["image_sizes"] is False and body["errors"] == []
    a, b = teams.ids["a"], teams.ids["b"]
    apps = {row["id"]: row for row in body["apps"]}
    assert set(apps) >= {a["app"], b["app"]}
    app = apps[a["app"]]
    assert app["volumes"] == {"count": 1, "bytes": 0}  # the fake's volumes are empty
    assert app["build_logs"]["count"] > 0 and app["build_logs"]["bytes"] > 0
    # An image app pulls, it builds nothing: no labelled image of its own.
    assert app["images"] == {"count": 0, "bytes": None}
    assert app["total_bytes"] == app["build_logs"]["bytes"]
    services = {row["id"]: row for row in body["services"]}
    assert services[a["service"]]["images"] is None and services[a["service"]]["build_logs"] is None
    assert {row["id"] for row in body["stacks"]} >= {a["stack"], b["stack"]}
    assert body["total_bytes"] == sum(
        r["total_bytes"] for k in ("apps", "services", "stacks") for r in body[k]
    )

    # A team member sees only their team's (one fixture for both: it builds two teams' worth of resources).
    status, body = await api.get("/api/system/disk-usage", **bearer(teams.tokens["tok-a"]))
    assert status == 200, body
    assert [row["id"] for row in body["apps"]] == [a["app"]]
    assert [row["id"] for row in body["services"]] == [a["service"]]
    assert [row["id"] for row in body["stacks"]] == [a["stack"]]
    assert b["app"] not in str(body)


async def test_disk_usage_counts_built_images_by_app(tmp_path: Any, fake_runtime: FakeRuntime) -> None:
    """Images carrying this instance's and an app's labels count for that app; another instance's do not."""
    async with api_on(fake_runtime, make_config(tmp_path / "data")) as api:
        status, app = await api.post(
            "/api/apps", json={"name": "web", "git_url": "https://git.example.com/a/web.git", "port": 8000}
        )
        assert status == 201, app
        instance = await api.ctx.services.deployments.load_instance_id()
        for tag, owner in (("web:1", instance), ("web:2", instance), ("other:1", "someone-else")):
            labels = {"rivetr.instance": owner, "rivetr.app": app["id"]}
            fake_runtime.images[f"localhost/{tag}"] = FakeImage(id=tag, labels=labels)
        status, body = await api.get("/api/system/disk-usage")
    assert status == 200, body
    [row] = body["apps"]
    assert row["images"] == {"count": 2, "bytes": None}


@pytest.mark.parametrize("path", ["/api/system/status", "/api/system/disk-usage"])
async def test_server_routes_need_a_credential(api: ApiClient, path: str) -> None:
    status, body = await api.get(path, auth=False)
    assert status == 401, body
