"""Secondary deployment scenarios on Docker (engine-independent logic; the main flow covers Podman too)."""

from __future__ import annotations

import signal
import time

import pytest

from tests.e2e.conftest import ws_messages
from tests.support import at_rest
from tests.support.server import PIPELINE_STATUSES

SLOW_DOCKERFILE = """FROM localhost/rivetr-test/busybox:latest
RUN sleep {seconds}
COPY www /www
CMD ["httpd", "-f", "-v", "-p", "8000", "-h", "/www"]
"""


@pytest.mark.docker
def test_env_vars_reach_the_container_and_secrets_stay_encrypted(e2e, git_server):
    rivetr = e2e("docker")
    repo = git_server.create_repo("envapp")
    app = rivetr.create_app(repo, "envapp", memory_limit="64m", cpu_limit="0.5")
    secret = "e2e-secret-98765"
    for key, value, is_secret in (("API_TOKEN", secret, True), ("MODE", "prod", False)):
        response = rivetr.api.post(
            f"/api/apps/{app['id']}/env-vars", json={"key": key, "value": value, "is_secret": is_secret}
        )
        assert response.status_code == 201, response.text
    dep = rivetr.deploy_and_wait(app["id"])
    status, body = rivetr.fetch("envapp.e2e.test", "/cgi-bin/env")
    assert status == 200, body
    env = dict(line.split("=", 1) for line in body.splitlines() if "=" in line)
    assert env["API_TOKEN"] == secret and env["MODE"] == "prod"
    assert env["PORT"] == "8000" and env["RIVETR_APP_NAME"] == "envapp"
    assert env["RIVETR_DEPLOYMENT_ID"] == dep["id"] and env["SOURCE_COMMIT"] == repo.head()
    limits = rivetr.cli(
        "inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}", dep["container_id"]
    )
    assert limits.split() == [str(64 * 1024**2), str(500_000_000)]
    listed = rivetr.api.get(f"/api/apps/{app['id']}/env-vars").json()["items"]
    assert {v["key"]: v["value"] for v in listed}["API_TOKEN"] == "••••••••"
    rivetr.server.stop()  # checkpoint the WAL, then read every DB byte
    blob = at_rest.stored_bytes(rivetr.server)
    assert secret.encode() not in blob
    log_text = rivetr.server.log()
    assert secret not in log_text


@pytest.mark.docker
def test_published_ports_when_configured(e2e, git_server):
    """[runtime] publish_ports: the app is proxied through a port published on 127.0.0.1 instead of its bridge
    address (the default, which the other scenarios use)."""
    rivetr = e2e("docker", RIVETR_RUNTIME__PUBLISH_PORTS="true")
    repo = git_server.create_repo("published")
    app = rivetr.create_app(repo, "published")
    dep = rivetr.deploy_and_wait(app["id"])
    assert dep["upstream"].startswith("127.0.0.1:"), dep
    rivetr.wait_content("published.e2e.test", "hello from v1\n")
    default = e2e("docker")
    other = default.deploy_and_wait(default.create_app(git_server.create_repo("bridged"), "bridged")["id"])
    assert not other["upstream"].startswith("127."), other  # the container's own address


@pytest.mark.docker
def test_failed_build_keeps_the_old_version(e2e, git_server):
    rivetr = e2e("docker")
    repo = git_server.create_repo("buildfail")
    app = rivetr.create_app(repo, "buildfail")
    good = rivetr.deploy_and_wait(app["id"])
    repo.write("Dockerfile", "FROM localhost/rivetr-test/busybox:latest\nRUN echo about to fail && false\n")
    repo.commit("broken build")
    bad = rivetr.wait(rivetr.deploy(app["id"])["id"])
    assert bad["status"] == "failed" and "build failed" in bad["error"], bad
    assert bad["log_tail"], bad
    rivetr.wait_content("buildfail.e2e.test", "hello from v1\n")
    assert rivetr.containers() == [good["container_id"]]
    assert rivetr.api.get(f"/api/apps/{app['id']}").json()["current_deployment_id"] == good["id"]


@pytest.mark.docker
def test_failed_health_check_keeps_the_old_version(e2e, git_server):
    rivetr = e2e("docker")
    repo = git_server.create_repo("healthfail")
    app = rivetr.create_app(repo, "healthfail", healthcheck_path="/index.html", healthcheck_retries=3)
    good = rivetr.deploy_and_wait(app["id"])
    repo.remove("www/index.html")
    repo.write("www/other.html", "no index any more\n")
    repo.commit("no index: health check gets 404")
    bad = rivetr.wait(rivetr.deploy(app["id"])["id"])
    assert bad["status"] == "failed" and "health check failed" in bad["error"], bad
    assert "404" in bad["error"]
    rivetr.wait_content("healthfail.e2e.test", "hello from v1\n")
    assert rivetr.containers() == [good["container_id"]]  # the unhealthy container was removed
    assert rivetr.images("healthfail") == [good["image"]]

    repo.write(
        "Dockerfile", 'FROM localhost/rivetr-test/busybox:latest\nCMD ["sh", "-c", "echo boom; exit 3"]\n'
    )
    repo.commit("exits at once")
    started = time.monotonic()
    dead = rivetr.wait(rivetr.deploy(app["id"])["id"])
    assert dead["status"] == "failed" and "container exited (code 3)" in dead["error"], dead
    assert any("boom" in line for line in dead["log_tail"]), dead["log_tail"]  # the container's own output
    assert time.monotonic() - started < 30  # no waiting out every retry for a dead container
    assert rivetr.containers() == [good["container_id"]]


@pytest.mark.docker
def test_cancel_supersede_and_concurrency_cap(e2e, git_server):
    rivetr = e2e("docker", RIVETR_RUNTIME__MAX_CONCURRENT_DEPLOYMENTS="1")
    slow = git_server.create_repo("slow")
    slow.write("Dockerfile", SLOW_DOCKERFILE.format(seconds=4))
    slow.commit("slow build")
    other = git_server.create_repo("other")
    slow_app = rivetr.create_app(slow, "slow")
    other_app = rivetr.create_app(other, "other")

    first = rivetr.deploy(slow_app["id"])
    rivetr.wait(first["id"], ("building",), timeout=30)
    capped = rivetr.deploy(other_app["id"])  # global cap 1: waits while "slow" builds
    second = rivetr.deploy(slow_app["id"])
    third = rivetr.deploy(slow_app["id"])  # supersedes second (waiting), not first (building)
    assert rivetr.deployment(second["id"])["status"] == "superseded"
    time.sleep(0.5)
    assert rivetr.deployment(capped["id"])["status"] == "queued"

    response = rivetr.api.post(f"/api/deployments/{first['id']}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled", response.text
    assert rivetr.api.post(f"/api/deployments/{first['id']}/cancel").status_code == 409
    assert rivetr.wait(capped["id"])["status"] == "running"
    third_done = rivetr.wait_drained(rivetr.wait(third["id"], timeout=120))
    assert third_done["status"] == "running", third_done
    assert sorted(rivetr.containers()) == sorted(
        [third_done["container_id"], rivetr.deployment(capped["id"])["container_id"]]
    )


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_kill9_mid_build_then_restart(e2e, git_server, sig):
    rivetr = e2e("docker")
    repo = git_server.create_repo("killme")
    app = rivetr.create_app(repo, "killme")
    good = rivetr.deploy_and_wait(app["id"])
    repo.write("Dockerfile", SLOW_DOCKERFILE.format(seconds=20))
    repo.commit("slow build")
    doomed = rivetr.deploy(app["id"])
    rivetr.wait(doomed["id"], ("building",), timeout=30)
    time.sleep(1)
    stopping = time.monotonic()
    code = rivetr.server.stop(sig, timeout=20)
    if (
        sig == signal.SIGTERM
    ):  # a graceful stop mid-build ends promptly on its own, recording the interruption
        assert code == 0 and time.monotonic() - stopping < 15, (code, rivetr.server.log()[-2000:])
    rivetr.wait_content("killme.e2e.test", "hello from v1\n")  # the proxy outlives the control plane

    again = e2e("docker", data_dir=rivetr.server.data_dir, proxy_port=rivetr.proxy_port)
    after = again.deployment(doomed["id"])
    assert after["status"] == "failed" and "interrupted" in after["error"], after
    again.wait_content("killme.e2e.test", "hello from v1\n")
    assert again.api.get(f"/api/apps/{app['id']}").json()["current_deployment_id"] == good["id"]
    deadline = time.monotonic() + 20
    while again.containers() != [good["container_id"]] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert again.containers() == [good["container_id"]]  # no orphan left by the killed build
    assert not (again.server.data_dir / "builds" / doomed["id"]).exists()


@pytest.mark.parametrize(
    "engine",
    [pytest.param("docker", marks=pytest.mark.docker), pytest.param("podman", marks=pytest.mark.podman)],
)
def test_crashed_container_is_restarted(e2e, git_server, engine):
    """Engine-specific enough to run on both: exit detection goes through each engine's status words."""
    rivetr = e2e(engine)
    repo = git_server.create_repo("crashy")
    app = rivetr.create_app(repo, "crashy")
    dep = rivetr.deploy_and_wait(app["id"])
    rivetr.cli("kill", dep["container_id"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = rivetr.deployment(dep["id"])
        if now["restart_count"] >= 1 and now["container_id"] != dep["container_id"]:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"container not restarted: {now}")
    assert now["status"] == "running"
    rivetr.wait_content("crashy.e2e.test", "hello from v1\n")
    assert rivetr.containers(running_only=True) == [now["container_id"]]


@pytest.mark.docker
def test_build_and_runtime_log_streams(e2e, git_server):
    rivetr = e2e("docker")
    repo = git_server.create_repo("logs")
    app = rivetr.create_app(repo, "logs")
    dep = rivetr.deploy(app["id"])
    ws_url = rivetr.server.url.replace("http://", "ws://")
    messages = ws_messages(
        f"{ws_url}/api/deployments/{dep['id']}/logs/stream",
        rivetr.server.token,
        until=lambda m: m.get("event") == "end",
    )
    assert messages[-1]["event"] == "end" and messages[-1]["status"] == "running", messages[-5:]
    stored = [x["line"] for x in rivetr.api.get(f"/api/deployments/{dep['id']}/logs").json()]
    assert [m["line"] for m in messages if "line" in m] == stored
    assert any("Step" in line or "STEP" in line for line in stored)
    statuses = [m["status"] for m in messages if m.get("event") == "status"]
    # Joined while the pipeline runs (a fresh build takes seconds): the replay has every status change too.
    assert statuses == PIPELINE_STATUSES, statuses

    runtime_lines = ws_messages(
        f"{ws_url}/api/apps/{app['id']}/logs/stream",
        rivetr.server.token,
        until=lambda m: "response:404" in m.get("line", ""),
        on_open=lambda: (time.sleep(0.5), rivetr.fetch("logs.e2e.test", "/marker-path")),
        timeout=20,
    )
    # busybox httpd -v logs the status, not the path: a 404 is our marker (the proxy's probes get 200s)
    assert any("response:404" in m.get("line", "") for m in runtime_lines), runtime_lines[-5:]


@pytest.mark.docker
def test_private_repository_over_ssh_with_a_deploy_key(e2e, git_server, ssh_git_server):
    rivetr = e2e("docker")
    repo = git_server.create_repo("sshapp")
    repo.write("www/index.html", "cloned over ssh\n")
    repo.commit("ssh content")
    response = rivetr.api.post(
        "/api/ssh-keys", json={"name": "deploy", "private_key": ssh_git_server.private_key}
    )
    assert response.status_code == 201, response.text
    key = response.json()
    assert "PRIVATE" not in response.text
    app = rivetr.create_app(repo, "sshapp", git_url=ssh_git_server.url(repo), ssh_key_id=key["id"])
    dep = rivetr.deploy_and_wait(app["id"])
    assert dep["commit_sha"] == repo.head()
    rivetr.wait_content("sshapp.e2e.test", "cloned over ssh\n")
    rivetr.server.stop()
    blob = at_rest.stored_bytes(rivetr.server)
    assert ssh_git_server.private_key.splitlines()[1].encode() not in blob
    assert ssh_git_server.private_key.splitlines()[1] not in rivetr.server.log()


@pytest.mark.docker
def test_delete_while_the_crash_watcher_restarts_leaves_nothing(e2e, git_server):
    """A crashed container is being restarted (fast watcher) while the app is deleted: no container nor route
    of the app survives, now or many watcher rounds later. (The exact interleaving is forced in-process by
    tests/test_deploy_pipeline.py::test_crash_restart_never_outlives_a_deleted_app; this runs it on Docker.)"""
    rivetr = e2e(
        "docker",
        RIVETR_RUNTIME__CRASH_CHECK_INTERVAL="0.05",
        RIVETR_RUNTIME__RESTART_BACKOFF_SECONDS="0.05",
    )
    repo = git_server.create_repo("racy")
    app = rivetr.create_app(repo, "racy")
    dep = rivetr.deploy_and_wait(app["id"])
    rivetr.cli("kill", dep["container_id"])
    assert rivetr.api.delete(f"/api/apps/{app['id']}").status_code == 204
    assert rivetr.containers() == []
    time.sleep(1.0)
    assert rivetr.containers() == []
    assert rivetr.api.get("/api/routes").json()["items"] == []
    assert rivetr.api.get(f"/api/apps/{app['id']}").status_code == 404
