"""The Server page in Chromium against a real ``rivetr serve`` on Docker, with one real deployment (an app with a
named volume): the status cards (engine reachable with its version, proxy, database size), the host graphs drawn
from the recorded history and their window switch, the disk usage listing the deployed app with the sizes
``GET /api/system/disk-usage`` measures on the engine (that endpoint's shape with a real engine is checked here
too), Run cleanup now showing the run's report (the flow that was on Settings), the plugins, the Settings page
pointing here, and at 390 px no horizontal overflow."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from rivetr_core.cli.output import human_size
from tests.support.engines import ensure_engine
from ui.tests.browser_helpers import screenshot, setup_admin

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.docker]

DEPLOY_TIMEOUT = 120.0  # s: clone + build + start + health of the busybox app


@pytest.fixture
def docker_server(rivetr_server: Any) -> Iterator[Any]:
    """``rivetr serve`` on dockerd sampling the host every second (graphs get points within the test); the
    apps it made are deleted afterwards (containers, images, volumes)."""
    values = ensure_engine("docker")
    env = {
        "RIVETR_RATE_LIMIT__ENABLED": "false",
        "RIVETR_RUNTIME__RUNTIME_TYPE": "docker",
        "RIVETR_METRICS__SAMPLE_INTERVAL": "1",
    }
    if values.get("DOCKER_SOCKET"):
        env["RIVETR_RUNTIME__DOCKER_SOCKET"] = values["DOCKER_SOCKET"]
    server = rivetr_server(env=env)
    yield server
    if server.proc.poll() is None:
        with server.client(timeout=60) as client:
            for app in client.get("/api/apps").json()["items"]:
                client.delete(f"/api/apps/{app['id']}")  # volumes go with it


def _deploy(client: httpx.Client, app_id: str) -> dict[str, Any]:
    dep = client.post(f"/api/apps/{app_id}/deploy").json()
    deadline = time.monotonic() + DEPLOY_TIMEOUT
    while (dep := client.get(f"/api/deployments/{dep['id']}").json())["status"] != "running":
        assert dep["status"] not in ("failed", "cancelled") and time.monotonic() < deadline, dep
        time.sleep(0.2)
    return dep


def test_server_page(page: Any, docker_server: Any, git_server: Any) -> None:
    server = docker_server
    client = server.client(timeout=60)
    setup_admin(page, server.url, server.token)

    # ------------------------------------------------------------------ status and cleanup before any run
    page.goto(server.url + "/server")
    expect(page.locator("#nav-server")).to_have_attribute("aria-current", "page")
    status = client.get("/api/system/status").json()
    engine = page.locator("[data-component=runtime]")
    expect(engine).to_contain_text("docker")
    expect(engine).to_contain_text(status["runtime"]["version"])
    expect(engine.locator(".badge")).to_have_text("reachable")
    expect(page.locator("[data-component=proxy]")).to_contain_text(
        "off"
    )  # the tests' servers run without one
    expect(page.locator("[data-database-size]")).not_to_have_text("—")
    expect(page.locator("#plugins tr[data-plugin=runtime-docker]")).to_contain_text("ok")
    # No run yet (the server's own first run waits a minute after start).
    assert client.get("/api/system/cleanup").json()["report"] is None
    expect(page.locator("#cleanup-report")).to_contain_text("No cleanup has run since the server started")
    expect(page.locator("#cleanup-settings")).to_contain_text("Images kept per app")

    # ------------------------------------------------------------------ one real deployment with a volume
    repo = git_server.create_repo("diskuse", message="v1")
    created = client.post("/api/apps", json={"name": "diskuse", "git_url": repo.url, "port": 8000})
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]
    volume = client.post(f"/api/apps/{app_id}/volumes", json={"name": "data", "mount_path": "/data"})
    assert volume.status_code == 201, volume.text
    _deploy(client, app_id)

    usage = client.get("/api/system/disk-usage").json()
    assert usage["engine"] == "docker" and usage["image_sizes"] is True and usage["errors"] == [], usage
    [row] = [r for r in usage["apps"] if r["id"] == app_id]
    assert row["name"] == "diskuse"
    assert row["images"]["count"] == 1 and row["images"]["bytes"] > 100_000, row  # busybox and the site
    assert row["volumes"]["count"] == 1 and row["volumes"]["bytes"] is not None, row
    assert row["build_logs"]["count"] > 0 and row["build_logs"]["bytes"] > 0, row
    assert row["total_bytes"] == sum(row[k]["bytes"] for k in ("images", "volumes", "build_logs"))

    # ------------------------------------------------------------------ graphs from the recorded history
    page.reload()
    charts = page.locator("#host-charts")
    expect(charts).to_be_visible()
    expect(charts).to_have_attribute("data-window", "1h")
    # Two 10 s buckets of samples (one a second) make a line and a network rate: read again until they exist.
    page.wait_for_function(
        """() => { document.querySelector('#host-metrics').dispatchEvent(new Event('metrics-refresh'));
                   return +document.querySelector('#host-charts').dataset.points >= 3; }""",
        polling=2000,
        timeout=60_000,
    )
    for chart in ("#host-cpu", "#host-mem", "#host-disk", "#host-net"):
        expect(page.locator(f"{chart} canvas")).to_have_count(1)
    history = client.get("/api/system/metrics?range=1h&points=360").json()["points"]
    assert len(history) >= 3 and history[-1]["net_rx"] >= history[-2]["net_rx"] > 0, history[-2:]
    expect(page.locator("#host-now")).to_contain_text("CPU")
    page.click("#metrics-window [data-window='24h']")
    expect(charts).to_have_attribute("data-window", "24h")
    expect(page.locator("#metrics-window [data-window='24h']")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#metrics-window [data-window='1h']")).to_have_attribute("aria-pressed", "false")
    page.click("#metrics-window [data-window='1h']")
    expect(charts).to_have_attribute("data-window", "1h")

    # ------------------------------------------------------------------ disk usage lists the deployed app
    listed = page.locator(f"#disk-usage-list tr[data-owner='{app_id}']")
    expect(listed).to_contain_text("diskuse")
    expect(listed.locator("[data-images]")).to_contain_text("(1)")
    expect(listed.locator("[data-volumes]")).to_contain_text("(1)")
    shown = int(listed.locator("[data-total-bytes]").get_attribute("data-total-bytes") or 0)
    # Measured again for the page: the volume and the logs may have grown a little meanwhile, never shrunk.
    assert shown >= row["total_bytes"] - row["volumes"]["bytes"], (shown, row)
    assert listed.locator("a").get_attribute("href") == f"/apps/{app_id}"
    screenshot(page, "server")

    # ------------------------------------------------------------------ Run cleanup now shows the report
    page.locator("#cleanup button:has-text('Run cleanup now')").click()
    panel = page.locator("#cleanup-report")
    expect(panel.locator("table[data-cleanup-report]")).to_have_count(1)
    report = client.get("/api/system/cleanup").json()["report"]
    assert report is not None and report["reason"] == "api", "the button did not run a cleanup"
    expect(panel.locator("[data-images-removed]")).to_contain_text(str(len(report["images_removed"])))
    reclaimed = panel.locator("[data-space-reclaimed]").inner_text().replace("\u2014", "-")
    assert reclaimed == human_size(report["space_reclaimed"]), reclaimed
    expect(panel.locator("[data-cleanup-error]")).to_have_count(len(report["errors"]))
    # The running deployment's image is kept: the app still has it.
    expect(page.locator(f"#disk-usage-list tr[data-owner='{app_id}'] [data-images]")).to_contain_text("(1)")

    # ------------------------------------------------------------------ Settings points here
    page.goto(server.url + "/settings#cleanup")
    page.locator("#cleanup a:has-text('Server')").click()
    page.wait_for_url(server.url + "/server#cleanup")
    expect(page.locator("#cleanup-report table[data-cleanup-report]")).to_have_count(
        1
    )  # stored, rendered afresh

    # ------------------------------------------------------------------ 390 px: nothing wider than the screen
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server.url + "/server")
    expect(page.locator("#host-charts")).to_have_attribute("data-window", "1h")
    expect(page.locator(f"#disk-usage-list tr[data-owner='{app_id}']")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide at 390 px"
    screenshot(page, "server-390")
