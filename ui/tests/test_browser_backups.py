"""Backups in Chromium against a real ``rivetr serve``: the Backups page (a local destination refused with the
server's test-write message, then added, tested and removed; the S3 fields; a schedule added and deleted) and an
app's Backups panel (consistency settings saved; Back up now of a bind mount in a temp dir, the run listed with
its size and checksum; Restore after a confirmation that says the app stops briefly brings the files back)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.server import ServerProcess, start_server
from ui.tests.browser_helpers import ADMIN_PASSWORD, ADMIN_USER, login, screenshot
from ui.tests.conftest import SERVER_ENV

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def backup_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose apps may bind-mount directories under ``<root>/binds`` (cheap volume data: no deployment
    needed to put files in it), the admin set up."""
    root = tmp_path_factory.mktemp("browser-backups")
    (root / "binds").mkdir()
    env = {**SERVER_ENV, "RIVETR_VOLUMES__ALLOWED_BIND_ROOTS": json.dumps([str(root / "binds")])}
    server = start_server(root / "data", env)
    server.root = root  # type: ignore[attr-defined]
    response = httpx.post(
        server.url + "/api/auth/setup",
        json={"username": ADMIN_USER, "password": ADMIN_PASSWORD},
        headers={"Authorization": f"Bearer {server.token}"},
    )
    assert response.status_code == 201, response.text
    yield server
    server.stop()


def _wait(check: Any, what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_destinations_and_schedules_page(backup_server: ServerProcess, page: Any, tmp_path: Path) -> None:
    server = backup_server
    client = server.client()
    app = client.post(
        "/api/apps", json={"name": "sched-web", "git_url": "git://127.0.0.1:9/x.git", "port": 8000}
    ).json()
    login(page, server.url)
    page.click("nav[aria-label=Main] a:has-text('Backups')")
    page.wait_for_url(server.url + "/backups")
    expect(page.locator("nav[aria-label=Main] a[aria-current=page]")).to_have_text("Backups")
    expect(page.locator("#backup-destinations")).to_contain_text("No destinations yet")
    # The S3 fields appear for kind s3, the directory for local.
    page.select_option("#dest-kind", "s3")
    expect(page.locator("#dest-endpoint")).to_be_visible()
    expect(page.locator("#dest-path")).to_be_hidden()
    page.select_option("#dest-kind", "local")
    expect(page.locator("#dest-path")).to_be_visible()
    # A file where the directory should be: the server's test write fails and the form says why.
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    page.fill("#dest-name", "disk")
    page.fill("#dest-path", str(blocker))
    page.click("#destination-add button[type=submit]")
    error = page.locator("#destination-add [data-form-error]")
    expect(error).to_be_visible()
    assert "directory" in error.inner_text().lower()
    assert client.get("/api/backup-destinations").json()["items"] == []
    target = tmp_path / "archives"
    target.mkdir()
    page.fill("#dest-path", str(target))
    page.click("#destination-add button[type=submit]")
    expect(page.locator("#destination-added")).to_contain_text("Test write succeeded: disk added")
    row = page.locator("tr[data-destination=disk]")
    expect(row).to_contain_text(str(target))
    expect(row).to_contain_text("local")
    row.locator("[data-test-destination]").click()
    expect(row.locator("[data-test-result]")).to_contain_text("Test passed: written, read back, deleted")
    # A schedule of the app's volumes to it: listed with its retention and next run, then deleted.
    expect(page.locator("#backup-schedule-add")).to_be_visible()
    page.select_option("#sched-app", app["id"])
    page.fill("#sched-cron", "15 4 * * *")
    page.fill("#sched-keep-last", "3")
    page.fill("#sched-keep-daily", "7")
    page.click("#backup-schedule-add button[type=submit]")
    sched_row = page.locator("tr[data-backup-schedule]")
    expect(sched_row).to_have_count(1)
    expect(sched_row).to_contain_text("sched-web")
    expect(sched_row).to_contain_text("last 3, daily 7")
    assert "04:15 UTC" in sched_row.locator("[data-next-run]").inner_text()
    screenshot(page, "backups-page")
    # A bad cron is refused next to its field.
    page.fill("#sched-cron", "every day")
    page.click("#backup-schedule-add button[type=submit]")
    expect(page.locator("#backup-schedule-add [data-error-for=cron]")).not_to_be_empty()
    # Pause and resume: the schedule's job stops and starts again (no next run while paused).
    sched_id = sched_row.get_attribute("data-backup-schedule")
    sched_row.locator("button:has-text('Pause')").click()
    expect(sched_row).to_contain_text("disabled")
    paused = client.get(f"/api/backup-schedules/{sched_id}").json()
    assert paused["enabled"] is False and paused["next_run_at"] is None, paused
    sched_row.locator("button:has-text('Resume')").click()
    expect(sched_row.locator("button:has-text('Pause')")).to_have_count(1)
    assert client.get(f"/api/backup-schedules/{sched_id}").json()["next_run_at"]
    sched_row.locator("button:has-text('Delete')").click()
    page.click("#confirm-dialog [data-ok]")
    expect(page.locator("tr[data-backup-schedule]")).to_have_count(0)
    assert client.get("/api/backup-schedules").json()["items"] == []
    # Removing the destination asks first; the archive directory stays.
    row.locator("button:has-text('Remove')").click()
    expect(page.locator("#confirm-dialog [data-message]")).to_contain_text("archives already written")
    page.click("#confirm-dialog [data-ok]")
    expect(page.locator("tr[data-destination=disk]")).to_have_count(0)
    assert client.get("/api/backup-destinations").json()["items"] == []
    assert target.is_dir()
    # The command palette knows the page too.
    page.goto(server.url + "/apps")
    page.keyboard.press("Control+k")
    page.wait_for_selector("#palette[open]")
    page.keyboard.type("backu")
    page.keyboard.press("Enter")
    page.wait_for_url(server.url + "/backups")


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_app_backups_panel(backup_server: ServerProcess, page: Any, tmp_path: Path) -> None:
    server = backup_server
    client = server.client()
    data = server.root / "binds" / "site"  # type: ignore[attr-defined]
    (data / "img").mkdir(parents=True)
    (data / "index.html").write_text("<h1>kept</h1>")
    (data / "img" / "logo.bin").write_bytes(bytes(range(256)) * 100)
    before = _tree(data)
    app = client.post(
        "/api/apps", json={"name": "panel-web", "git_url": "git://127.0.0.1:9/x.git", "port": 8000}
    ).json()
    response = client.post(
        f"/api/apps/{app['id']}/volumes",
        json={"name": "site", "mount_path": "/site", "kind": "bind", "host_path": str(data)},
    )
    assert response.status_code == 201, response.text
    (tmp_path / "a").mkdir()
    response = client.post(
        "/api/backup-destinations", json={"name": "panel-disk", "kind": "local", "path": str(tmp_path / "a")}
    )
    assert response.status_code == 201, response.text
    login(page, server.url)
    page.goto(f"{server.url}/apps/{app['id']}/backups")
    panel = page.locator("#app-backups")
    expect(panel.locator("#backup-consistency")).to_be_visible()
    # Consistency: the command field only for "command"; saved through PUT /api/apps/{id}.
    expect(page.locator("#backup-command")).to_be_hidden()
    page.select_option("#backup-mode", "command")
    page.fill("#backup-command", "sync")
    page.click("#backup-consistency button[type=submit]")
    _wait(lambda: client.get(f"/api/apps/{app['id']}").json()["pre_backup_command"] == "sync", "the command")
    assert client.get(f"/api/apps/{app['id']}").json()["backup_consistency"] == "command"
    page.select_option("#backup-mode", "none")
    expect(page.locator("#backup-command")).to_be_hidden()
    page.click("#backup-consistency button[type=submit]")
    _wait(lambda: client.get(f"/api/apps/{app['id']}").json()["backup_consistency"] == "none", "none")
    # Back up now: the run appears, and the list follows it to succeeded with its size and checksum.
    page.select_option("#backup-now-dest", label=f"panel-disk ({tmp_path / 'a'})")
    page.click("#backup-now button[type=submit]")
    run_row = page.locator("#app-backup-runs tr[data-backup-run]")
    expect(run_row).to_have_count(1)
    expect(run_row).to_have_attribute("data-status", "succeeded", timeout=60_000)
    run = client.get(f"/api/apps/{app['id']}/backups").json()["items"][0]
    assert run["status"] == "succeeded" and run["size_bytes"] > 0
    assert run["sha256"][:12] in run_row.inner_text()
    screenshot(page, "app-backups-panel")
    # The data changes; Restore asks first (saying the app stops), then brings the archived files back.
    (data / "index.html").write_text("<h1>changed</h1>")
    (data / "extra.txt").write_text("not in the backup")
    run_row.locator("button:has-text('Restore')").click()
    expect(page.locator("#confirm-dialog [data-message]")).to_contain_text("stops briefly")
    page.click("#confirm-dialog [data-cancel]")
    assert (data / "extra.txt").exists()
    run_row.locator("button:has-text('Restore')").click()
    page.click("#confirm-dialog [data-ok]")
    restores = _wait(
        lambda: [
            r
            for r in client.get(f"/api/backups/{run['id']}/restores").json()["items"]
            if r["status"] != "running"
        ],
        "the restore",
        timeout=60,
    )
    assert restores[0]["status"] == "succeeded", restores[0]
    assert _tree(data) == before
    expect(run_row.locator("[data-last-restore]")).to_contain_text("succeeded")
    # Into another (fresh) app: its panel offers the other apps' backups; the volume is created and filled.
    copy = client.post(
        "/api/apps", json={"name": "panel-copy", "git_url": "git://127.0.0.1:9/x.git", "port": 8000}
    ).json()
    page.goto(f"{server.url}/apps/{copy['id']}/backups")
    form = page.locator("#restore-into")
    expect(form).to_be_visible()
    page.select_option("#restore-into-backup", run["id"])
    form.locator("button[type=submit]").click()
    expect(page.locator("#confirm-dialog [data-message]")).to_contain_text("panel-copy stops briefly")
    page.click("#confirm-dialog [data-ok]")

    def restored_into_copy() -> list[dict[str, Any]]:
        items = client.get(f"/api/backups/{run['id']}/restores").json()["items"]
        return [r for r in items if r["app_id"] == copy["id"] and r["status"] != "running"]

    assert _wait(restored_into_copy, "the restore into the copy", timeout=60)[0]["status"] == "succeeded"
    volumes = client.get(f"/api/apps/{copy['id']}/volumes").json()["items"]
    assert [(v["name"], v["kind"], v["mount_path"]) for v in volumes] == [("site", "volume", "/site")]
    assert volumes[0]["size_bytes"] >= sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
    page.click("#tab-volumes")  # the restored mounts are the app's own now
    expect(page.locator("#volumes [data-volume=site]")).to_be_visible()
    client.delete(f"/api/apps/{copy['id']}")  # its engine volume goes with it
