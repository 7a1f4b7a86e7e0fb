"""Every screen issue 21 added, in Chromium at a desktop width (1280 px) and a phone's (390 px), against a real
``rivetr serve`` seeded through the API only (apps created, never deployed: no container engine). Each visit saves
``artifacts/screenshots/<screen>.png`` and ``<screen>-390.png`` and asserts that the phone page does not scroll
sideways (the root's scrollWidth within 390 px) and that the page logged no console error at either width (a
partial that fails with a 5xx is one too)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.certs import acme_row_left_behind
from tests.support.server import ServerProcess, start_server
from ui.tests.browser_helpers import ADMIN_PASSWORD, ADMIN_USER, login, screenshot

pytestmark = pytest.mark.browser

PHONE = 390
DESKTOP = 1280
SECRET = "screens-webhook-secret"
PULL_REQUEST = (
    Path(__file__).resolve().parents[2]
    / "plugins/git-github/tests/fixtures/github_pull_request_fork_opened.json"
)
COMPOSE = "services:\n  web:\n    image: docker.io/library/nginx:1\n  worker:\n    image: docker.io/library/busybox:1\n"


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    """A server with what every screen shows: a project with a description and two tagged apps in it (one with
    a domain, a task and scheduled deployments), a fork's pull request awaiting approval, a notification channel,
    a certificate left by ACME, a managed service (never started: no engine) and a stack. Returns the server and
    the ids the screens' URLs need."""
    import tempfile

    data = Path(tempfile.mkdtemp(prefix="rivetr-screens-")) / "data"
    server = start_server(
        data,
        {
            "RIVETR_RATE_LIMIT__ENABLED": "false",
            "RIVETR_WEBHOOKS__GITHUB_SECRET": SECRET,
            "RIVETR_PROXY__PREVIEW_DOMAIN": "preview.test",
            "RIVETR_SERVER__EXTERNAL_URL": "https://rivetr.example.test",
            # No engine: the managed service's start fails at once and its page shows why, quoting the socket.
            # The name is one long word, as an engine's 64-hex container ids in its errors are: the message
            # must wrap on a phone.
            "RIVETR_RUNTIME__RUNTIME_TYPE": "docker",
            "RIVETR_RUNTIME__DOCKER_SOCKET": f"unix://{data.parent / ('engine-' + 'f00d' * 16 + '.sock')}",
        },
    )
    try:
        made = httpx.post(
            server.url + "/api/auth/setup",
            json={"username": ADMIN_USER, "password": ADMIN_PASSWORD},
            headers={"Authorization": f"Bearer {server.token}"},
        )
        assert made.status_code == 201, made.text
        yield server, _seed(server)
    finally:
        server.stop()
        server.remove_networks()


def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


def _seed(server: ServerProcess) -> dict[str, str]:
    with server.client(timeout=30) as api:
        project = _created(
            api.post(
                "/api/projects",
                json={
                    "name": "storefront",
                    "description": "The shop's web front, its workers and their data",
                },
            )
        )
        web = _created(
            api.post(
                "/api/apps",
                json={
                    "name": "storefront-web",
                    "git_url": "https://github.com/acme/storefront-web-with-a-long-repository-name.git",
                    "port": 8000,
                    "project_id": project["id"],
                    "tags": ["prod", "team:payments", "eu-west.1"],
                    "domains": ["storefront-web.shop.example.test"],
                },
            )
        )
        _created(
            api.post(
                "/api/apps",
                json={
                    "name": "storefront-worker",
                    "git_url": "https://github.com/acme/storefront-worker.git",
                    "port": 8000,
                    "project_id": project["id"],
                    "tags": ["prod", "backend"],
                },
            )
        )
        site = _created(
            api.post(
                "/api/apps",
                json={"name": "site", "git_url": "https://github.com/acme/site.git", "port": 8000},
            )
        )
        _created(
            api.post(
                f"/api/apps/{web['id']}/tasks",
                json={"name": "nightly-cleanup", "command": "rm -rf /tmp/cache/*", "schedule": "0 3 * * *"},
            )
        )
        url = f"/api/apps/{web['id']}/scheduled-deployments"
        soon = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0).isoformat()
        _created(api.post(url, json={"at": soon}))
        _created(api.post(url, json={"schedule": "0 2 * * 1-5", "no_cache": True}))
        _created(
            api.post(
                "/api/notification-channels",
                json={
                    "name": "ops-alerts",
                    "url": "json://127.0.0.1:9/hooks/rivetr",
                    "events": ["deployment_failed", "deployment_succeeded"],
                },
            )
        )
        service = _created(api.post("/api/services", json={"name": "cache", "type": "redis"}))
        stack = _created(api.post("/api/stacks", json={"name": "shop-stack", "compose": COMPOSE}))
        assert (
            api.put(f"/api/apps/{web['id']}", json={"port": "nope"}).status_code == 422
        )  # a refusal audited
        # A deployment (it fails at once without an engine: its row carries the long error) and a backup
        # destination, for the deployments and backups tables.
        assert api.post(f"/api/apps/{site['id']}/deploy").status_code == 202
        (server.data_dir / "bk").mkdir()
        _created(
            api.post(
                "/api/backup-destinations",
                json={"name": "nightly-local-archive", "kind": "local", "path": str(server.data_dir / "bk")},
            )
        )
    raw = PULL_REQUEST.read_bytes()
    hook = httpx.post(
        f"{server.url}/webhooks/github",
        content=raw,
        headers={
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": "screens-1",
            "X-Hub-Signature-256": "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest(),
            "Content-Type": "application/json",
        },
        timeout=30,
    )
    assert hook.json()["status"] == "awaiting_approval", hook.text
    acme_row_left_behind(
        server.data_dir, "shop.example.test", days=40, last_error="urn:ietf:params:acme:error:dns: NXDOMAIN"
    )
    return {
        "project": project["id"],
        "web": web["id"],
        "site": site["id"],
        "service": service["id"],
        "stack": stack["id"],
    }


def _relevant(console_text: str) -> bool:
    if console_text.startswith("Failed to load resource"):
        return "status of 5" in console_text
    return True


#: (screen, URL path with {ids}, a selector that is on the page once its partials have loaded).
SCREENS = [
    ("dashboard", "/", "[data-stat=running]"),
    ("projects", "/projects", "main"),
    ("project", "/projects/{project}", "main"),
    ("apps-tags", "/apps?tag=prod", "main"),
    ("app-auto-deploy", "/apps/{web}/settings", "main"),
    ("app-previews", "/apps/{site}/previews", "#previews tr[data-pr='8']"),
    ("app-schedules", "/apps/{web}/tasks", "main"),
    ("audit", "/audit", "main"),
    ("notifications", "/notifications", "main"),
    ("certificates", "/certificates", "#certificate-table tr[data-domain='shop.example.test']"),
    ("service-page", "/services/{service}", "main"),
    ("stacks", "/stacks", "main"),
    ("stack", "/stacks/{stack}", "main"),
    # The other wide tables (issue 21, 390 px): they scroll inside their own panel, never the page.
    ("apps", "/apps", "main"),
    ("app-deployments", "/apps/{site}/deployments", "main"),
    ("app-backups", "/apps/{web}/backups", "main"),
    ("backups", "/backups", "main"),
    ("server", "/server", "main"),
    ("registries", "/registries", "main"),
    ("users", "/users", "main"),
    ("teams", "/teams", "main"),
    ("settings", "/settings", "main"),
]


@pytest.mark.parametrize(("screen", "path", "ready"), SCREENS, ids=[s[0] for s in SCREENS])
def test_screen_at_desktop_and_phone_width(
    seeded: tuple[ServerProcess, dict[str, str]], page: Any, screen: str, path: str, ready: str
) -> None:
    server, ids = seeded
    errors: list[str] = []
    # As the shared page fixture rules: a 4xx the page expects and shows (the Recent requests panel's 409
    # when this proxy-less server keeps no access log) is not a failure; a 5xx or a script error is.
    page.on(
        "console",
        lambda msg: errors.append(msg.text) if msg.type == "error" and _relevant(msg.text) else None,
    )
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # The console says only "Failed to load resource: 500": keep which request it was.
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 500 else None)
    login(page, server.url)
    url = server.url + path.format(**ids)

    for width in (DESKTOP, PHONE):
        page.set_viewport_size({"width": width, "height": 860 if width == DESKTOP else 844})
        page.goto(url)
        page.wait_for_selector(ready)
        page.wait_for_load_state("networkidle")
        screenshot(page, screen if width == DESKTOP else f"{screen}-{PHONE}")
        assert not errors, f"{screen} at {width} px: console errors {errors}"

    overflow = page.evaluate(
        """() => { const out = [];
          const scrolls = (el) => { for (let p = el.parentElement; p; p = p.parentElement)
            if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(p).overflowX)) return true; return false; };
          for (const el of document.querySelectorAll('body *')) {
            const r = el.getBoundingClientRect();
            if (r.width && r.right > document.documentElement.clientWidth + 1 && !scrolls(el))
              out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + '.' + String(el.className)
                       + ' right=' + Math.round(r.right) + ' ' + (el.textContent || '').slice(0, 40));
          }
          return {width: document.documentElement.scrollWidth, wide: out.slice(-6)}; }"""
    )
    assert overflow["width"] <= PHONE, f"{screen} scrolls sideways at {PHONE} px: {overflow}"
