"""Previews of pull requests from forks against a real ``rivetr serve`` (real proxy, engines, git daemon):

* a signed fork PR webhook is held as ``awaiting_approval`` (nothing built, nothing served) until
  ``POST /api/previews/{id}/approve``, then built and served; a new push waits for approval again while the
  approved version keeps serving;
* the fork preview's container runs on the isolated network, on both engines: from inside it, the base
  app's container and a port listening on every host address are unreachable, while the proxy reaches it;
* a fork build with ``ADD <url>`` fails naming the line; a fork build flooding its log is stopped at the cap.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.test_git_webhooks import PREVIEW_DOMAIN, SECRET, branch, pr_payload, signed_post
from tests.support.engines import BASE_IMAGE
from tests.support.gitserver import DOCKERFILE

pytestmark = pytest.mark.slow


@pytest.fixture
def host_listener() -> Iterator[int]:
    """A TCP service on every host address (0.0.0.0), like an API port bound to all interfaces: answers
    ``host-secret`` to whoever connects."""
    server = socket.create_server(("0.0.0.0", 0))
    server.settimeout(0.5)
    port = server.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nhost-secret\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    stop.set()
    thread.join(5)
    server.close()


def reach(rivetr: Any, container: str, address: str) -> str:
    """What a TCP connection from inside ``container`` to ``address`` (``ip:port``) reads (2 s timeout)."""
    host, port = address.rsplit(":", 1)
    import subprocess

    result = subprocess.run(
        [
            rivetr.engine,
            "exec",
            container,
            "sh",
            "-c",
            f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {host} {port} 2>&1 | head -3",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env=rivetr._cli_env(),
    )
    return result.stdout


def feature_branch(repo: Any, dockerfile: str) -> str:
    """Commit ``dockerfile`` on a new branch ``feature`` of ``repo`` (where the PR's head is) and push it."""
    from tests.support.gitserver import _git

    _git("checkout", "-q", "-b", "feature", cwd=repo.work)
    repo.write("Dockerfile", dockerfile)
    _git("commit", "-qam", "feature", cwd=repo.work)
    _git("push", "-q", "origin", "HEAD:feature", cwd=repo.work)
    return str(repo.head())


def previews_of(rivetr: Any, app_id: str) -> dict[int, dict[str, Any]]:
    return {p["pr_number"]: p for p in rivetr.api.get(f"/api/apps/{app_id}/previews").json()["items"]}


@pytest.mark.parametrize("engine", ["docker", "podman"])
def test_fork_preview_waits_for_approval_and_runs_isolated(e2e, git_server, host_listener, engine):
    rivetr = e2e(engine, RIVETR_WEBHOOKS__GITHUB_SECRET=SECRET, RIVETR_PROXY__PREVIEW_DOMAIN=PREVIEW_DOMAIN)
    name = f"forkapp-{engine}"
    repo = git_server.create_repo(name)
    app = rivetr.create_app(repo, name)
    base = rivetr.deploy_and_wait(app["id"])

    fork = git_server.create_repo(f"{name}-fork")
    # The fork's build probes the host listener from a RUN step: through the loopback (a build in the host's
    # network namespace, podman's default) and through its gateway (a bridge without the firewall).
    probe = (
        f"RUN for t in 127.0.0.1 $(ip route | awk '/default/{{print $3}}'); do "
        f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 $t {host_listener}; done; echo build-probe-done\n"
    )
    fork.write("Dockerfile", DOCKERFILE + probe)
    fork_sha = branch(fork, "feature", "fork preview\n")
    payload = pr_payload(repo, fork.url, "mallory/site", fork_sha, "opened", 8)
    response = signed_post(rivetr, "pull_request", payload, f"{engine}-fork-1")
    # ---- held: listed as awaiting approval, nothing built or served
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "awaiting_approval" and "deployments" not in response.json()
    held = previews_of(rivetr, app["id"])[8]
    assert held["status"] == "awaiting_approval" and held["fork"] is True and held["preview_app_id"] is None
    fork_host = f"pr-8.{name}.{PREVIEW_DOMAIN}"
    assert rivetr.fetch(fork_host)[0] in (404, 502)
    assert rivetr.images(f"{name}-pr-8") == []

    # ---- approved: built and served
    response = rivetr.api.post(f"/api/previews/{held['id']}/approve")
    assert response.status_code == 202, response.text
    dep = rivetr.wait(response.json()["deployment_id"])
    logs = [x["line"] for x in rivetr.api.get(f"/api/deployments/{dep['id']}/logs").json()]
    assert dep["status"] == "running", (dep["error"], logs[-20:])
    assert any("untrusted build" in line and "1.0 CPU / 1073741824 bytes" in line for line in logs), logs
    assert any("build-probe-done" in line for line in logs)
    assert not any("host-secret" in line for line in logs), "the fork's build reached the host"
    rivetr.wait_content(fork_host, "fork preview\n")

    # ---- isolation, from inside the fork's container
    preview_container = dep["container_id"]
    own = reach(rivetr, preview_container, "127.0.0.1:8000")
    assert "HTTP/1." in own, own  # nc works in there: the failures below are the network's doing
    assert "HTTP/1." not in reach(rivetr, preview_container, base["upstream"])
    gateway = rivetr.cli("exec", preview_container, "ip", "route").split("default via ")[1].split()[0]
    assert "host-secret" not in reach(rivetr, preview_container, f"{gateway}:{host_listener}")
    # ... while the same host port answers an ordinary app's container (the listener is reachable at all).
    base_gateway = rivetr.cli("exec", base["container_id"], "ip", "route").split("default via ")[1]
    assert "host-secret" in reach(rivetr, base["container_id"], f"{base_gateway.split()[0]}:{host_listener}")

    # ---- a new push to the fork's PR waits for approval again; the approved version keeps serving
    from tests.support.gitserver import _git

    _git("checkout", "-q", "feature", cwd=fork.work)
    fork.write("www/index.html", "fork preview, second push\n")
    _git("commit", "-qam", "second push", cwd=fork.work)
    _git("push", "-q", "origin", "HEAD:feature", cwd=fork.work)
    sha2 = fork.head()
    payload = pr_payload(repo, fork.url, "mallory/site", sha2, "synchronize", 8)
    response = signed_post(rivetr, "pull_request", payload, f"{engine}-fork-2")
    assert response.status_code == 200 and response.json()["status"] == "awaiting_approval", response.text
    assert previews_of(rivetr, app["id"])[8]["head_sha"] == sha2
    rivetr.wait_content(fork_host, "fork preview\n")
    response = rivetr.api.post(f"/api/previews/{held['id']}/approve")
    assert response.status_code == 202, response.text
    assert rivetr.wait(response.json()["deployment_id"])["status"] == "running"
    rivetr.wait_content(fork_host, "fork preview, second push\n")


def test_fork_builds_refuse_add_url_and_stop_a_flooding_log(e2e, git_server):
    rivetr = e2e(
        "docker",
        RIVETR_WEBHOOKS__GITHUB_SECRET=SECRET,
        RIVETR_PROXY__PREVIEW_DOMAIN=PREVIEW_DOMAIN,
        RIVETR_PREVIEWS__FORKS="always",
        RIVETR_PREVIEWS__FORK_BUILD_LOG_MAX_LINES="200",
    )
    repo = git_server.create_repo("guarded")
    app = rivetr.create_app(repo, "guarded")

    # ---- ADD <url>, hidden behind an ARG, on line 3 (a loopback URL: should the refusal ever regress, the
    # engine's fetch stays on this machine; in the wild this is the cloud metadata address)
    fork = git_server.create_repo("guarded-fork")
    sha = feature_branch(
        fork,
        f"FROM {BASE_IMAGE}\nARG SRC=http://127.0.0.1:9/latest\nADD ${{SRC}}/meta-data /x\n"
        'CMD ["httpd", "-f", "-p", "8000", "-h", "/"]\n',
    )
    response = signed_post(
        rivetr, "pull_request", pr_payload(repo, fork.url, "mallory/site", sha, "opened", 11), "guard-1"
    )
    assert response.status_code == 202, response.text
    dep = rivetr.wait(response.json()["deployments"][0])
    assert dep["status"] == "failed"
    assert "Dockerfile line 3" in dep["error"] and "http://127.0.0.1:9/latest/meta-data" in dep["error"]
    assert rivetr.images("guarded-pr-11") == []

    # ---- a build printing 5,000 lines is stopped after 200, with a marker
    flood = git_server.create_repo("guarded-flood")
    sha = feature_branch(
        flood,
        f"FROM {BASE_IMAGE}\nRUN i=0; while [ $i -lt 5000 ]; do echo flood line $i; i=$((i+1)); done\n"
        'CMD ["httpd", "-f", "-p", "8000", "-h", "/"]\n',
    )
    response = signed_post(
        rivetr, "pull_request", pr_payload(repo, flood.url, "mallory/site", sha, "opened", 12), "guard-2"
    )
    assert response.status_code == 202, response.text
    dep = rivetr.wait(response.json()["deployments"][0])
    assert dep["status"] == "failed" and "fork preview cap" in dep["error"], dep["error"]
    lines = [x["line"] for x in rivetr.api.get(f"/api/deployments/{dep['id']}/logs").json()]
    assert any(line.startswith("[rivetr] build log truncated here") for line in lines)
    assert sum("flood line" in line for line in lines) <= 200
    assert len(lines) < 260
    assert rivetr.images("guarded-pr-12") == []
    # The base app is untouched by all of it, and its own builds are not capped.
    assert rivetr.api.get(f"/api/apps/{app['id']}/deployments").json()["items"] == []
    assert httpx.get(f"{rivetr.server.url}/health", timeout=10).status_code == 200


def test_forks_never_and_the_preview_cap(e2e, git_server):
    rivetr = e2e(
        "docker",
        RIVETR_WEBHOOKS__GITHUB_SECRET=SECRET,
        RIVETR_PROXY__PREVIEW_DOMAIN=PREVIEW_DOMAIN,
        RIVETR_PREVIEWS__FORKS="never",
        RIVETR_PREVIEWS__MAX_PER_APP="1",
    )
    repo = git_server.create_repo("capped")
    app = rivetr.create_app(repo, "capped")
    first = branch(repo, "feature", "first preview\n")
    response = signed_post(
        rivetr, "pull_request", pr_payload(repo, repo.url, "acme/site", first, "opened", 1), "cap-1"
    )
    assert response.status_code == 202, response.text
    assert rivetr.wait(response.json()["deployments"][0])["status"] == "running"
    rivetr.wait_content(f"pr-1.capped.{PREVIEW_DOMAIN}", "first preview\n")

    # ---- a second same-repository PR is over [previews] max_per_app = 1: listed, nothing built
    from tests.support.gitserver import _git

    _git("checkout", "-q", "-b", "second", "main", cwd=repo.work)
    repo.write("www/index.html", "second preview\n")
    _git("commit", "-qam", "second", cwd=repo.work)
    _git("push", "-q", "origin", "HEAD:second", cwd=repo.work)
    second = repo.head()
    _git("checkout", "-q", "main", cwd=repo.work)
    payload = pr_payload(repo, repo.url, "acme/site", second, "opened", 2)
    payload["pull_request"]["head"]["ref"] = "second"
    response = signed_post(rivetr, "pull_request", payload, "cap-2")
    assert response.status_code == 200 and response.json()["status"] == "limit_reached", response.text
    assert "max_per_app" in response.json()["reason"]
    capped = previews_of(rivetr, app["id"])[2]
    assert capped["status"] == "limit_reached" and capped["preview_app_id"] is None
    assert rivetr.images("capped-pr-2") == []
    assert rivetr.fetch(f"pr-2.capped.{PREVIEW_DOMAIN}")[0] in (404, 502)

    # ---- forks = "never": a fork's PR is listed as rejected, never cloned or built
    fork = git_server.create_repo("capped-fork")
    fork_sha = branch(fork, "feature", "fork preview\n")
    response = signed_post(
        rivetr, "pull_request", pr_payload(repo, fork.url, "mallory/site", fork_sha, "opened", 3), "cap-3"
    )
    assert response.status_code == 200 and response.json()["status"] == "ignored", response.text
    rejected = previews_of(rivetr, app["id"])[3]
    assert rejected["status"] == "rejected" and rejected["fork"] is True and "never" in rejected["reason"]
    assert rivetr.api.post(f"/api/previews/{rejected['id']}/approve").status_code == 409
    assert rivetr.images("capped-pr-3") == []
