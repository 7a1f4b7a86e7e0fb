"""The app page's build controls (issue 19): zero-config overrides and the build context in Settings, the build
plan dialog with its downloadable Dockerfile, build-scoped (and secret) variables, and "Rebuild without cache"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from ui.tests.browser_helpers import login
from ui.tests.test_browser_apps import create_app_via_form, open_tab

pytestmark = pytest.mark.browser

SAMPLE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "apps" / "flask-requirements"


def _until(fetch: Any, check: Any, page: Any) -> Any:
    value = fetch()
    for _ in range(50):  # forms save asynchronously
        if check(value):
            break
        page.wait_for_timeout(100)
        value = fetch()
    return value


def test_build_settings_plan_variables_and_rebuild(shared_server: Any, page: Any, git_server: Any) -> None:
    server = shared_server
    files = {p.name: (p.read_text(), 0o644) for p in SAMPLE.iterdir() if p.is_file()}
    repo = git_server.create_repo("bsettings", files)
    login(page, server.url)
    app_id = create_app_via_form(page, server.url, "bsettings", repo.url)
    open_tab(page, "settings")
    client = server.client()

    # Overrides: saved, then shown in the plan; a bad base image is the field's own error.
    page.fill("#set-base-image", "Not An Image")
    page.click("#app-settings button[type=submit]")
    expect(page.locator("#app-settings [data-error-for=base_image]")).not_to_be_empty()
    page.fill("#set-base-image", "python:3.11-slim")
    page.fill("#set-start-command", "python app.py")
    page.click("#app-settings button[type=submit]")
    expect(page.locator("#app-settings [data-error-for=base_image]")).to_have_text("")
    app = _until(lambda: client.get(f"/api/apps/{app_id}").json(), lambda a: a["start_command"], page)
    assert (app["base_image"], app["start_command"], app["install_command"]) == (
        "python:3.11-slim",
        "python app.py",
        None,
    )

    page.click("#plan-show")
    expect(page.locator("#plan-summary")).to_contain_text("detected python (flask)")
    expect(page.locator("#plan-summary")).to_contain_text("start: python app.py")
    expect(page.locator("#plan-dockerfile")).to_contain_text("FROM python:3.11-slim")
    with page.expect_download() as download:
        page.click("#plan-download")
    saved = download.value.path()
    assert saved and "FROM python:3.11-slim" in Path(saved).read_text()
    page.click("#plan-close")

    # A secret build variable: badge in the list, scope kept in the edit dialog, value masked.
    open_tab(page, "env")
    page.fill("#env-key", "PIP_TOKEN")
    page.fill("#env-value", "tok-browser-secret")
    page.select_option("#env-scope", "build")
    page.check("#env-secret")
    page.click("#env-add button[type=submit]")
    row = page.locator('[data-env-key="PIP_TOKEN"]')
    expect(row).to_contain_text("build only")
    expect(row).not_to_contain_text("tok-browser-secret")
    row.locator("[data-edit-env]").click()
    expect(page.locator("#env-edit-scope")).to_have_value("build")
    page.select_option("#env-edit-scope", "both")
    page.click("#env-edit-form button[type=submit]")
    expect(row).to_contain_text("build + runtime")
    assert client.get(f"/api/apps/{app_id}/env-vars/PIP_TOKEN").json()["scope"] == "both"

    # Rebuild without cache: confirmed, then a deployment that says so.
    page.click("#deploy-no-cache-btn")
    page.click("dialog[open] [data-ok]")
    deployments = _until(
        lambda: client.get(f"/api/apps/{app_id}/deployments").json()["items"], lambda items: items, page
    )
    assert deployments and deployments[0]["no_cache"] is True
    client.post(f"/api/deployments/{deployments[0]['id']}/cancel")
