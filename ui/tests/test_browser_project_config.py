"""Configuration as code on a project's page (issue 24) in Chromium against a real ``rivetr serve``: "Export
project.toml" downloads the file (secrets as names), "Apply configuration" shows the plan of a pasted file as a
diff and changes nothing until Confirm; a bad file names its line. The API and CLI sides: tests/test_iac_api.py,
tests/test_cli_iac.py."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from ui.tests.browser_helpers import screenshot, setup_admin

pytestmark = pytest.mark.browser


def test_export_and_apply_with_a_plan_before_confirming(page: Any, rivetr_server: Any) -> None:
    server = rivetr_server(env={"RIVETR_RATE_LIMIT__ENABLED": "false"}, timeout=90)
    api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"})
    project = api.post("/api/projects", json={"name": "shop"}).json()
    app = api.post(
        "/api/apps",
        json={
            "name": "shop-web",
            "git_url": "git://127.0.0.1:9/web.git",
            "port": 8000,
            "project_id": project["id"],
        },
    ).json()
    secret = {"key": "SESSION_KEY", "value": "never-in-a-file", "is_secret": True}
    assert api.post(f"/api/apps/{app['id']}/env-vars", json=secret).status_code == 201

    setup_admin(page, server.url, server.token)
    page.goto(f"{server.url}/projects/{project['id']}")
    panel = page.locator("#project-config")
    with page.expect_download() as download_info:
        panel.locator("#project-export").click()
    download = download_info.value
    assert download.suggested_filename == "shop.project.toml"
    text = open(download.path(), encoding="utf-8").read()
    assert 'name = "shop-web"' in text and "port = 8000" in text and "SESSION_KEY" in text
    assert "never-in-a-file" not in text

    changed = text.replace("port = 8000", "port = 9000") + '\n[apps.env]\nLOG_LEVEL = "info"\n'
    panel.locator("#project-apply-toml").fill(changed)
    panel.locator("#project-apply-plan").click()
    diff = panel.locator("#project-apply-diff")
    expect(diff.locator("[data-resource='app shop-web']")).to_have_text("~ app shop-web")
    expect(diff).to_contain_text("port: 8000 -> 9000")
    expect(diff).to_contain_text("+ app shop-web: env LOG_LEVEL")
    expect(panel.locator("#project-apply-message")).to_contain_text("plan: 1 to create, 1 to update")
    assert api.get(f"/api/apps/{app['id']}").json()["port"] == 8000  # nothing changes before Confirm
    screenshot(page, "project-config-plan")

    panel.locator("#project-apply-confirm").click()
    expect(panel.locator("#project-apply-message")).to_contain_text("applied: 1 created, 1 updated")
    expect(panel.locator("#project-apply-confirm")).to_be_hidden()
    assert api.get(f"/api/apps/{app['id']}").json()["port"] == 9000
    env = api.get(f"/api/apps/{app['id']}/env-vars").json()["items"]
    assert {e["key"] for e in env} == {"LOG_LEVEL", "SESSION_KEY"}

    panel.locator("#project-apply-toml").fill(changed)  # the same file again: nothing to confirm
    panel.locator("#project-apply-plan").click()
    expect(panel.locator("#project-apply-message")).to_have_text(
        "nothing to change: the server matches the file"
    )
    expect(panel.locator("#project-apply-confirm")).to_be_hidden()

    panel.locator("#project-apply-toml").fill(
        '[project]\nname = "shop"\n\n[[apps]]\nname = "shop-web"\nport = "x"\n'
    )
    panel.locator("#project-apply-plan").click()
    expect(panel.locator("[data-error-for=toml]")).to_contain_text("line 6, column 1: apps[0].port")
    expect(panel.locator("#project-apply-result")).to_be_hidden()
    api.close()
