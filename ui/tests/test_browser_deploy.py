"""Real-browser flows with the real container engine (Docker): deploy and watch the pipeline steps and the
build log arrive live, follow runtime logs, roll back, and run ``echo`` in the in-browser terminal."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.engines import ensure_engine
from ui.tests.browser_helpers import ADMIN_USER, screenshot, setup_admin

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DEPLOY_TIMEOUT = 120_000  # ms: clone + build + start + health of the busybox app


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", "docker")


@pytest.fixture
def engine_server(rivetr_server: Any, engine: str) -> Iterator[Any]:
    """``rivetr serve`` on the engine; every app it created is deleted afterwards (containers, images)."""
    values = ensure_engine(engine)
    env = {"RIVETR_RATE_LIMIT__ENABLED": "false", "RIVETR_RUNTIME__RUNTIME_TYPE": engine}
    if values.get("DOCKER_SOCKET"):
        env["RIVETR_RUNTIME__DOCKER_SOCKET"] = values["DOCKER_SOCKET"]
    if values.get("PODMAN_SOCKET"):
        env["RIVETR_RUNTIME__PODMAN_SOCKET"] = values["PODMAN_SOCKET"]
    if values.get("CONTAINERS_CONF"):
        env["CONTAINERS_CONF"] = values["CONTAINERS_CONF"]
    server = rivetr_server(env=env)
    yield server
    if server.proc.poll() is None:
        with server.client(timeout=60) as client:
            for app in client.get("/api/apps").json()["items"]:
                client.delete(f"/api/apps/{app['id']}")


def served(server: Any, app_id: str, path: str = "/") -> str:
    """What the app's current container answers on / (straight to its upstream: the proxy is off here)."""
    client = server.client()
    app = client.get(f"/api/apps/{app_id}").json()
    dep = client.get(f"/api/deployments/{app['current_deployment_id']}").json()
    return httpx.get(f"http://{dep['upstream']}{path}", timeout=5).text


def expect_latest_running(page: Any, client: Any, app_id: str) -> None:
    """The deploy panel shows the newest deployment (not the previous one, still running) as running."""
    newest = client.get(f"/api/apps/{app_id}/deployments").json()["items"][0]["id"]
    badge = page.locator(f"#latest-status[data-deployment='{newest}']")
    expect(badge).to_have_text("running", timeout=DEPLOY_TIMEOUT)


def watch_statuses(page: Any) -> None:
    """Record every status the deploy panel shows, to prove the page updated itself while the pipeline ran."""
    page.evaluate(
        """() => {
            window.__seen = [];
            const note = () => { const b = document.getElementById('latest-status');
                                 if (b && window.__seen[window.__seen.length - 1] !== b.textContent)
                                     window.__seen.push(b.textContent); };
            new MutationObserver(note).observe(document.getElementById('deploy-panel'),
                                               {childList: true, subtree: true, characterData: true});
            note();
        }"""
    )


@pytest.mark.parametrize(
    "engine", ["docker", pytest.param("podman", marks=pytest.mark.podman)], indirect=True
)
def test_deploy_live_logs_rollback_and_terminal(
    page: Any, engine: str, engine_server: Any, git_server: Any
) -> None:
    server = engine_server
    repo = git_server.create_repo("live", message="v1")
    setup_admin(page, server.url, server.token)
    client = server.client()
    created = client.post("/api/apps", json={"name": "live", "git_url": repo.url, "port": 8000})
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]

    # The deployments tab: the Deploy button (in the header, on every tab), the steps and the build log.
    page.goto(f"{server.url}/apps/{app_id}/deployments")
    page.evaluate("window.__noReload = true")
    watch_statuses(page)
    started = time.monotonic()
    page.click("#deploy-btn")
    # Steps and the build log arrive without a reload.
    expect(page.locator("#build-log")).to_contain_text("queued by api", timeout=10_000)
    expect(page.locator("#build-log")).to_contain_text("COPY", timeout=DEPLOY_TIMEOUT)
    expect(page.locator("#latest-status")).to_have_text("running", timeout=DEPLOY_TIMEOUT)
    deploy_seconds = time.monotonic() - started
    assert page.evaluate("window.__noReload") is True
    seen = page.evaluate("window.__seen")
    assert seen[-1] == "running"
    assert any(
        s in ("queued", "cloning", "building", "starting", "health checking", "switching") for s in seen
    ), seen
    for step in ("clone", "build", "start", "health", "switch"):
        item = page.locator(f"#steps li[data-step={step}]")
        expect(item).to_have_attribute("data-state", "done")
        assert item.locator(".dur").inner_text().endswith(("ms", "s"))
    expect(page.locator("#build-log-state")).to_have_text("running")
    expect(page.locator("#app-status")).to_have_text("running")
    # The log stream's status events are step headers in the log, above each step's output; nothing else.
    log_text = page.locator("#build-log").inner_text()
    assert "undefined" not in log_text, log_text
    headers = [h.strip() for h in page.locator("#build-log .step").all_inner_texts()]
    assert headers[:4] == ["==> queued", "==> cloning", "==> building", "==> starting"], headers
    assert log_text.index("==> building") < log_text.index("COPY") < log_text.index("==> starting"), log_text
    assert served(server, app_id) == "hello from v1\n"
    first = client.get(f"/api/apps/{app_id}").json()["current_deployment_id"]

    # Runtime logs: the recent lines on opening the tab, then a new request's line arriving live (WebSocket).
    page.click("#tab-logs")
    page.wait_for_url(f"{server.url}/apps/{app_id}/logs")
    expect(page.locator("#runtime-log")).to_contain_text("response:200", timeout=15_000)  # earlier requests
    page.click("#runtime-log-toggle")
    expect(page.locator("#runtime-log-state")).to_have_text("live")
    served(server, app_id, "/missing-page")  # busybox httpd -v logs the status of each request
    expect(page.locator("#runtime-log")).to_contain_text("response:404", timeout=15_000)
    # CPU, memory and network graphs (the overview) draw from live runtime samples once the container runs.
    page.click("#tab-overview")
    page.wait_for_url(f"{server.url}/apps/{app_id}")
    expect(page.locator("#charts")).to_be_visible(timeout=20_000)
    expect(page.locator("#metrics-now")).to_contain_text("CPU")
    assert page.locator("#cpu-chart canvas").count() == 1 and page.locator("#mem-chart canvas").count() == 1
    assert page.locator("#net-chart canvas").count() == 1
    # Network rates come from the engine's byte counters, which the live samples carry.
    live = page.evaluate("async u => (await (await fetch(u)).json()).now", f"/apps/{app_id}/stats.json")
    assert isinstance(live["net_rx"], int) and isinstance(live["net_tx"], int), live
    screenshot(page, "app-running")

    # A second version, deployed from the command palette.
    repo.write("www/index.html", "hello from v2\n")
    repo.commit("v2")
    page.keyboard.press("Control+k")
    page.keyboard.type("deploy live")
    page.wait_for_selector("#palette-list li[aria-selected=true]:has-text('Deploy live')")
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    expect_latest_running(page, client, app_id)
    page.goto(f"{server.url}/apps/{app_id}/deployments")
    expect(page.locator("#deployments li")).to_have_count(2, timeout=10_000)
    expect_latest_running(page, client, app_id)
    assert served(server, app_id) == "hello from v2\n"

    # Roll back to the first deployment from the timeline (confirmation dialog), no rebuild.
    page.click(f"#deployments li[data-deployment='{first}'] button:has-text('Rollback')")
    page.click("#confirm-dialog [data-ok]")
    expect(page.locator("#deployments li")).to_have_count(3, timeout=10_000)
    expect_latest_running(page, client, app_id)
    expect(page.locator("#steps li[data-step=build]")).to_have_count(0)  # rollbacks skip clone and build
    assert served(server, app_id) == "hello from v1\n"
    latest = client.get(f"/api/apps/{app_id}/deployments").json()["items"][0]
    assert latest["rollback_of"] == first and latest["status"] == "running"
    # The timeline says who asked: the signed-in user rolled back.
    rolled = page.locator(f"#deployments li[data-deployment='{latest['id']}'] .started-by")
    expect(rolled).to_have_text(ADMIN_USER)

    # Any deployment's build log can be replayed: the first one's, from the timeline.
    page.click(f"#deployments li[data-deployment='{first}'] button:has-text('Log')")
    expect(page.locator("#build-log")).to_contain_text("COPY www /www")
    expect(page.locator("#build-log-state")).to_have_text("replaced")

    # Terminal: a real shell in the running container.
    page.click("#app-header a:has-text('Terminal')")
    page.wait_for_url(f"{server.url}/apps/{app_id}/terminal")
    expect(page.locator("#term-state")).to_have_text("connected", timeout=15_000)
    page.click("#terminal")
    page.keyboard.type("echo rivetr-$((40+2))\n")
    page.wait_for_timeout(200)
    deadline = time.monotonic() + 15
    text = ""
    while time.monotonic() < deadline:
        text = page.evaluate(
            """() => { const b = window.rivetrTerminal.term.buffer.active; const out = [];
                       for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true));
                       return out.join('\\n'); }"""
        )
        if "rivetr-42" in text.replace("rivetr-$((40+2))", ""):
            break
        time.sleep(0.2)
    assert "rivetr-42" in text.replace("rivetr-$((40+2))", ""), text
    screenshot(page, "terminal")
    # The palette opens the runtime logs of an app, following live.
    page.keyboard.press("Control+k")
    page.keyboard.type("open logs of live")
    page.wait_for_selector("#palette-list li[aria-selected=true]:has-text('Open logs of live')")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/apps/{app_id}/logs")  # the palette's #logs lands on the logs tab
    expect(page.locator("#runtime-log")).to_contain_text("response:", timeout=15_000)
    page.goto(server.url + "/")
    expect(page.locator("[data-stat=running]")).to_have_text("1")
    screenshot(page, "dashboard-with-app")
    print(f"{engine}: first deploy seen running in the browser after {deploy_seconds:.1f}s")


@pytest.mark.docker
def test_failed_deployment_shows_its_reason(page: Any, engine_server: Any, git_server: Any) -> None:
    server = engine_server
    files = {"Dockerfile": ('FROM localhost/rivetr-test/does-not-exist:latest\nCMD ["true"]\n', 0o644)}
    repo = git_server.create_repo("broken", files=files)
    setup_admin(page, server.url, server.token)
    app_id = server.client().post("/api/apps", json={"name": "broken", "git_url": repo.url}).json()["id"]
    page.goto(f"{server.url}/apps/{app_id}/deployments")
    page.click("#deploy-btn")
    expect(page.locator("#latest-status")).to_have_text("failed", timeout=DEPLOY_TIMEOUT)
    reason = page.locator("#deploy-error")
    expect(reason).to_contain_text("does-not-exist")
    expect(page.locator("#steps li[data-step=build]")).to_have_attribute("data-state", "failed")
    expect(page.locator("#steps li[data-step=clone]")).to_have_attribute("data-state", "done")
    expect(page.locator("#build-log-state")).to_have_text("failed")
    expect(page.locator("#timeline .error-reason")).to_contain_text("does-not-exist")
    screenshot(page, "app-failed")
