"""The app settings form with settings a repository's rivetr.toml manages (issue 24): those fields are disabled
with a "managed by rivetr.toml at <commit>" note linking to the deployments, and saving the form sends only the
others (the API would refuse the whole request with 409 managed_by_file otherwise).

The deployment that applied the file is written into the server's database as the pipeline records it
(``deployments.applied_config``; the pipeline's side is tested in tests/test_deploy_repo_config.py and
tests/test_managed_by_file.py), so this test needs no build."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support import at_rest
from ui.tests.test_browser_apps import logged_in_app_page, open_tab

pytestmark = pytest.mark.browser

COMMIT = "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"


def _served_deployment(server: Any, app_id: str, applied: dict[str, Any]) -> str:
    """A deployment of the app that served and applied ``applied`` (status replaced: no container needed)."""
    dep_id = uuid.uuid4().hex
    at_rest.execute(
        server,
        "INSERT INTO deployments (id, app_id, status, trigger, commit_sha, log_tail, steps, applied_config, "
        "no_cache, image_removed, restart_count, created_at) "
        "VALUES (?, ?, 'replaced', 'api', ?, '[]', '{}', ?, false, false, 0, ?)",
        dep_id, app_id, COMMIT, json.dumps(applied), datetime.now(UTC).replace(tzinfo=None),
    )  # fmt: skip
    return dep_id


def test_managed_fields_are_read_only_with_their_note(shared_server: Any, page: Any, git_server: Any) -> None:
    server = shared_server
    _repo, app_id = logged_in_app_page(server, page, git_server, "managedform")
    client = server.client()
    for key in ("LOG_LEVEL", "OTHER"):  # set before the file manages LOG_LEVEL (then the API refuses it)
        response = client.post(f"/api/apps/{app_id}/env-vars", json={"key": key, "value": "x"})
        assert response.status_code == 201, response.text
    for volume in ("uploads", "cache"):
        response = client.post(
            f"/api/apps/{app_id}/volumes", json={"name": volume, "mount_path": f"/app/{volume}"}
        )
        assert response.status_code == 201, response.text
    for task in ("cleanup", "report"):
        response = client.post(
            f"/api/apps/{app_id}/tasks", json={"name": task, "command": "true", "schedule": "0 3 * * *"}
        )
        assert response.status_code == 201, response.text
    _served_deployment(
        server,
        app_id,
        {
            "commit": COMMIT,
            "path": "rivetr.toml",
            "file": {
                "port": 8080,
                "health_check": {"kind": "tcp"},
                "env": {"LOG_LEVEL": "info"},
                "git_settings": {"previews_enabled": False},
                "volumes": [{"name": "uploads", "mount_path": "/app/uploads"}],
                "tasks": [{"name": "cleanup", "command": "true", "schedule": "0 3 * * *"}],
            },
            "changes": ["port 8000 -> 8080"],
        },
    )
    open_tab(page, "settings")
    note = page.locator("#managed-by-file")
    expect(note).to_contain_text("Managed by rivetr.toml at 1a2b3c4d5e6f")
    expect(note).to_contain_text("env (LOG_LEVEL)")
    expect(note.locator("a")).to_have_attribute("href", f"/apps/{app_id}/deployments")
    for managed in ("#set-port", "#set-health-kind", "#set-health"):
        expect(page.locator(managed)).to_be_disabled()
    port_field = page.locator(".field", has=page.locator("#set-port"))
    hint = port_field.locator("[data-managed-note]")
    expect(hint).to_have_text("managed by rivetr.toml at 1a2b3c4d5e6f")
    expect(hint).to_have_attribute("href", f"/apps/{app_id}/deployments")
    # Unmanaged fields stay editable, and saving the form sends only them: no 409.
    expect(page.locator("#set-release-command")).to_be_enabled()
    expect(page.locator("#set-tags")).to_be_enabled()
    page.fill("#set-tags", "managed-test")
    page.click("#app-settings button[type=submit]")
    app = client.get(f"/api/apps/{app_id}").json()
    for _ in range(50):  # the form saves asynchronously
        if app["tags"]:
            break
        page.wait_for_timeout(100)
        app = client.get(f"/api/apps/{app_id}").json()
    assert app["tags"] == ["managed-test"]
    assert app["port"] == 8000  # the file's value is applied by a deployment, never by the form
    expect(page.locator("#app-settings [data-form-error]")).to_be_hidden()
    assert app["managed_by_file"]["keys"] == [
        "env",
        "git_settings",
        "health_check",
        "port",
        "tasks",
        "volumes",
    ]

    # The Auto-deploy form: the file's git settings are disabled, the others saved without them.
    expect(page.locator("#auto-deploy-form [name=previews_enabled]")).to_be_disabled()
    follow = page.locator("#auto-deploy-form [name=follow_tags]")
    expect(follow).to_be_enabled()
    follow.check()
    page.click("#auto-deploy-form [type=submit]")
    settings = client.get(f"/api/apps/{app_id}/git-settings").json()
    for _ in range(50):  # the form saves asynchronously
        if settings["follow_tags"]:
            break
        page.wait_for_timeout(100)
        settings = client.get(f"/api/apps/{app_id}/git-settings").json()
    assert settings["follow_tags"] is True
    expect(page.locator("#auto-deploy-form [data-form-error]")).to_be_hidden()

    # The file's env defaults: their rows say so instead of offering Edit and Delete; the others keep them.
    open_tab(page, "env")
    managed_row = page.locator("[data-env-key=LOG_LEVEL]")
    expect(managed_row.locator("[data-managed-note]")).to_have_text("managed by rivetr.toml at 1a2b3c4d5e6f")
    expect(managed_row.locator("[data-edit-env]")).to_have_count(0)
    expect(managed_row.locator("button.danger")).to_have_count(0)
    other = page.locator("[data-env-key=OTHER]")
    expect(other.locator("[data-edit-env]")).to_have_count(1)
    expect(other.locator("[data-managed-note]")).to_have_count(0)

    # The file's volumes and tasks: the note instead of the buttons that would change them.
    open_tab(page, "volumes")
    uploads = page.locator("tr[data-volume=uploads]")
    expect(uploads.locator("[data-managed-note]")).to_have_text("managed by rivetr.toml at 1a2b3c4d5e6f")
    expect(uploads.locator("button.danger")).to_have_count(0)
    expect(page.locator("tr[data-volume=cache] button.danger")).to_have_count(1)
    open_tab(page, "tasks")
    cleanup = page.locator("tr[data-task=cleanup]")
    expect(cleanup.locator("[data-managed-note]")).to_have_text("managed by rivetr.toml at 1a2b3c4d5e6f")
    expect(cleanup.locator("button.danger")).to_have_count(0)
    expect(cleanup.get_by_role("button", name="Run now")).to_have_count(1)
    expect(page.locator("tr[data-task=report] button.danger")).to_have_count(1)
