"""An app's Domain settings form when its repository's rivetr.toml sets a domain's ``route_settings`` (issue 24):
the fields the file sets are disabled with the "managed by rivetr.toml at <commit>" note, the basic auth it
declares stays on with its realm and takes the password of the user it names (a file never holds passwords),
saving sends no declared field (no 409), and the app's other domain stays editable. The API's refusals are tested
in tests/test_managed_route_backup_settings.py; the deployment that applied the file is written into the
database as in test_browser_managed_by_file."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from ui.tests.test_browser_apps import logged_in_app_page, open_tab
from ui.tests.test_browser_managed_by_file import COMMIT, _served_deployment

pytestmark = pytest.mark.browser


def _settings(client: Any, key: str, page: Any, ready: Any) -> dict[str, Any]:
    """The key's settings once ``ready(settings)`` holds (the form saves asynchronously)."""
    settings = client.get(f"/api/routes/settings/{key}").json()
    for _ in range(50):
        if ready(settings):
            break
        page.wait_for_timeout(100)
        settings = client.get(f"/api/routes/settings/{key}").json()
    return dict(settings)


def test_declared_route_fields_are_read_only_and_the_files_users_take_passwords(
    shared_server: Any, page: Any, git_server: Any
) -> None:
    server = shared_server
    _repo, app_id = logged_in_app_page(server, page, git_server, "managedroutes")
    client = server.client()
    web, other = "managedroutes.web.test", "other.managedroutes.web.test"
    response = client.put(f"/api/apps/{app_id}", json={"domains": [web, other]})
    assert response.status_code == 200, response.text
    _served_deployment(
        server,
        app_id,
        {
            "commit": COMMIT,
            "path": "rivetr.toml",
            "file": {
                "route_settings": {
                    web: {"compression": False, "basic_auth": {"realm": "Staff", "users": ["alice"]}}
                }
            },
            "changes": [],
        },
    )
    open_tab(page, "settings")
    entry = page.locator(f"details[data-route-key='{web}']")
    form = entry.locator("form")
    expect(form).to_have_attribute("data-loaded", "")
    entry.locator("summary").click()
    note = form.locator("[data-managed-note]")
    expect(note).to_have_text("managed by rivetr.toml at 1a2b3c4d5e6f")
    expect(note).to_have_attribute("href", f"/apps/{app_id}/deployments")
    expect(form.locator("[name=compression]")).to_be_disabled()
    expect(form.locator("[name=redirect_www]")).to_be_enabled()  # not in the file
    # The declared auth: on, its realm the file's, both fixed; a password for the file's user is what is left.
    expect(form.locator("[data-auth-on]")).to_be_checked()
    expect(form.locator("[data-auth-on]")).to_be_disabled()
    expect(form.locator("[data-auth-realm]")).to_have_value("Staff")
    expect(form.locator("[data-auth-realm]")).to_be_disabled()
    form.locator("[name=redirect_www]").select_option("to-apex")
    form.locator("[data-auth-new-name]").fill("alice")
    form.locator("[data-auth-new-password]").fill("correct horse")
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-route-saved]")).to_have_text("Saved.")
    expect(form.locator("[data-form-error]")).to_be_hidden()
    saved = _settings(client, web, page, lambda s: s["basic_auth"])
    assert saved["basic_auth"] == {"realm": "Staff", "users": ["alice"]}
    assert saved["redirect_www"] == "to-apex" and saved["compression"] is True  # the form sent no compression

    # The app's other domain is not the file's: nothing disabled, its compression saved.
    rest = page.locator(f"details[data-route-key='{other}']")
    rest.locator("summary").click()
    expect(rest.locator("[data-managed-note]")).to_have_count(0)
    rest.locator("[name=compression]").uncheck()
    rest.locator("button[type=submit]").click()
    expect(rest.locator("[data-route-saved]")).to_have_text("Saved.")
    assert _settings(client, other, page, lambda s: s["compression"] is False)["compression"] is False
