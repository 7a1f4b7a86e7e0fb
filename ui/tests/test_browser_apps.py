"""Real-browser flows on apps that need no container engine: create an app from a local git server with field
errors shown next to the fields, the environment filter, env vars (multiline, secret masked then revealed,
edited, deleted), projects."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from ui.tests.browser_helpers import login, screenshot

pytestmark = pytest.mark.browser


def wait_app_page(page: Any) -> None:
    """Wait for an app's detail page (``/apps/new`` itself matches ``/apps/*``, hence the predicate)."""
    page.wait_for_url(re.compile(r"/apps/[0-9a-f]{32}$"))


def open_tab(page: Any, tab: str) -> None:
    """Go to a tab of the app page by its tab bar, as a user does (``/apps/<id>/<tab>``)."""
    page.click(f"#tab-{tab}")
    page.wait_for_url(re.compile(rf"/apps/[0-9a-f]{{32}}/{tab}$"))


def create_app_via_form(
    page: Any, url: str, name: str, git_url: str, environment: str = "development"
) -> str:
    page.goto(url + "/apps/new")
    page.fill("#name", name)
    page.fill("#git_url", git_url)
    page.select_option("#environment", environment)
    page.fill("#port", "8000")
    page.click("#new-app-form button[type=submit]")
    wait_app_page(page)
    return page.url.rsplit("/", 1)[1]


def logged_in_app_page(server: Any, page: Any, git_server: Any, name: str) -> tuple[Any, str]:
    """Log in, create app ``name`` from a new repository through the form, stay on its page: (repo, app id)."""
    repo = git_server.create_repo(name)
    login(page, server.url)
    return repo, create_app_via_form(page, server.url, name, repo.url)


def test_create_app_with_field_errors_then_filter(shared_server: Any, page: Any, git_server: Any) -> None:
    server = shared_server
    repo = git_server.create_repo("web")
    url = server.url
    login(page, url)
    page.goto(url + "/apps/new")
    screenshot(page, "app-new")
    # Invalid input: each error appears next to its own field, the page stays, nothing is created.
    page.fill("#name", "Bad Name!")
    page.fill("#git_url", "not a url")
    page.fill("#port", "70000")
    page.click("#new-app-form button[type=submit]")
    page.wait_for_selector("[data-error-for=name]:not(:empty)")
    assert page.inner_text("[data-error-for=name]")
    assert "repository URL" in page.inner_text("[data-error-for=git_url]") or page.inner_text(
        "[data-error-for=port]"
    )
    assert page.get_attribute("#name", "aria-invalid") == "true"
    screenshot(page, "app-new-errors")
    assert page.url == url + "/apps/new"
    client = server.client()
    assert "web" not in [a["name"] for a in client.get("/api/apps").json()["items"]]
    # Each field's own message: fix them one by one.
    page.fill("#name", "web")
    page.fill("#git_url", "not a url")
    page.fill("#port", "8000")
    page.click("#new-app-form button[type=submit]")
    # Waited for, not read at once: the first submission's messages are on the page until this one's answer.
    expect(page.locator("[data-error-for=name]")).to_be_empty()
    expect(page.locator("[data-error-for=git_url]")).not_to_be_empty()
    page.fill("#git_url", repo.url)
    page.fill("#domains", "web.example.test")
    page.select_option("#environment", "production")
    page.click("#new-app-form button[type=submit]")
    wait_app_page(page)
    created = [a for a in client.get("/api/apps").json()["items"] if a["name"] == "web"]
    assert [(a["environment"], a["domains"], a["port"]) for a in created] == [
        ("production", ["web.example.test"], 8000)
    ]
    assert page.inner_text("#app-header h1").startswith("web")
    # A duplicate name is a 409 shown on the name field.
    page.goto(url + "/apps/new")
    page.fill("#name", "web")
    page.fill("#git_url", repo.url)
    page.click("#new-app-form button[type=submit]")
    page.wait_for_selector("[data-error-for=name]:not(:empty)")
    assert "Already" in page.inner_text("[data-error-for=name]")  # 409 from the API, on the field

    create_app_via_form(page, url, "api", repo.url, environment="staging")
    page.goto(url + "/apps")
    names = page.locator("#apps-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.app)")
    assert {"web", "api"} <= set(names)
    page.click(".filters >> text=Production")
    page.wait_for_url(url + "/apps?environment=production")
    expect(page.locator("#apps-table tbody tr")).to_have_count(1)
    assert page.get_attribute("#apps-table tbody tr", "data-app") == "web"
    assert page.get_attribute(".filters >> text=Production", "aria-current") == "page"
    screenshot(page, "apps")
    # At phone width every app is a card holding what the desktop's columns show, and nothing is cut off.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(url + "/apps")
    card = page.locator("#apps-table tbody tr[data-app=web]")
    assert card.evaluate("r => getComputedStyle(r).display") == "block"
    assert "web.example.test" in card.inner_text()
    label = card.locator("td[data-label=Domains]").evaluate("td => getComputedStyle(td, '::before').content")
    assert "Domains" in label  # the column's name, shown before the value on the card
    assert card.evaluate("r => r.getBoundingClientRect().right") <= 390
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "apps-cards-390")
    page.set_viewport_size({"width": 1280, "height": 860})


def test_env_vars_multiline_secret_reveal_edit_delete(shared_server: Any, page: Any, git_server: Any) -> None:
    server = shared_server
    _repo, app_id = logged_in_app_page(server, page, git_server, "envapp")
    open_tab(page, "env")
    page.fill("#env-key", "GREETING")
    page.fill("#env-value", "hello\nworld")
    page.click("#env-add button[type=submit]")
    page.wait_for_selector("[data-env-key=GREETING]")
    assert page.inner_text("[data-env-key=GREETING] .value") == "hello\nworld"
    page.fill("#env-key", "API_KEY")
    page.fill("#env-value", "s3cr3t-value")
    page.check("#env-secret")
    page.click("#env-add button[type=submit]")
    page.wait_for_selector("[data-env-key=API_KEY]")
    row = "[data-env-key=API_KEY]"
    assert page.inner_text(f"{row} .value") == "••••••••"
    assert "s3cr3t-value" not in page.content()  # never in the page until revealed
    page.click(f"{row} button:has-text('Reveal')")
    expect(page.locator(f"{row} .value")).to_have_text("s3cr3t-value")
    screenshot(page, "app-env-revealed")
    page.click(f"{row} button:has-text('Hide')")
    assert page.inner_text(f"{row} .value") == "••••••••"
    # A bad key is refused next to the field.
    page.fill("#env-key", "1BAD")
    page.fill("#env-value", "x")
    page.click("#env-add button[type=submit]")
    page.wait_for_selector("#env-add [data-error-for=key]:not(:empty)")
    # Edit (multiline) through the dialog.
    page.click("[data-env-key=GREETING] button:has-text('Edit')")
    page.wait_for_selector("#env-edit-dialog[open]")
    page.fill("#env-edit-value", "line one\nline two\nline three")
    page.click("#env-edit-form button[type=submit]")
    expect(page.locator("[data-env-key=GREETING] .value")).to_have_text("line one\nline two\nline three")
    stored = server.client().get(f"/api/apps/{app_id}/env-vars", params={"reveal": "true"}).json()["items"]
    assert {v["key"]: v["value"] for v in stored} == {
        "API_KEY": "s3cr3t-value",
        "GREETING": "line one\nline two\nline three",
    }
    page.click("[data-env-key=GREETING] button:has-text('Delete')")
    page.click("#confirm-dialog [data-ok]")
    page.wait_for_selector("[data-env-key=GREETING]", state="detached")
    listed = server.client().get(f"/api/apps/{app_id}/env-vars").json()["items"]
    assert [v["key"] for v in listed] == ["API_KEY"]
    # The app page fits a phone: nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "app-phone")


def test_projects_and_app_delete_with_confirmation(shared_server: Any, page: Any, git_server: Any) -> None:
    server = shared_server
    repo = git_server.create_repo("shopweb")
    url = server.url
    login(page, url)
    page.goto(url + "/projects")
    page.fill("#project-name", "shop")
    page.click("form[data-api='POST /api/projects'] button[type=submit]")
    page.wait_for_selector("a.project-card")
    page.click("a.project-card")
    page.click("text=New app in this project")
    page.fill("#name", "shopweb")
    page.fill("#git_url", repo.url)
    page.click("#new-app-form button[type=submit]")
    wait_app_page(page)

    # The project page: environments of its apps, moving another app in, renaming it.
    client = server.client()
    stray = client.post("/api/apps", json={"name": "stray", "git_url": repo.url, "environment": "staging"})
    assert stray.status_code == 201, stray.text
    project = next(p for p in client.get("/api/projects").json()["items"] if p["name"] == "shop")
    page.goto(f"{url}/projects/{project['id']}")
    assert page.locator("#project-environments [data-environment]").all_inner_texts() == ["development · 1"]
    page.select_option("#move-app", stray.json()["id"])
    page.click("#project-move-app button[type=submit]")
    expect(page.locator("#apps-table tbody tr[data-app=stray]")).to_have_count(1)
    assert client.get(f"/api/apps/{stray.json()['id']}").json()["project_id"] == project["id"]
    envs = page.locator("#project-environments [data-environment]").all_inner_texts()
    assert sorted(envs) == ["development · 1", "staging · 1"]
    page.fill("#project-edit #project-name", "")
    page.click("#project-edit button[type=submit]")
    expect(page.locator("#project-edit [data-error-for=name]")).not_to_be_empty()
    page.fill("#project-edit #project-name", "shop-renamed")
    page.fill("#project-edit #project-description", "the shop's apps")
    page.click("#project-edit button[type=submit]")
    expect(page.locator("h1")).to_have_text("shop-renamed")
    assert client.get(f"/api/projects/{project['id']}").json()["description"] == "the shop's apps"
    assert client.delete(f"/api/apps/{stray.json()['id']}").status_code in (200, 202, 204)

    page.goto(url + "/projects")
    assert page.inner_text("a.project-card .value") == "1"
    screenshot(page, "projects")
    page.click("a.project-card")
    page.click("#apps-table a:has-text('shopweb')")
    wait_app_page(page)
    app_id = page.url.rsplit("/", 1)[1]
    open_tab(page, "settings")

    # Renamed and moved from its own settings: the API's field error first, then the new name and project.
    page.fill("#set-name", "Bad Name")
    page.click("#app-identity button[type=submit]")
    expect(page.locator("#app-identity [data-error-for=name]")).not_to_be_empty()
    page.fill("#set-name", "shopfront")
    other = client.post("/api/projects", json={"name": "attic"}).json()
    page.reload()  # the select lists the projects there are
    page.fill("#set-name", "shopfront")
    page.select_option("#set-project", other["id"])
    page.click("#app-identity button[type=submit]")
    expect(page.locator("#app-header h1")).to_contain_text("shopfront")
    moved = client.get(f"/api/apps/{app_id}").json()
    assert (moved["name"], moved["project_id"]) == ("shopfront", other["id"])

    def exists() -> bool:
        return server.client().get(f"/api/apps/{app_id}").status_code == 200

    # Cancelling the dialog keeps the app; confirming deletes it.
    page.click("#delete-app")
    page.click("#confirm-dialog [data-cancel]")
    assert exists()
    page.click("#delete-app")
    page.click("#confirm-dialog [data-ok]")
    page.wait_for_url(url + "/apps")
    assert not exists()


def test_domains_and_limits_are_edited_with_field_errors(
    shared_server: Any, page: Any, git_server: Any
) -> None:
    server = shared_server
    _repo, app_id = logged_in_app_page(server, page, git_server, "limits")
    open_tab(page, "settings")
    page.fill("#set-domains", "a.example.test, b.example.test")
    page.fill("#set-mem", "1k")
    page.click("#app-settings button[type=submit]")
    expect(page.locator("#app-settings [data-error-for=memory_limit]")).to_contain_text("at least 4m")
    assert server.client().get(f"/api/apps/{app_id}").json()["domains"] == []  # nothing half-applied
    page.fill("#set-mem", "256m")
    page.fill("#set-cpu", "0.5")
    page.click("#app-settings button[type=submit]")
    expect(page.locator("#app-header")).to_contain_text("a.example.test")
    app = server.client().get(f"/api/apps/{app_id}").json()
    assert app["domains"] == ["a.example.test", "b.example.test"]
    assert app["memory_limit"] == 256 * 1024**2 and app["cpu_limit"] == 0.5
    # Clearing the limits sends null (unlimited) rather than an empty string.
    page.fill("#set-mem", "")
    page.fill("#set-cpu", "")
    with page.expect_response(lambda r: r.request.method == "PUT" and f"/api/apps/{app_id}" in r.url) as put:
        page.click("#app-settings button[type=submit]")
    assert put.value.status == 200
    expect(page.locator("#app-settings [data-error-for=memory_limit]")).to_be_empty()
    app = server.client().get(f"/api/apps/{app_id}").json()
    assert app["memory_limit"] is None and app["cpu_limit"] is None
    # The HTTPS options of the domains: redirect on and HSTS off by default, toggled in place.
    expect(page.locator("#set-https-redirect")).to_be_checked()
    expect(page.locator("#set-hsts")).not_to_be_checked()
    page.uncheck("#set-https-redirect")
    page.check("#set-hsts")
    with page.expect_response(lambda r: r.request.method == "PUT" and f"/api/apps/{app_id}" in r.url) as put:
        page.click("#app-settings button[type=submit]")
    assert put.value.status == 200
    app = server.client().get(f"/api/apps/{app_id}").json()
    assert app["https_redirect"] is False and app["hsts"] is True


def test_git_source_and_token_are_edited_in_settings(shared_server: Any, page: Any, git_server: Any) -> None:
    server = shared_server
    repo, app_id = logged_in_app_page(server, page, git_server, "source")
    open_tab(page, "settings")
    expect(page.locator("#set-git-url")).to_have_value(repo.url)
    expect(page.locator("#set-git-token")).to_have_attribute("placeholder", "none (public repository)")
    page.fill("#set-git-url", "ftp://example.test/x.git")
    page.click("#app-settings button[type=submit]")
    expect(page.locator("#app-settings [data-error-for=git_url]")).not_to_be_empty()
    page.fill("#set-git-url", "https://git.example.test/acme/source.git")
    page.fill("#set-git-token", "glpat-rotated-0123")
    page.fill("#set-git-token-user", "oauth2")
    with page.expect_response(lambda r: r.request.method == "PUT" and f"/api/apps/{app_id}" in r.url) as put:
        page.click("#app-settings button[type=submit]")
    assert put.value.status == 200
    app = server.client().get(f"/api/apps/{app_id}").json()
    assert app["git_url"] == "https://git.example.test/acme/source.git"
    assert app["has_git_token"] is True and app["git_token_user"] == "oauth2"
    assert "glpat-rotated-0123" not in page.content()  # write-only: never rendered back
    # Saving again with the token field empty keeps the stored token; clearing the user name sends null.
    page.reload()
    expect(page.locator("#set-git-token")).to_have_attribute("placeholder", "stored, leave empty to keep it")
    page.fill("#set-git-token-user", "")
    with page.expect_response(lambda r: r.request.method == "PUT" and f"/api/apps/{app_id}" in r.url) as put:
        page.click("#app-settings button[type=submit]")
    assert put.value.status == 200
    app = server.client().get(f"/api/apps/{app_id}").json()
    assert app["has_git_token"] is True and app["git_token_user"] is None
