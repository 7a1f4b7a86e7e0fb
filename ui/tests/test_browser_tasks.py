"""Scheduled tasks with the real engine (Docker), one deployed busybox app for everything (lean on CI time):

* in Chromium, on the app page's Tasks tab: add a task (a bad cron is refused next to its field), Run now, see
  the run succeed with its exit code and its output (written by the command inside the container) in the run
  history; schedule a deployment on a cron and cancel it; the tab at 390 px without horizontal overflow;
* through the API, in the same container: a run fired by the scheduler (``POST /api/schedules/{id}/run``, the
  scheduler's own claim, as a cron slot runs) records trigger ``schedule``; a failing command records its exit
  code and output and delivers ``task_failed`` to a real loopback JSON receiver; a command past its timeout is
  killed with everything it started (``timed_out``, exit 137, no process left in the container); a one-off
  deployment a few seconds ahead starts a deployment with trigger ``schedule``."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.json_receiver import JsonReceiver
from ui.tests.browser_helpers import screenshot, setup_admin
from ui.tests.test_browser_deploy import engine, engine_server  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DEPLOY_TIMEOUT = 120.0  # s: clone + build + start + health of the busybox app


def _wait(client: Any, path: str, done: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(path).json()
        if done(body):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


def test_tasks_tab_and_runs_in_a_real_container(page: Any, engine_server: Any, git_server: Any) -> None:  # noqa: F811
    server = engine_server
    repo = git_server.create_repo("tasks", message="v1")
    setup_admin(page, server.url, server.token)
    client = server.client(timeout=60)
    app_id = client.post("/api/apps", json={"name": "tasks", "git_url": repo.url, "port": 8000}).json()["id"]
    dep = client.post(f"/api/apps/{app_id}/deploy").json()
    dep = _wait(
        client,
        f"/api/deployments/{dep['id']}",
        lambda d: d["status"] in ("running", "failed"),
        DEPLOY_TIMEOUT,
    )
    assert dep["status"] == "running", dep
    api = f"/api/apps/{app_id}"

    # -- the dashboard ----------------------------------------------------------------------------------------
    page.goto(f"{server.url}/apps/{app_id}/tasks")
    expect(page.locator("#tab-tasks")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#tasks-empty")).to_be_visible()
    page.fill("#task-name", "greet")
    page.fill("#task-schedule", "0 3 * *")
    page.fill(
        "#task-command", "echo hello from $(hostname) > /tmp/greet.txt; cat /tmp/greet.txt; echo done >&2"
    )
    page.click("#task-add [type=submit]")
    expect(page.locator('#task-add [data-error-for="schedule"]')).to_contain_text("Invalid cron expression")
    page.fill("#task-schedule", "0 3 * * *")
    page.click("#task-add [type=submit]")
    row = page.locator('tr[data-task="greet"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("0 3 * * *")
    expect(row.locator("time")).to_have_count(1)  # the next run
    row.get_by_role("button", name="Run now").click()
    expect(row.locator("[data-last-status]")).to_have_attribute(
        "data-last-status", "succeeded", timeout=30_000
    )
    expect(row).to_contain_text("exit 0")
    history = page.locator("details.task-history").first
    history.locator(":scope > summary").click()
    output = history.locator("pre.task-output").first
    expect(output).to_contain_text("hello from")
    expect(output).to_contain_text("done")
    container_host = output.inner_text().split("hello from ")[1].split()[0]
    assert container_host and container_host != "localhost"
    screenshot(page, "app-tasks")

    # A scheduled deployment on a cron, listed with its next run, then cancelled.
    page.select_option("#sched-mode", "cron")
    page.fill("#sched-cron", "0 2 * * *")
    page.check("#sched-no-cache")
    page.click("#sched-deploy-form [type=submit]")
    sched_row = page.locator("#app-tasks tr[id^=sched-]")
    expect(sched_row).to_contain_text("0 2 * * *")
    expect(sched_row.locator("time")).to_have_count(1)
    sched_row.get_by_role("button", name="Cancel").click()
    page.click("#confirm-dialog [data-ok]")
    expect(page.locator("#sched-deploy-empty")).to_be_visible()

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.locator('tr[data-task="greet"]')).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    screenshot(page, "app-tasks-390")

    # -- the scheduler's run, a failure notified, a timeout -----------------------------------------------------
    task = client.get(f"{api}/tasks").json()["items"][0]
    jobs = {j["name"]: j for j in client.get("/api/schedules").json()["items"]}
    job = jobs[f"app-task:{task['id']}"]
    assert client.post(f"/api/schedules/{job['id']}/run").status_code == 202  # through the scheduler's claim
    runs = _wait(
        client,
        f"{api}/tasks/{task['id']}/runs",
        lambda b: b["items"][0]["trigger"] == "schedule" and b["items"][0]["status"] != "running",
    )["items"]
    assert runs[0]["status"] == "succeeded" and "hello from" in runs[0]["output"], runs[0]

    receiver = JsonReceiver()
    try:
        channel = client.post(
            "/api/notification-channels",
            json={"name": "tasks", "url": receiver.url, "events": ["task_failed"]},
        )
        assert channel.status_code == 201, channel.text
        bad = client.post(
            f"{api}/tasks",
            json={"name": "broken", "command": "echo about to fail; exit 7", "schedule": "0 4 * * *"},
        ).json()
        run = client.post(f"{api}/tasks/{bad['id']}/run").json()
        run = _wait(client, f"{api}/tasks/{bad['id']}/runs/{run['id']}", lambda r: r["status"] != "running")
        assert run["status"] == "failed" and run["exit_code"] == 7 and "about to fail" in run["output"], run
        deadline = time.monotonic() + 30
        while not [p for p in receiver.payloads if "broken" in str(p)]:
            assert time.monotonic() < deadline, receiver.payloads
            time.sleep(0.2)
    finally:
        receiver.close()

    slow = client.post(
        f"{api}/tasks",
        json={
            "name": "slow",
            "command": "echo start; sleep 3001 & sleep 3002; echo never",
            "schedule": "0 5 * * *",
            "timeout": 2,
        },
    ).json()
    run = client.post(f"{api}/tasks/{slow['id']}/run").json()
    run = _wait(client, f"{api}/tasks/{slow['id']}/runs/{run['id']}", lambda r: r["status"] != "running")
    assert run["status"] == "timed_out" and run["exit_code"] == 137 and "never" not in run["output"], run
    probe = client.post(
        f"{api}/tasks",
        json={
            "name": "probe",
            "command": "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done",
            "schedule": "0 6 * * *",
        },
    ).json()
    run = client.post(f"{api}/tasks/{probe['id']}/run").json()
    run = _wait(client, f"{api}/tasks/{probe['id']}/runs/{run['id']}", lambda r: r["status"] != "running")
    # The timed-out command left nothing behind (its background sleep neither); the probe's own guard sleeps 300.
    assert "sleep 3001" not in run["output"] and "sleep 3002" not in run["output"], run["output"]

    # -- a one-off deployment a few seconds ahead ------------------------------------------------------------
    at = (datetime.now(UTC) + timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    sd = client.post(f"{api}/scheduled-deployments", json={"at": at})
    assert sd.status_code == 201, sd.text
    sd = _wait(client, f"{api}/scheduled-deployments/{sd.json()['id']}", lambda s: s["status"] != "scheduled")
    assert sd["status"] == "done" and sd["last_deployment_id"], sd
    new = client.get(f"/api/deployments/{sd['last_deployment_id']}").json()
    assert new["trigger"] == "schedule" and new["app_id"] == app_id
    new = _wait(
        client,
        f"/api/deployments/{new['id']}",
        lambda d: d["status"] in ("running", "failed"),
        DEPLOY_TIMEOUT,
    )
    assert new["status"] == "running", new
