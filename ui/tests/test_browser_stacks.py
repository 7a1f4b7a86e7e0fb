"""Compose stacks in Chromium against a real ``rivetr serve`` on Docker: the New menu's Stack entry, Validate showing
a bad file's problems with line:column (and a good file's services and start order), a 2-service pasted stack
created with a domain row and a variable, deployed from its page (build log followed live), both services shown
running with their internal names, a service's live log panel showing the line its container printed, the stacks
list and the project's Network panel naming the stack services, the settings keeping masked variables on save,
and delete (with its volumes) removing every container."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.engines import ensure_engine
from tests.support.server import ServerProcess, start_server
from ui.tests.browser_helpers import ADMIN_PASSWORD, ADMIN_USER, login, screenshot
from ui.tests.conftest import SERVER_ENV

pytestmark = pytest.mark.browser

BUSYBOX = "localhost/rivetr-test/busybox:latest"
DEPLOY_TIMEOUT = 120_000  # ms
BAD_COMPOSE = "services:\n  web:\n    image: busybox\n    portz: [1]\n"


def compose(token: str) -> str:
    # The trap makes the shell leave on SIGTERM at once (PID 1 ignores it otherwise: a 10 s stop per container).
    loop = "trap 'exit 0' TERM; while true; do sleep 1; done"
    return f"""services:
  web:
    image: {BUSYBOX}
    command: ["sh", "-c", "echo hello-from-web-${{GREETING}}-{token}; mkdir -p /www; httpd -p 8080 -h /www; {loop}"]
    depends_on: [worker]
  worker:
    image: {BUSYBOX}
    command: ["sh", "-c", "echo worker ready; {loop}"]
"""


@pytest.fixture(scope="module")
def docker_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server on Docker with the admin set up; every stack it made is deleted afterwards (volumes too)."""
    values = ensure_engine("docker")
    env = {**SERVER_ENV, "RIVETR_RUNTIME__RUNTIME_TYPE": "docker"}
    if values.get("DOCKER_SOCKET"):
        env["RIVETR_RUNTIME__DOCKER_SOCKET"] = values["DOCKER_SOCKET"]
    server = start_server(tmp_path_factory.mktemp("browser-stacks") / "data", env)
    response = httpx.post(
        server.url + "/api/auth/setup",
        json={"username": ADMIN_USER, "password": ADMIN_PASSWORD},
        headers={"Authorization": f"Bearer {server.token}"},
    )
    assert response.status_code == 201, response.text
    yield server
    if server.proc.poll() is None:
        with server.client(timeout=120) as client:
            for stack in client.get("/api/stacks").json()["items"]:
                client.delete(f"/api/stacks/{stack['id']}", params={"volumes": "true"})
    server.stop()


def _docker_names(stack_id: str) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"label=rivetr.stack={stack_id}", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def test_paste_validate_deploy_logs_settings_and_delete(docker_server: ServerProcess, page: Any) -> None:
    server = docker_server
    client = server.client(timeout=30)
    token = uuid.uuid4().hex[:8]
    name = f"stk-{token[:6]}"
    project = client.post("/api/projects", json={"name": f"proj-{token[:6]}"}).json()
    login(page, server.url)

    # New → Stack (compose).
    page.click("#new-menu summary")
    page.click("#new-menu-stack")
    page.wait_for_url(server.url + "/stacks/new")
    page.fill("#stk-name", name)
    page.select_option("#stk-project", project["id"])

    # A bad file: Validate lists the problem with its line:column and service; nothing is stored.
    page.fill("#stk-compose", BAD_COMPOSE)
    page.click("#stack-validate")
    problems = page.locator("#stack-problems")
    expect(problems).to_be_visible()
    expect(problems).to_contain_text("line 4:5, service web")
    expect(problems).to_contain_text("Unknown key")
    # Create refuses it the same way (the API's 422), next to nothing else.
    page.click("#new-stack-form button[type=submit]")
    expect(problems).to_contain_text("services.web.portz")
    assert page.url == server.url + "/stacks/new"
    assert client.get("/api/stacks").json()["items"] == []

    # A good file, a domain row and a variable: Validate names the services and their start order.
    page.fill("#stk-compose", compose(token))
    page.click("#new-stack-form [data-add-row=domain]")
    page.fill("#new-stack-form [data-rows=domain] [data-domain-domain]", f"{name}.stacks.test")
    page.fill("#new-stack-form [data-rows=domain] [data-domain-service]", "web")
    page.fill("#new-stack-form [data-rows=domain] [data-domain-port]", "8080")
    page.click("#new-stack-form [data-add-row=env]")
    page.fill("#new-stack-form [data-rows=env] [data-env-key]", "GREETING")
    page.fill("#new-stack-form [data-rows=env] [data-env-value]", "salut")
    page.click("#stack-validate")
    expect(problems).to_be_hidden()
    validated = page.locator("#stack-validated")
    expect(validated).to_contain_text("Valid: 2 services (web, worker)")
    expect(validated).to_contain_text("start order worker → web")
    expect(validated).to_contain_text("variables: GREETING")

    page.click("#new-stack-form button[type=submit]")
    page.wait_for_url(lambda url: "/stacks/" in url and not url.endswith("/stacks/new"))
    stack = client.get(f"/api/stacks/{name}").json()
    assert page.url == f"{server.url}/stacks/{stack['id']}"
    assert stack["project_id"] == project["id"] and stack["env"] == {"GREETING": "********"}
    assert stack["domains"] == [{"domain": f"{name}.stacks.test", "service": "web", "port": 8080}]
    expect(page.locator("#stack-status")).to_have_text("created")

    # Deploy: the build log follows the deployment live, the header turns running.
    page.click("#stack-deploy")
    build_log = page.locator("#build-log")
    expect(build_log).to_contain_text("==> ", timeout=DEPLOY_TIMEOUT)
    expect(page.locator("#build-log-state")).to_have_text("running", timeout=DEPLOY_TIMEOUT)
    expect(build_log).to_contain_text("[web] started")
    expect(page.locator("#stack-status")).to_have_text("running", timeout=DEPLOY_TIMEOUT)
    for service in ("web", "worker"):
        row = page.locator(f"#stack-services-table tr[data-service={service}]")
        expect(row.locator("[data-service-status]")).to_have_text("running", timeout=15_000)
        expect(row.locator("[data-internal-names]")).to_have_text(f"{service}, {name}-{service}")
        expect(row.locator("[data-last-action]")).to_have_text("started")
        expect(row.locator(f"[data-service-terminal={service}]")).to_be_visible()
    expect(page.locator("#stack-timeline li[data-status=running]")).to_have_count(1)

    # Logs of web: live over the service logs WebSocket, with what its container printed (the variable too).
    page.click("#stack-services-table [data-service-logs=web]")
    expect(page.locator("#service-log-state")).to_have_text("live")
    expect(page.locator("#service-log")).to_contain_text(f"hello-from-web-salut-{token}")
    expect(page.locator("#service-log-which")).to_have_text("· web")
    screenshot(page, "stack-running")

    # Terminal of the worker service: a real shell in its container.
    page.click("#stack-services-table [data-service-terminal=worker]")
    page.wait_for_url(f"{server.url}/stacks/{stack['id']}/services/worker/terminal")
    expect(page.locator("#term-state")).to_have_text("connected", timeout=15_000)
    page.click("#terminal")
    page.keyboard.type("echo stack-$((40+2)) $HOSTNAME\n")
    deadline = time.monotonic() + 15
    text = ""
    while time.monotonic() < deadline:
        text = page.evaluate(
            """() => { const b = window.rivetrTerminal.term.buffer.active; const out = [];
                       for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true));
                       return out.join('\\n'); }"""
        ).replace("stack-$((40+2))", "")
        if "stack-42" in text:
            break
        time.sleep(0.2)
    assert "stack-42" in text, text
    page.click("a:has-text('Back to the stack')")
    page.wait_for_url(f"{server.url}/stacks/{stack['id']}")

    # The list and the project's Network panel name the stack and its services.
    page.goto(server.url + "/stacks")
    row = page.locator(f"#stacks-table tr[data-stack={name}]")
    expect(row.locator("[data-stack-status]")).to_have_text("running")
    expect(row.locator("[data-stack-services]")).to_have_text("2")
    page.goto(f"{server.url}/projects/{project['id']}")
    member = page.locator(f'#project-network-table tr[data-member="{name}/web"]')
    expect(member).to_contain_text(f"{name}-web")
    expect(page.locator("#project-network-name")).to_have_text(f"rivetr-net-{project['id']}")

    # Settings: a new profile saved without touching the variables keeps their stored value.
    page.goto(f"{server.url}/stacks/{stack['id']}#stack-settings")
    page.fill("#set-profiles", "debug")
    page.click("#stack-settings-form button[type=submit]")
    deadline = time.monotonic() + 10
    while client.get(f"/api/stacks/{stack['id']}").json()["profiles"] != ["debug"]:
        assert time.monotonic() < deadline, "the profile was not saved"
        time.sleep(0.1)
    revealed = client.get(f"/api/stacks/{stack['id']}", params={"reveal": "true"}).json()
    assert revealed["env"] == {"GREETING": "salut"}
    # Reveal fills the masked value for the administrator.
    page.click("#stack-env-reveal")
    expect(page.locator("#stack-settings-form [data-rows=env] [data-env-value]")).to_have_value("salut")

    # A changed file saved and deployed at once, then Rollback brings the first deployment's file back.
    first_dep = revealed["current_deployment_id"]
    page.fill("#set-compose", compose(token).replace("worker ready", "worker v2"))
    page.click("#stack-save-deploy")
    expect(page.locator("#stack-timeline li")).to_have_count(2, timeout=15_000)
    expect(page.locator("#build-log-state")).to_have_text("running", timeout=DEPLOY_TIMEOUT)
    expect(page.locator("#stack-current")).not_to_contain_text(first_dep[:8], timeout=15_000)
    worker = page.locator("#stack-services-table tr[data-service=worker] [data-last-action]")
    expect(worker).to_have_text("recreated", timeout=15_000)
    page.click("#stack-rollback")
    page.click("#confirm-dialog [data-ok]")
    expect(page.locator("#stack-timeline li")).to_have_count(3, timeout=15_000)
    expect(page.locator("#build-log-state")).to_have_text("running", timeout=DEPLOY_TIMEOUT)
    expect(page.locator("#stack-timeline li").first).to_contain_text(f"rollback to {first_dep[:8]}")
    # The worker runs the first file's command again: its live log says so.
    page.click("#stack-services-table [data-service-logs=worker]")
    expect(page.locator("#service-log-which")).to_have_text("· worker")
    expect(page.locator("#service-log")).to_contain_text("worker ready")
    expect(page.locator("#service-log")).not_to_contain_text("worker v2")

    # Delete with its volumes: every container goes, and the list is empty again.
    assert len(_docker_names(stack["id"])) == 2
    page.check("#delete-volumes")
    page.click("#stack-delete button[type=submit]")
    page.click("#confirm-dialog [data-ok]")
    page.wait_for_url(server.url + "/stacks", timeout=60_000)
    expect(page.locator("#stacks-list")).to_contain_text("No stacks yet")
    assert _docker_names(stack["id"]) == []


def test_repository_stack_and_field_errors(shared_server: ServerProcess, page: Any) -> None:
    """A stack from a repository (its file is read at each deploy, so Validate says so); the API's field errors
    land next to their fields; the settings show the repository and its branch; a private repository's token and
    the stack's webhook secret are sent, stored, never shown again, and removable."""
    server = shared_server
    client = server.client()
    name = f"repo-{uuid.uuid4().hex[:6]}"
    login(page, server.url)
    page.goto(server.url + "/stacks/new")
    page.fill("#stk-name", "Not A Name")
    page.check("#new-stack-form input[name=source][value=git]")
    expect(page.locator("#stk-compose")).to_be_hidden()
    page.fill("#stk-repo", "git://127.0.0.1:9/shop.git")
    page.fill("#stk-branch", "release")
    page.fill("#stk-path", "deploy/compose.yaml")
    page.click("#stack-validate")
    expect(page.locator("#stack-validated")).to_contain_text("read and checked at each deployment")
    page.fill("#stk-webhook-secret", "short")
    page.click("#new-stack-form button[type=submit]")
    expect(page.locator("#new-stack-form [data-error-for=name]")).to_contain_text("lower-case")
    expect(page.locator("#new-stack-form [data-error-for=webhook_secret]")).to_contain_text("8-500")
    assert page.url == server.url + "/stacks/new"
    page.fill("#stk-name", name)
    page.fill("#stk-webhook-secret", "browser-hook-secret")
    page.click("#new-stack-form button[type=submit]")
    page.wait_for_url(lambda url: "/stacks/" in url and not url.endswith("/stacks/new"))
    stack = client.get(f"/api/stacks/{name}").json()
    assert (stack["source"], stack["repo_url"], stack["branch"], stack["compose_path"], stack["compose"]) == (
        "git",
        "git://127.0.0.1:9/shop.git",
        "release",
        "deploy/compose.yaml",
        None,
    )
    expect(page.locator("#stack-header")).to_contain_text("git://127.0.0.1:9/shop.git")
    expect(page.locator("#set-repo")).to_have_value("git://127.0.0.1:9/shop.git")
    expect(page.locator("#set-branch")).to_have_value("release")
    assert stack["has_webhook_secret"] and not stack["has_git_token"], stack
    expect(page.locator("#set-webhook-secret")).to_have_value("")  # never sent back to the page
    assert "browser-hook-secret" not in page.content()

    # A private https repository: the token goes with the save, then leaves the page; removing the secret.
    page.fill("#set-repo", "https://git.example.test/acme/shop.git")
    page.fill("#set-git-token", "tok-browser-123")
    page.fill("#set-git-token-user", "oauth2")
    page.click("#stack-settings-form button[type=submit]")
    deadline = time.monotonic() + 10
    while not client.get(f"/api/stacks/{stack['id']}").json()["has_git_token"]:
        assert time.monotonic() < deadline, "the token was not saved"
        time.sleep(0.1)
    expect(page.locator("#set-git-token")).to_have_value("")
    saved = client.get(f"/api/stacks/{stack['id']}", params={"reveal": "true"}).json()
    assert saved["git_token_user"] == "oauth2" and "tok-browser-123" not in str(saved), saved
    page.reload()
    expect(page.locator("#set-git-token")).to_have_attribute("placeholder", "stored, leave empty to keep it")
    page.check("#stack-settings-form [data-clear=webhook_secret]")
    page.click("#stack-settings-form button[type=submit]")
    while client.get(f"/api/stacks/{stack['id']}").json()["has_webhook_secret"]:
        assert time.monotonic() < deadline + 10, "the webhook secret was not removed"
        time.sleep(0.1)
    assert client.get(f"/api/stacks/{stack['id']}").json()["has_git_token"]  # left empty: kept
    client.delete(f"/api/stacks/{stack['id']}")
