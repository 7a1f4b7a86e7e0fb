"""Managed services in Chromium against a real ``rivetr serve``: the New menu's catalogue (cards, search,
category filter), the create form (versions of the chosen template, the public-port warning, a bad env line
refused), a Redis service created on Docker (``redis:7`` from the local registry mirror) whose page shows it
ready, gives an SSH tunnel to its reachable address, reveals its password, draws its CPU/memory graphs and
lists it; the app page's Links panel (link, a second default prefix refused with the API's 409, another
prefix, remove); rotating credentials (the confirmation naming the linked app, the result saying it was not
redeployed and why); the live log showing a backup's BGSAVE; Back up now and a restore; Stop, Start and Restart
from the page with the status following and the live log ending with the container; the
Backups page naming the run and scheduling the service's backups; deleting a linked service refused until
forced; the release-phase settings; the New menu closing on Escape or a click elsewhere and the palette
finding a service."""

from __future__ import annotations

import re
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.engines import ensure_engine
from tests.support.server import ServerProcess, start_server
from ui.tests.browser_helpers import ADMIN_PASSWORD, ADMIN_USER, login, screenshot
from ui.tests.conftest import SERVER_ENV

pytestmark = pytest.mark.browser

READY_TIMEOUT = 90_000  # ms: pull from the local mirror (first time) + start + redis-cli ping


@pytest.fixture(scope="module")
def docker_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server on Docker with the admin set up; every service it made is deleted afterwards (volumes too)."""
    values = ensure_engine("docker")
    # Samples every 2 s (not 30): the service page's graphs draw from the recorded history within the test.
    env = {**SERVER_ENV, "RIVETR_RUNTIME__RUNTIME_TYPE": "docker", "RIVETR_METRICS__SAMPLE_INTERVAL": "2"}
    if values.get("DOCKER_SOCKET"):
        env["RIVETR_RUNTIME__DOCKER_SOCKET"] = values["DOCKER_SOCKET"]
    server = start_server(tmp_path_factory.mktemp("browser-services") / "data", env)
    response = httpx.post(
        server.url + "/api/auth/setup",
        json={"username": ADMIN_USER, "password": ADMIN_PASSWORD},
        headers={"Authorization": f"Bearer {server.token}"},
    )
    assert response.status_code == 201, response.text
    yield server
    if server.proc.poll() is None:
        with server.client(timeout=120) as client:
            for service in client.get("/api/services").json()["items"]:
                client.delete(f"/api/services/{service['id']}", params={"force": "true"})
    server.stop()


def _wait(check: Any, what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_release_phase_settings_and_empty_links_panel(shared_server: Any, page: Any) -> None:
    server = shared_server
    client = server.client()
    app = client.post(
        "/api/apps", json={"name": "release-web", "git_url": "git://127.0.0.1:9/x.git", "port": 8000}
    ).json()
    login(page, server.url)
    page.goto(f"{server.url}/apps/{app['id']}/links")
    # No service in the app's project yet: the panel says so and offers to create one.
    expect(page.locator("#app-links")).to_contain_text("No linked services")
    expect(page.locator("#app-links a:has-text('create a database or service')")).to_be_visible()
    page.goto(f"{server.url}/apps/{app['id']}/settings")
    page.fill("#set-release-command", "python manage.py migrate --noinput")
    page.fill("#set-release-timeout", "0")  # out of range: the API's message next to the field
    page.click("#app-settings button[type=submit]")
    expect(page.locator("#app-settings [data-error-for=release_timeout]")).not_to_be_empty()
    page.fill("#set-release-timeout", "120")
    page.fill("#set-post-deploy-command", "echo deployed")
    page.click("#app-settings button[type=submit]")
    stored = _wait(
        lambda: (a := client.get(f"/api/apps/{app['id']}").json())["release_command"] and a,
        "the release command saved",
    )
    assert (stored["release_command"], stored["release_timeout"], stored["post_deploy_command"]) == (
        "python manage.py migrate --noinput",
        120.0,
        "echo deployed",
    )
    # Emptied, the commands are cleared (null), not saved as empty strings.
    page.reload()
    expect(page.locator("#set-release-command")).to_have_value("python manage.py migrate --noinput")
    page.fill("#set-release-command", "")
    page.click("#app-settings button[type=submit]")
    _wait(lambda: client.get(f"/api/apps/{app['id']}").json()["release_command"] is None, "cleared")


def test_catalogue_create_redis_reveal_link_and_delete(
    docker_server: ServerProcess, page: Any, tmp_path: Path
) -> None:
    server = docker_server
    client = server.client(timeout=30)
    name = f"cache-{uuid.uuid4().hex[:6]}"
    login(page, server.url)
    # New → Database / Service: the catalogue as cards.
    page.click("#new-menu summary")
    page.click("#new-menu-service")
    page.wait_for_url(server.url + "/services/new")
    cards = page.locator("#catalogue [data-template]")
    for template in ("postgres", "mysql", "mariadb", "redis"):
        expect(page.locator(f"#catalogue [data-template={template}]")).to_be_visible()
    total = cards.count()
    page.fill("#catalogue-search", "redis")
    expect(page.locator("#catalogue [data-template=postgres]")).to_be_hidden()
    expect(page.locator("#catalogue [data-template=redis]")).to_be_visible()
    page.fill("#catalogue-search", "")
    page.click("#catalogue-categories [data-category=database]")
    visible = page.locator("#catalogue [data-template]:visible")
    expect(visible).not_to_have_count(0)
    assert all(c.get_attribute("data-category") == "database" for c in visible.all())
    assert visible.count() <= total
    screenshot(page, "services-catalogue")
    page.click("#catalogue [data-template=redis]")
    expect(page.locator("#create-panel")).to_be_visible()
    assert page.locator("#svc-version option").first.get_attribute("value") == "7"
    # The public port shows its warning while set.
    warning = page.locator("#svc-public-warning")
    expect(warning).to_be_hidden()
    page.fill("#svc-public-port", "16379")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("every")
    page.fill("#svc-public-port", "")
    expect(warning).to_be_hidden()
    # A line that is not KEY=value is refused before anything is sent.
    page.fill("#svc-name", name)
    page.fill("#svc-env", "NOT A PAIR")
    page.click("#new-service-form button[type=submit]")
    expect(page.locator("#new-service-form [data-error-for=environment]")).to_contain_text("KEY=value")
    assert name not in [s["name"] for s in client.get("/api/services").json()["items"]]
    page.fill("#svc-env", "")
    page.click("#new-service-form button[type=submit]")
    page.wait_for_url(re.compile(r"/services/[0-9a-f]{32}$"))
    service_id = page.url.rsplit("/", 1)[1]
    # The page follows the service until its readiness check passes.
    expect(page.locator("#service-status")).to_have_text("running", timeout=READY_TIMEOUT)
    expect(page.locator("#service-readiness")).to_contain_text("Ready")
    expect(page.locator("#conn-host")).to_have_text(f"{name}:6379")
    # The tunnel names the container's address on its network (the host's sshd cannot resolve the name).
    tunnel = page.locator("#ssh-tunnel").inner_text()
    address = re.fullmatch(r"ssh -N -L 6379:(\d+\.\d+\.\d+\.\d+):6379 you@127\.0\.0\.1", tunnel)
    assert address, tunnel
    with socket.create_connection((address.group(1), 6379), timeout=5):
        pass
    password = page.locator("#conn-password")
    masked = password.inner_text()
    plain = client.get(f"/api/services/{service_id}", params={"reveal": "true"}).json()
    assert masked != plain["credentials"]["password"]
    page.click("#reveal-credentials")
    expect(password).to_have_text(plain["credentials"]["password"])
    expect(page.locator("#conn-url")).to_have_text(plain["connection_url"])
    page.click("#reveal-credentials")
    expect(password).to_have_text(masked)
    page.click("#copy-url")
    expect(page.locator("#toasts")).to_contain_text("Connection URL copied")
    # CPU and memory graphs like an app's, from the service's metrics history (re-read every 10 s).
    expect(page.locator("#charts")).to_be_visible(timeout=30_000)
    expect(page.locator("#metrics-now")).to_contain_text("CPU")
    assert page.locator("#cpu-chart canvas").count() == 1 and page.locator("#mem-chart canvas").count() == 1
    screenshot(page, "service-page")
    # The services list shows it with its status.
    page.click("nav[aria-label=Main] a:has-text('Services')")
    row = page.locator(f"[data-service='{name}']")
    expect(row.locator("[data-service-status]")).to_have_text("running")
    expect(row).to_contain_text("redis")
    # The New menu closes on Escape and on a click elsewhere; the palette (Ctrl K) finds the service.
    open_menu = page.locator("#new-menu[open]")
    page.click("#new-menu summary")
    expect(open_menu).to_have_count(1)
    page.keyboard.press("Escape")
    expect(open_menu).to_have_count(0)
    page.click("#new-menu summary")
    expect(open_menu).to_have_count(1)
    page.click("main h1")
    expect(open_menu).to_have_count(0)
    page.keyboard.press("Control+K")
    page.fill("#palette-input", name)
    expect(page.locator("#palette-list li").first).to_contain_text("service · redis")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/services/{service_id}")
    # The same name again (?type= preselects the card): the API's message next to the field.
    page.goto(f"{server.url}/services/new?type=redis")
    expect(page.locator("#create-which")).to_have_text("Redis")
    page.fill("#svc-name", name)
    page.click("#new-service-form button[type=submit]")
    expect(page.locator("#new-service-form [data-error-for=name]")).to_contain_text("Already taken")

    # Link it from an app's page: the default prefix, the same again refused (409), another prefix.
    app = client.post(
        "/api/apps", json={"name": f"web-{name}", "git_url": "git://127.0.0.1:9/x.git", "port": 8000}
    ).json()
    page.goto(f"{server.url}/apps/{app['id']}/links")
    page.select_option("#link-service", service_id)
    page.click("#link-add button[type=submit]")
    link = page.locator("[data-link=REDIS]")
    expect(link).to_contain_text("REDIS_URL")
    expect(link).to_contain_text(name)
    page.select_option("#link-service", service_id)
    page.click("#link-add button[type=submit]")
    expect(page.locator("#link-add [data-error-for=env_prefix]")).to_contain_text("REDIS")
    page.fill("#link-prefix", "CACHE")
    page.click("#link-add button[type=submit]")
    expect(page.locator("[data-link=CACHE]")).to_contain_text("CACHE_URL")
    page.locator("[data-link=CACHE] button:has-text('Remove')").click()
    page.click("#confirm-dialog [data-ok]")
    expect(page.locator("[data-link=CACHE]")).to_have_count(0)
    links = client.get(f"/api/apps/{app['id']}/links").json()["items"]
    assert [link["env_prefix"] for link in links] == ["REDIS"]

    # Rotating: the confirmation names the linked app to redeploy (unticked: that it cannot connect until
    # redeployed); this one was never deployed, so the result lists it as not redeployed, with why. The revealed
    # password is the new one.
    page.goto(f"{server.url}/services/{service_id}")
    expect(page.locator(f"[data-linked-app='{app['name']}']")).to_contain_text("REDIS_*")
    expect(page.locator("label:has(#rotate-redeploy)")).to_contain_text(app["name"])
    page.uncheck("#rotate-redeploy")
    page.click("#rotate-btn")
    expect(page.locator("#confirm-dialog [data-message]")).to_contain_text("cannot connect until redeployed")
    page.click("#confirm-dialog [data-cancel]")
    page.check("#rotate-redeploy")
    page.click("#rotate-btn")
    expect(page.locator("#confirm-dialog [data-message]")).to_contain_text(f"{app['name']} is redeployed")
    page.click("#confirm-dialog [data-ok]")
    expect(page.locator("#rotate-result")).to_contain_text("Credentials rotated")
    expect(page.locator("#rotate-redeployed")).to_have_count(0)
    expect(page.locator("#rotate-not-redeployed a")).to_have_text(app["name"])
    expect(page.locator("#rotate-not-redeployed")).to_contain_text("no deployed container")
    rotated = client.get(f"/api/services/{service_id}", params={"reveal": "true"}).json()
    assert rotated["credentials"]["password"] != plain["credentials"]["password"]
    # Redis is recreated with its new password; once it is ready, Reveal shows the new one, and a backup to a
    # local destination can run, then be restored.
    _wait(
        lambda: client.get(f"/api/services/{service_id}").json()["status"] == "running",
        "the service ready again",
        timeout=READY_TIMEOUT / 1000,
    )
    destination = client.post(
        "/api/backup-destinations", json={"name": f"disk-{name}", "kind": "local", "path": str(tmp_path)}
    )
    assert destination.status_code == 201, destination.text
    page.reload()
    page.click("#reveal-credentials")
    expect(password).to_have_text(rotated["credentials"]["password"])
    # Rivetr's events for the service (not its output): the image pulled at creation, the rotation.
    log = page.locator("#service-log")
    page.click("#service-log-events")
    expect(page.locator("#service-log-state")).to_have_text("events")
    expect(log).to_contain_text("pulling docker.io/library/redis:7")
    expect(log).to_contain_text("password rotated")
    # The live log follows the container: the backup's BGSAVE shows up in it as Redis writes it.
    page.click("#service-log-toggle")
    expect(page.locator("#service-log-state")).to_have_text("live")
    expect(log).not_to_contain_text("Background saving started")
    page.select_option("#service-backup-dest", destination.json()["id"])
    page.click("#service-backup-now button[type=submit]")
    run = page.locator("#service-backup-runs [data-backup-run][data-status=succeeded]")
    expect(run).to_have_count(1, timeout=60_000)
    expect(log).to_contain_text("Background saving started")
    expect(page.locator("#service-log-state")).to_have_text("live")
    run.locator("[data-restore-service] button[type=submit]").click()
    expect(page.locator("#confirm-dialog [data-message]")).to_contain_text(name)
    page.click("#confirm-dialog [data-ok]")
    expect(page.locator("#toasts")).to_contain_text(f"Restore started into {name}")
    run_id = run.get_attribute("data-backup-run")
    _wait(
        lambda: any(
            r["status"] == "succeeded" for r in client.get(f"/api/backups/{run_id}/restores").json()["items"]
        ),
        "the restore to succeed",
        timeout=60,
    )

    # The Backups page names the service's run and schedules its backups.
    page.click("nav[aria-label=Main] a:has-text('Backups')")
    expect(page.locator(f"#backup-runs [data-backup-run='{run_id}'] a")).to_have_text(name)
    page.select_option("#sched-what", "service")
    expect(page.locator("#sched-app")).to_be_hidden()
    page.select_option("#sched-service", service_id)
    page.select_option("#sched-dest", destination.json()["id"])
    page.click("#backup-schedule-add button[type=submit]")
    expect(page.locator("#backup-schedule-list [data-backup-schedule] a")).to_have_text(name)
    schedules = client.get("/api/backup-schedules").json()["items"]
    assert [(s["what"], s["service_id"]) for s in schedules] == [("service", service_id)]

    # Stop, Start and Restart from the page header: the status badge follows; a followed live log ends when the
    # container stops (restart included).
    page.goto(f"{server.url}/services/{service_id}")
    status = page.locator("#service-status")
    expect(status).to_have_text("running", timeout=READY_TIMEOUT)
    page.click("#service-log-toggle")
    expect(page.locator("#service-log-state")).to_have_text("live")
    page.click("#service-stop")
    page.click("#confirm-dialog [data-ok]")
    expect(status).to_have_text("stopped")
    expect(page.locator("#service-readiness")).to_contain_text("Stopped by you")
    expect(page.locator("#service-stop")).to_have_count(0)
    expect(log).to_contain_text("container output ended")
    assert client.get(f"/api/services/{service_id}").json()["desired_state"] == "stopped"
    page.click("#service-start")
    expect(status).to_have_text("running", timeout=READY_TIMEOUT)
    expect(page.locator("#service-start")).to_have_count(0)
    page.click("#service-log-toggle")  # follows the started container afresh (the log is cleared)
    expect(page.locator("#service-log-state")).to_have_text("live")
    expect(log).not_to_contain_text("container output ended")
    page.click("#service-restart")
    page.click("#confirm-dialog [data-ok]")
    expect(log).to_contain_text("container output ended")
    # The badge may still show the old container's "running" while the new one is "starting" (readiness not
    # passed yet): the API's status first, then the badge that follows it.
    _wait(
        lambda: client.get(f"/api/services/{service_id}").json()["status"] == "running",
        "the restarted service ready",
        timeout=READY_TIMEOUT / 1000,
    )
    expect(status).to_have_text("running", timeout=READY_TIMEOUT)

    # Deleting a linked service: the API's 409 names the app; forced, it goes.
    page.click("#service-delete button[type=submit]")
    page.click("#confirm-dialog [data-ok]")
    error = page.locator("#service-delete [data-form-error]")
    expect(error).to_contain_text(app["name"])
    page.check("#delete-force")
    page.click("#service-delete button[type=submit]")
    page.click("#confirm-dialog [data-ok]")
    page.wait_for_url(server.url + "/services")
    assert client.get(f"/api/services/{service_id}").status_code == 404
