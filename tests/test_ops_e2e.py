"""Operations end to end: a real ``rivetr serve`` (real proxy, real engine, real git daemon).

Run once per engine (Docker, Podman). One app goes through a successful deployment and a failed one while
two notification channels listen (one healthy ``json://`` receiver, one pointing at a closed port); then /metrics, the resource history, the audit
log, the CLI (``deploy --follow`` exit codes, ``logs``, ``--json``) and the cleanup (exactly N images kept,
an unreferenced image removed, the running one untouched) are checked against what really happened.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Rivetr, e2e  # noqa: F401  (the fixture)
from tests.support.json_receiver import JsonReceiver as Receiver
from tests.support.proxy import free_port
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.slow]

BAD_DOCKERFILE = "FROM localhost/rivetr-test/busybox:latest\nRUN false\n"


def metric(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


def cli(rivetr: Rivetr, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RIVETR_URL": rivetr.server.url,
        "RIVETR_TOKEN": rivetr.server.token,
        "RIVETR_LOGIN_FILE": str(rivetr.server.data_dir / "no-login.json"),
    }
    return subprocess.run(
        [sys.executable, "-m", "rivetr_core.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    "engine",
    [pytest.param("docker", marks=pytest.mark.docker), pytest.param("podman", marks=pytest.mark.podman)],
)
def test_operations_end_to_end(e2e, git_server, tmp_path: Path, engine: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    receiver = Receiver()
    try:
        _run(e2e, engine, git_server, tmp_path, receiver)
    finally:
        receiver.close()


def _run(start: Callable[..., Rivetr], engine: str, git_server, tmp_path: Path, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    rivetr = start(engine, RIVETR_METRICS__SAMPLE_INTERVAL="1", RIVETR_CLEANUP__KEEP_IMAGES="2")
    api = rivetr.api
    good = api.post("/api/notification-channels", json={"name": "good", "url": receiver.url}).json()
    broken = api.post(
        "/api/notification-channels",
        json={
            "name": "broken",
            "url": f"json://127.0.0.1:{free_port()}/nobody",
            "events": ["deployment_succeeded"],
        },
    ).json()
    repo = git_server.create_repo("opsweb")
    app = rivetr.create_app(repo, "opsweb")

    # ---------------------------------------------------------------- a successful deployment, via the CLI
    proc = cli(rivetr, "deploy", "opsweb", "--follow")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "==> building" in proc.stdout and "==> running" in proc.stdout
    assert "is running" in proc.stdout
    # Each step's header comes before that step's output, from the log stream's status events.
    out = proc.stdout.splitlines()
    first = {
        prefix: next(i for i, line in enumerate(out) if line.startswith(prefix))
        for prefix in ("==> cloning", "    $ git clone", "==> building", "    building localhost/rivetr/")
    }
    assert first["==> cloning"] < first["    $ git clone"] < first["==> building"], proc.stdout
    assert first["==> building"] < first["    building localhost/rivetr/"], proc.stdout
    rivetr.wait_content("opsweb.e2e.test", "hello from v1\n")
    titles = wait_for(
        lambda: (
            {p["title"] for p in receiver.payloads}
            >= {"[Rivetr] opsweb: deployment started", "[Rivetr] opsweb: deployment succeeded"}
            and receiver.payloads
        ),
        what="deployment notifications",
    )
    assert titles
    # The broken channel is still retrying: recorded on its delivery, and it did not hold the deployment up.
    deliveries = wait_for(
        lambda: [
            d
            for d in api.get(f"/api/notification-channels/{broken['id']}/deliveries").json()["items"]
            if d["attempts"] >= 1
        ],
        what="a recorded failed attempt",
    )
    assert deliveries[0]["status"] == "pending" and deliveries[0]["error"]
    assert api.get(f"/api/notification-channels/{good['id']}").json()["failures"] == 0

    # ---------------------------------------------------------------- a failed deployment, --json, exit 1
    repo.write("Dockerfile", BAD_DOCKERFILE)
    repo.commit("break the build")
    proc = cli(rivetr, "deploy", "opsweb", "--follow", "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert events[-1]["type"] == "result" and events[-1]["deployment"]["status"] == "failed"
    assert any(e["type"] == "log" for e in events)
    failed_id = events[-1]["deployment"]["id"]
    wait_for(
        lambda: any(
            p["title"] == "[Rivetr] opsweb: deployment failed" and p["type"] == "failure"
            for p in receiver.payloads
        ),
        what="the failure notification",
    )
    assert rivetr.fetch("opsweb.e2e.test") == (200, "hello from v1\n")  # the old version still serves

    # ---------------------------------------------------------------- /metrics after real deployments
    def scrape() -> str:
        return str(api.get("/metrics").text)

    text = wait_for(
        lambda: (t := scrape()) and metric(t, "container_memory_bytes", app="opsweb") and t,
        timeout=60,
        what=lambda: "sampled container memory; server log:\n" + rivetr.server.log()[-3000:],
    )
    assert metric(text, "deployments_total", status="running") == 1
    assert metric(text, "deployments_total", status="failed") == 1
    assert metric(text, "deployment_duration_seconds_count", step="build") == 2
    assert metric(text, "deployment_duration_seconds_count", step="health") == 1
    assert metric(text, "health_check_total", result="pass") == 1
    assert metric(text, "build_queue_depth") == 0
    assert metric(text, "container_memory_bytes", app="opsweb", app_id=app["id"]) > 0
    assert (
        metric(
            text,
            "http_request_duration_seconds_count",
            method="POST",
            route="/api/apps/<app_id>/deploy",
            status="202",
        )
        == 2
    )
    assert metric(text, "notification_deliveries_total", result="delivered") >= 3

    history = wait_for(
        lambda: api.get(f"/api/apps/{app['id']}/metrics?range=15m").json()["points"],
        what="stored app samples",
    )
    assert history[-1]["memory_used"] > 0 and history[-1]["containers"] == 1
    shown = json.loads(cli(rivetr, "apps", "show", "opsweb", "--json").stdout)
    assert shown["resources"]["memory_used"] > 0 and shown["deployments"][0]["status"] == "failed"

    # ---------------------------------------------------------------- audit
    entries = api.get(f"/api/audit?target={app['id']}").json()["items"]
    assert [(e["method"], e["route"], e["status"], e["actor"]) for e in entries][:2] == [
        ("POST", "/api/apps/<app_id>/deploy", 202, "admin")
    ] * 2
    assert api.get(f"/api/audit?target={failed_id}").json()["items"] == []  # reads are not audited

    # ---------------------------------------------------------------- logs through the CLI
    proc = cli(rivetr, "logs", "opsweb", "--tail", "20", "--json")
    assert proc.returncode == 0, proc.stderr
    assert all("line" in json.loads(line) for line in proc.stdout.splitlines())
    # Searched by the server (a case-insensitive q, a window): a 404 of ours among the health probes' 200s.
    rivetr.fetch("opsweb.e2e.test", "/searched-for")
    found = wait_for(
        lambda: api.get(f"/api/apps/{app['id']}/logs", params={"q": "RESPONSE:404", "since": "10m"}).json(),
        what="the 404 line through ?q=",
    )
    assert all("response:404" in e["line"].lower() for e in found)
    assert api.get(f"/api/apps/{app['id']}/logs", params={"q": "response:404", "until": "1h"}).json() == []
    saved = tmp_path / "opsweb.log"
    proc = cli(rivetr, "logs", "opsweb", "--grep", "response:404", "--since", "10m", "--output", str(saved))
    assert proc.returncode == 0, proc.stderr
    assert saved.read_text().splitlines() and all("response:404" in x for x in saved.read_text().splitlines())
    download = api.get(f"/api/apps/{app['id']}/logs", params={"q": "response:404", "download": "1"})
    assert (
        download.headers["content-type"].startswith("text/plain")
        and "attachment" in download.headers["content-disposition"]
    )
    assert download.text.splitlines() == saved.read_text().splitlines()

    # ---------------------------------------------------------------- cleanup keeps exactly N images
    for version in ("v2", "v3", "v4"):
        repo.write("Dockerfile", _good_dockerfile())
        repo.write("www/index.html", f"hello from {version}\n")
        repo.commit(version)
        rivetr.deploy_and_wait(app["id"])
    rivetr.wait_content("opsweb.e2e.test", "hello from v4\n")
    orphan = f"localhost/rivetr/opsweb:orphan-{free_port()}"
    context = tmp_path / "orphan"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM localhost/rivetr-test/busybox:latest\nLABEL orphan={orphan}\n")
    rivetr.cli(
        "build",
        "-q",
        # Without the cache: podman 4.3's cache lookup can race the image pruning the deploys above just did
        # ("checking if cached image exists…: layer not known"); the orphan needs no cache.
        "--no-cache",
        "-t",
        orphan,
        "--label",
        f"rivetr.instance={rivetr.instance_id()}",
        "--label",
        f"rivetr.app={app['id']}",
        "--label",
        "rivetr.managed=true",
        str(context),
    )
    assert orphan in rivetr.images("opsweb")
    report = api.post("/api/system/cleanup").json()
    assert orphan in report["images_removed"] and not report["errors"], report
    deployments = api.get(f"/api/apps/{app['id']}/deployments").json()["items"]
    running = [d for d in deployments if d["status"] == "running"]
    newest_two = [d["image"] for d in deployments if d["image"] and d["status"] in ("running", "replaced")][
        :2
    ]
    assert sorted(rivetr.images("opsweb")) == sorted(newest_two)
    assert running and running[0]["image"] in newest_two
    assert rivetr.fetch("opsweb.e2e.test") == (200, "hello from v4\n")
    assert api.post("/api/system/cleanup").json()["images_removed"] == []  # a second run removes nothing

    # ---------------------------------------------------------------- rollback and log following via the CLI
    previous = next(d for d in deployments if d["status"] == "replaced" and d["image"] in newest_two)
    proc = cli(rivetr, "rollback", previous["id"], "--follow")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "==> running" in proc.stdout and "==> building" not in proc.stdout  # reused image, no build
    rivetr.wait_content("opsweb.e2e.test", "hello from v3\n")
    follower = subprocess.Popen(
        [sys.executable, "-m", "rivetr_core.cli.main", "logs", "opsweb", "-f", "--tail", "0", "--json"],
        env={**os.environ, "RIVETR_URL": rivetr.server.url, "RIVETR_TOKEN": rivetr.server.token},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.5)  # the stream is open (tail 0: nothing old); now make the container log a request
        rivetr.fetch("opsweb.e2e.test", "/followed-by-the-cli")
        # The proxy's health probes log 200s too: wait for the 404 of our path among the followed lines.
        lines: list[str] = []
        threading.Thread(target=lambda: lines.extend(follower.stdout), daemon=True).start()  # type: ignore[arg-type]
        wait_for(
            lambda: any("response:404" in json.loads(x)["line"] for x in list(lines)),
            timeout=30,
            what=lambda: f"the followed log line of the request; got {lines}",
        )
    finally:
        follower.kill()
        follower.wait()


def _good_dockerfile() -> str:
    from tests.support.gitserver import DOCKERFILE

    return DOCKERFILE
