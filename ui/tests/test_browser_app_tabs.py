"""The app page's tabs in Chromium, on one real deployment (Docker): every tab deep-linked (its own content, the
tab marked selected, the old single-page anchors sent to their tab), the tab bar's arrow keys; runtime logs shown
on open, searched and downloaded; the build log's copy, download and full screen; the bulk .env paste (preview,
then apply); the "changes apply at the next deployment" banner after a variable and a settings change, and its
Redeploy; at 390 px the tab bar scrolls by itself while the page does not."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import expect

from ui.tests.browser_helpers import screenshot, setup_admin
from ui.tests.test_browser_deploy import engine, engine_server, served  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.docker]

DEPLOY_TIMEOUT = 120.0  # s: clone + build + start + health of the busybox app
#: Each tab's URL segment and an element only that tab renders.
TABS = {
    "overview": "#metrics",
    "deployments": "#build-log",
    "logs": "#runtime-log",
    "env": "#env-add",
    "volumes": "#volume-add",
    "links": "#app-links",
    "backups": "#app-backups",
    "previews": "#previews",
    "settings": "#app-settings",
}


def wait_running(client: Any, dep: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + DEPLOY_TIMEOUT
    while (dep := client.get(f"/api/deployments/{dep['id']}").json())["status"] != "running":
        assert dep["status"] not in ("failed", "cancelled") and time.monotonic() < deadline, dep
        time.sleep(0.2)
    return dep


def test_tabs_logs_env_paste_and_pending_banner(page: Any, engine_server: Any, git_server: Any) -> None:  # noqa: F811
    server = engine_server
    repo = git_server.create_repo("tabs", message="v1")
    setup_admin(page, server.url, server.token)
    client = server.client(timeout=60)
    created = client.post("/api/apps", json={"name": "tabs", "git_url": repo.url, "port": 8000})
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]
    first = wait_running(client, client.post(f"/api/apps/{app_id}/deploy").json())
    base = f"{server.url}/apps/{app_id}"

    # ------------------------------------------------------------------ deep links, one tab's content each
    for tab, only_here in TABS.items():
        page.goto(base if tab == "overview" else f"{base}/{tab}")
        expect(page.locator(f"#tab-{tab}")).to_have_attribute("aria-selected", "true")
        expect(page.locator('#app-tabs [aria-selected="true"]')).to_have_count(1)
        expect(page.locator("#app-tabpanel")).to_have_attribute("aria-labelledby", f"tab-{tab}")
        expect(page.locator(only_here)).to_be_attached()
        for other, selector in TABS.items():
            if other != tab:
                expect(page.locator(selector)).to_have_count(0)
    assert page.title().startswith("tabs · Settings")
    # The single-page layout's anchors land on their tab.
    for anchor, tab in (("#config", "settings"), ("#logs", "logs"), ("#backups-panel", "backups")):
        page.goto(base + anchor)
        page.wait_for_url(f"{base}/{tab}")
    # Arrow keys move along the tab bar (focus only; Enter follows the link).
    page.goto(f"{base}/env")
    page.focus("#tab-env")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#tab-volumes")).to_be_focused()
    page.keyboard.press("Home")
    expect(page.locator("#tab-overview")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(base)

    # ------------------------------------------------------------------ runtime logs: on open, searched, downloaded
    served(server, app_id, "/tabs-missing-page")  # busybox httpd -v logs each request's status
    page.goto(f"{base}/logs")
    expect(page.locator("#runtime-log")).to_contain_text("response:404", timeout=15_000)
    expect(page.locator("#runtime-log-state")).to_have_text("loaded")
    page.fill("#log-q", "RESPONSE:404")
    page.select_option("#log-since", "1h")
    page.click("#runtime-log-filter button[type=submit]")
    expect(page.locator("#runtime-log-summary")).to_contain_text("containing “RESPONSE:404” from the last 1h")
    lines = [x for x in page.locator("#runtime-log").inner_text().splitlines() if x.strip()]
    assert lines and all("response:404" in x for x in lines), lines
    expect(page.locator("#runtime-log-download")).to_have_attribute(
        "href", f"/api/apps/{app_id}/logs?q=RESPONSE%3A404&since=1h&tail=500&download=1"
    )
    with page.expect_download() as info:
        page.click("#runtime-log-download")
    download = info.value
    assert download.suggested_filename.startswith("tabs-") and download.suggested_filename.endswith(".log")
    text = open(download.path()).read()
    assert text.splitlines() and all("response:404" in x for x in text.splitlines())
    assert len(text.splitlines()) == len(lines)

    # ------------------------------------------------------------------ the build log: copy, download, full screen
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page.goto(f"{base}/deployments")
    expect(page.locator("#build-log-state")).to_have_text("running", timeout=15_000)
    expect(page.locator("#build-log")).to_contain_text("COPY www /www")
    page.click("[data-log-copy=build-log]")
    expect(page.locator("#toasts")).to_contain_text("Log copied")
    assert "COPY www /www" in page.evaluate("navigator.clipboard.readText()")
    with page.expect_download() as info:
        page.click("#build-log-download")
    assert info.value.suggested_filename == f"tabs-build-{first['id'][:8]}.log"
    assert "COPY www /www" in open(info.value.path()).read()
    page.click("[data-log-full=build-log-panel]")
    panel = page.locator("#build-log-panel")
    expect(panel).to_have_class("panel log-panel full")
    box = panel.bounding_box()
    assert box and abs(box["width"] - page.viewport_size["width"]) < 2 and box["y"] == 0
    page.keyboard.press("Escape")
    expect(panel).to_have_class("panel log-panel")

    # ------------------------------------------------------------------ bulk .env paste: preview, then apply
    assert client.post(f"/api/apps/{app_id}/env-vars", json={"key": "KEEP", "value": "1"}).status_code == 201
    page.goto(f"{base}/env")
    expect(page.locator("#pending-banner")).to_contain_text("Environment variables changed")  # KEEP, just now
    second = client.post(f"/api/apps/{app_id}/deploy")  # applies KEEP: no banner once it is under way
    assert second.status_code == 202, second.text
    page.reload()
    expect(page.locator("#pending-banner")).to_have_count(0)
    expect(page.locator("#env-bulk-apply")).to_be_disabled()
    page.fill(
        "#env-bulk-text",
        "# pasted\nexport KEEP=1\nGREETING='hello there'\nDATABASE_URL=\"postgres://db/app\"\n",
    )
    page.click("#env-bulk-preview-btn")
    expect(page.locator("#env-bulk-added")).to_contain_text("To add (2)")
    expect(page.locator("#env-bulk-added li")).to_have_text(["GREETING", "DATABASE_URL"])
    expect(page.locator("#env-bulk-unchanged li")).to_have_text(["KEEP"])
    assert "GREETING" not in {v["key"] for v in client.get(f"/api/apps/{app_id}/env-vars").json()["items"]}
    page.fill("#env-bulk-text", "GREETING='hello there'\nbroken line\n")  # an edit asks for a new preview
    expect(page.locator("#env-bulk-apply")).to_be_disabled()
    page.click("#env-bulk-preview-btn")
    expect(page.locator("#env-bulk [data-error-for=dotenv]")).to_contain_text("Line 2: expected KEY=VALUE")
    page.fill(
        "#env-bulk-text",
        "# pasted\nexport KEEP=1\nGREETING='hello there'\nDATABASE_URL=\"postgres://db/app\"\n",
    )
    page.select_option("#env-bulk-secret", "true")
    page.click("#env-bulk-preview-btn")
    expect(page.locator("#env-bulk-changed li")).to_have_text(["KEEP"])  # becomes secret
    page.click("#env-bulk-apply")
    expect(page.locator("#toasts")).to_contain_text("3 variables saved")
    expect(page.locator("#env-list [data-env-key=DATABASE_URL]")).to_contain_text("secret")
    stored = {v["key"]: v for v in client.get(f"/api/apps/{app_id}/env-vars?reveal=true").json()["items"]}
    wait_running(client, second.json())
    assert stored["GREETING"]["value"] == "hello there" and all(v["is_secret"] for v in stored.values())

    # ------------------------------------------------------------------ the banner: after a change, until a deploy
    expect(page.locator("#pending-banner")).to_contain_text("Environment variables changed")
    page.click("#tab-settings")
    page.wait_for_url(f"{base}/settings")
    page.fill("#set-log-files", "2")
    page.click("#app-settings button[type=submit]")
    expect(page.locator("#pending-banner")).to_contain_text("Environment variables, settings changed")
    expect(page.locator("#pending-banner")).to_contain_text("apply at the next deployment")
    screenshot(page, "app-tab-settings-pending")
    page.click("#pending-deploy")
    expect(page.locator("#pending-banner")).to_have_count(0)
    latest = client.get(f"/api/apps/{app_id}/deployments").json()["items"][0]
    assert latest["id"] != first["id"]
    wait_running(client, latest)

    # ------------------------------------------------------------------ 390 px: the tab bar scrolls, the page does not
    page.set_viewport_size({"width": 390, "height": 844})
    for tab in ("", "/settings"):
        page.goto(base + tab)
        bar = page.evaluate(
            "() => { const n = document.querySelector('.app-tabs'); return [n.scrollWidth, n.clientWidth]; }"
        )
        assert bar[0] > bar[1], bar  # more tabs than fit: the bar scrolls
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    selected = page.locator("#tab-settings").bounding_box()
    assert selected and 0 <= selected["x"] and selected["x"] + selected["width"] <= 390  # scrolled into view
    screenshot(page, "app-tabs-390")
