"""A service page's "Import a backup made elsewhere" in Chromium against a real ``rivetr serve``: an archive in a
real local destination, a wrong sha256 refused next to its field with the API's message, the right one imported
and listed among the service's runs as imported, restorable (no engine needed: the import only reads the
archive; the restore itself is tests/e2e/test_project_move_e2e.py)."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from ui.tests.browser_helpers import login, screenshot

pytestmark = pytest.mark.browser


def test_import_a_backup_made_elsewhere(shared_server: Any, page: Any, tmp_path: Path) -> None:
    name = f"imp-{uuid.uuid4().hex[:6]}"
    key = f"services/{name}-0123456789abcdef/20261207T101500Z-feedface.sql.zst"
    data = b"an archive another server made" * 50
    (tmp_path / key).parent.mkdir(parents=True)
    (tmp_path / key).write_bytes(data)
    with shared_server.client() as client:
        dest = client.post(
            "/api/backup-destinations", json={"name": f"moved-{name}", "kind": "local", "path": str(tmp_path)}
        )
        assert dest.status_code == 201, dest.text
        service = client.post("/api/services", json={"name": name, "type": "postgres"})
        assert service.status_code == 201, service.text
    service_id = service.json()["id"]

    login(page, shared_server.url)
    page.goto(f"{shared_server.url}/services/{service_id}#service-backups-panel")
    page.click("#service-backup-import summary")
    page.select_option("#service-import-dest", dest.json()["id"])
    page.fill("#service-import-key", key)
    page.fill("#service-import-sha", "0" * 64)
    page.click("#service-backup-import-form button[type=submit]")
    expect(page.locator('#service-backup-import-form [data-error-for="sha256"]')).to_contain_text(
        "The archive's sha256 is"
    )

    page.fill("#service-import-sha", hashlib.sha256(data).hexdigest())
    page.click("#service-backup-import-form button[type=submit]")
    run = page.locator("#service-backup-runs [data-backup-run][data-status=succeeded]")
    expect(run).to_have_count(1)
    expect(run.locator("[data-imported]")).to_have_text("imported")
    expect(run.locator("[data-size]")).to_have_attribute("data-size", str(len(data)))
    expect(run.locator("button", has_text="Restore")).to_be_visible()
    screenshot(page, "service-backup-import")
    page.goto("about:blank")  # the page polls the service: leave it before deleting the service
    with shared_server.client() as client:
        listed = client.get(f"/api/services/{service_id}/backups").json()["items"]
        assert [(b["trigger"], b["key"]) for b in listed] == [("import", key)]
        client.delete(f"/api/services/{service_id}", params={"force": "true"})


def test_import_an_app_s_volume_archive(shared_server: Any, page: Any, tmp_path: Path) -> None:
    name = f"impapp-{uuid.uuid4().hex[:6]}"
    key = f"apps/{name}-0123456789abcdef/20261207T101500Z-cafebabe.tar.zst"
    data = b"a volume archive another server made" * 20
    (tmp_path / key).parent.mkdir(parents=True)
    (tmp_path / key).write_bytes(data)
    with shared_server.client() as client:
        dest = client.post(
            "/api/backup-destinations", json={"name": f"moved-{name}", "kind": "local", "path": str(tmp_path)}
        )
        assert dest.status_code == 201, dest.text
        app = client.post(
            "/api/apps", json={"name": name, "git_url": "https://git.example.com/a/b.git"}
        ).json()
        volume = client.post(f"/api/apps/{app['id']}/volumes", json={"name": "data", "mount_path": "/data"})
        assert volume.status_code == 201, volume.text

    login(page, shared_server.url)
    page.goto(f"{shared_server.url}/apps/{app['id']}/backups")
    page.click("#app-backup-import summary")
    page.select_option("#app-import-dest", dest.json()["id"])
    page.fill("#app-import-key", key.replace(".tar.", ".sql."))
    page.click("#app-backup-import-form button[type=submit]")
    expect(page.locator('#app-backup-import-form [data-error-for="key"]')).to_contain_text(
        "Not an app's volume"
    )
    page.fill("#app-import-key", key)
    page.fill("#app-import-sha", hashlib.sha256(data).hexdigest())
    page.click("#app-backup-import-form button[type=submit]")
    expect(page.locator("#app-backup-runs [data-imported]")).to_have_text("imported")
    page.goto("about:blank")
    with shared_server.client() as client:
        listed = client.get(f"/api/apps/{app['id']}/backups").json()["items"]
        assert [(b["trigger"], b["key"]) for b in listed] == [("import", key)]
        client.delete(f"/api/apps/{app['id']}")


def test_import_a_stack_s_volume_archive(shared_server: Any, page: Any, tmp_path: Path) -> None:
    name = f"impstk-{uuid.uuid4().hex[:6]}"
    key = f"stacks/{name}-0123456789abcdef/20261207T101500Z-deadbeef.tar.zst"
    data = b"a stack's volume archive another server made" * 20
    (tmp_path / key).parent.mkdir(parents=True)
    (tmp_path / key).write_bytes(data)
    compose = (
        "services:\n  db:\n    image: postgres:16\n    volumes: [pgdata:/data]\nvolumes:\n  pgdata: {}\n"
    )
    with shared_server.client() as client:
        dest = client.post(
            "/api/backup-destinations", json={"name": f"moved-{name}", "kind": "local", "path": str(tmp_path)}
        )
        assert dest.status_code == 201, dest.text
        stack = client.post("/api/stacks", json={"name": name, "compose": compose})
        assert stack.status_code == 201, stack.text
    stack_id = stack.json()["id"]

    login(page, shared_server.url)
    page.goto(f"{shared_server.url}/stacks/{stack_id}#stack-backups-panel")
    page.click("#stack-backup-import summary")
    page.select_option("#stack-import-dest", dest.json()["id"])
    page.fill("#stack-import-key", key.replace("stacks/", "apps/"))
    page.click("#stack-backup-import-form button[type=submit]")
    expect(page.locator('#stack-backup-import-form [data-error-for="key"]')).to_contain_text(
        "Not a stack's volume"
    )
    page.fill("#stack-import-key", key)
    page.select_option("#stack-import-volumes", ["pgdata"])
    page.fill("#stack-import-sha", hashlib.sha256(data).hexdigest())
    page.click("#stack-backup-import-form button[type=submit]")
    run = page.locator("#stack-backup-runs [data-backup-run][data-status=succeeded]")
    expect(run).to_have_count(1)
    expect(run.locator("[data-imported]")).to_have_text("imported")
    expect(run.locator("button", has_text="Restore")).to_be_visible()
    screenshot(page, "stack-backup-import")
    page.goto("about:blank")
    with shared_server.client() as client:
        listed = client.get(f"/api/stacks/{stack_id}/backups").json()["items"]
        assert [(b["trigger"], b["key"], [v["name"] for v in b["volumes"]]) for b in listed] == [
            ("import", key, ["pgdata"])
        ]
        client.delete(f"/api/stacks/{stack_id}")
