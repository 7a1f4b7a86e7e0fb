"""Compose stacks on real engines (Docker and Podman) through a real ``rivetr serve`` and its proxy: a pasted
stack deploys in ``depends_on`` order (a web front waiting for a healthy Redis), its routed service answers through
the proxy, its services reach each other by service name and are ``<stack>-<service>`` on the project network; a
redeploy that changes only the routed service replaces only that one (blue/green: the others keep their
containers) without failing one request of a continuous load through the proxy; a rollback brings the previous
file back; a dependency that never becomes healthy fails the deployment, naming it, while the old stack keeps
serving; delete removes containers, networks and routes. A stack from a private repository (an SSH deploy key on
Docker, an HTTPS token on Podman) builds, runs two replicas behind its route with a config and a secret mounted,
and redeploys on a push signed with the stack's own webhook secret (GitHub on Docker, GitLab on Podman)."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow

ENGINES = [pytest.param("docker", marks=pytest.mark.docker), pytest.param("podman", marks=pytest.mark.podman)]
BUSYBOX = "localhost/rivetr-test/busybox:latest"


def compose(version: str, *, redis_health: str = '["CMD", "redis-cli", "ping"]') -> str:
    return f"""
services:
  web:
    image: {BUSYBOX}
    init: true  # busybox httpd as PID 1 ignores SIGTERM: without an init, every stop waits 10 s for SIGKILL
    command: ["sh", "-c", "mkdir -p /www && echo {version} > /www/index.html && exec httpd -f -p 8080 -h /www"]
    environment:
      CACHE_URL: redis://cache:6379
    depends_on:
      cache:
        condition: service_healthy
  worker:
    image: {BUSYBOX}
    stop_signal: SIGINT  # its own handler: stopped at once, no init
    command: ["sh", "-c", "trap 'exit 0' INT; while true; do sleep 1; done"]
    depends_on: [cache]
  cache:
    image: redis:7
    command: redis-server --save ""
    healthcheck:
      test: {redis_health}
      interval: 1s
      timeout: 2s
      retries: 3
x-notes: ignored by Rivetr, as compose ignores it
"""


def wait_deployment(rivetr: Any, dep_id: str, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        dep = rivetr.deployment(dep_id)
        if dep["status"] in ("running", "failed", "cancelled"):
            return dep
        if time.monotonic() > deadline:
            raise AssertionError(f"stack deployment still {dep['status']}: {dep}")
        time.sleep(0.2)


def deploy(rivetr: Any, stack_id: str, expect: str = "running") -> dict[str, Any]:
    response = rivetr.api.post(f"/api/stacks/{stack_id}/deploy")
    assert response.status_code == 202, response.text
    assert response.json()["stack_id"] == stack_id
    dep = wait_deployment(rivetr, response.json()["id"])
    if dep["status"] != expect:
        logs = rivetr.api.get(f"/api/deployments/{dep['id']}/logs").json()
        raise AssertionError(f"{dep['status']}: {dep['error']}\n" + "\n".join(x["line"] for x in logs[-40:]))
    return dep


def container_ids(dep: dict[str, Any], service: str) -> list[str]:
    return [c["id"] for c in dep["services"][service]["containers"]]


class Load:
    """Requests sent one after another through the proxy to ``domain`` (a fresh connection each, as many clients
    would) until stopped: each answer's status and body, and every error (a refused or reset connection)."""

    def __init__(self, rivetr: Any, domain: str) -> None:
        self.rivetr, self.domain = rivetr, domain
        self.answers: list[tuple[int, str]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.answers.append(self.rivetr.fetch(self.domain))
            except OSError as exc:
                self.errors.append(repr(exc))

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def wait_for(self, body: str) -> None:
        """Until an answer with ``body`` came (the load is flowing); bounded by the answers, not by time."""
        for _ in range(600):
            if (200, body) in self.answers:
                return
            time.sleep(0.05)
        raise AssertionError(f"no {body!r} under load: {self.answers[-5:]} {self.errors[-5:]}")

    def failed(self) -> list[str]:
        return self.errors + [f"{status}: {body[:80]!r}" for status, body in self.answers if status != 200]


@pytest.mark.parametrize("engine", ENGINES)
def test_stack_deploys_in_order_routes_redeploys_only_what_changed_and_rolls_back(
    e2e: Any, engine: str
) -> None:
    rivetr = e2e(engine)
    name = f"stk{uuid.uuid4().hex[:6]}"
    domain = f"{name}.e2e.test"
    response = rivetr.api.post(
        "/api/stacks",
        json={
            "name": name,
            "compose": compose("v1"),
            "domains": [{"domain": domain, "service": "web", "port": 8080}],
        },
    )
    assert response.status_code == 201, response.text
    stack = response.json()
    assert stack["status"] == "created" and stack["source"] == "inline"

    first = deploy(rivetr, stack["id"])
    assert set(first["services"]) == {"web", "worker", "cache"}
    rivetr.wait_content(domain, "v1\n")
    # depends_on: web started only once cache was healthy (its log line comes after cache's health)
    lines = [x["line"] for x in rivetr.api.get(f"/api/deployments/{first['id']}/logs").json()]
    started = {
        svc: next(i for i, line in enumerate(lines) if line.startswith(f"[{svc}] started"))
        for svc in first["services"]
    }
    assert started["cache"] < started["web"], lines

    # Names: the service name on the stack network, <stack>-<service> on the project network.
    web = first["services"]["web"]["containers"][0]["name"]
    rivetr.cli("exec", web, "sh", "-c", "printf 'PING\\r\\n' | nc -w 2 cache 6379 | grep -q PONG")
    rivetr.cli("exec", web, "sh", "-c", f"printf 'PING\\r\\n' | nc -w 2 {name}-cache 6379 | grep -q PONG")
    network = rivetr.api.get("/api/projects/default/network").json()
    names = {n for member in network["members"] for n in member["internal_names"]}
    assert {f"{name}-web", f"{name}-cache", f"{name}-worker"} <= names, network

    body = rivetr.api.get(f"/api/stacks/{stack['id']}").json()
    assert body["status"] == "running"
    assert {s["name"]: s["status"] for s in body["services"]} == {
        "cache": "running",
        "web": "running",
        "worker": "running",
    }

    # A change to the routed service only: web is replaced, cache and worker keep their containers, and a
    # continuous load through the proxy sees no failed request from before the switch until the old container
    # is gone (drained and removed), v1 answering first and v2 after.
    with Load(rivetr, domain) as load:
        load.wait_for("v1\n")
        assert (
            rivetr.api.put(f"/api/stacks/{stack['id']}", json={"compose": compose("v2")}).status_code == 200
        )
        second = deploy(rivetr, stack["id"])
        load.wait_for("v2\n")
        deadline = time.monotonic() + 30
        while (
            first["services"]["web"]["containers"][0]["id"] in rivetr.containers()
            and time.monotonic() < deadline
        ):
            time.sleep(0.2)
        assert first["services"]["web"]["containers"][0]["id"] not in rivetr.containers()
    assert load.failed() == [], (
        f"{len(load.failed())} of {len(load.answers)} requests failed: {load.failed()[:10]}"
    )
    bodies = [body for _, body in load.answers]
    assert bodies.count("v1\n") and bodies.count("v2\n"), {b: bodies.count(b) for b in set(bodies)}
    assert second["services"]["web"]["action"] == "replaced"
    assert second["services"]["cache"]["action"] == "kept"
    assert second["services"]["worker"]["action"] == "kept"
    assert container_ids(second, "cache") == container_ids(first, "cache")
    assert container_ids(second, "web") != container_ids(first, "web")
    rivetr.wait_content(domain, "v2\n")

    # Rollback: the first deployment's file again.
    response = rivetr.api.post(f"/api/stacks/{stack['id']}/rollback", json={})
    assert response.status_code == 202, response.text
    third = wait_deployment(rivetr, response.json()["id"])
    assert third["status"] == "running", third
    assert third["rollback_of"] == first["id"]
    rivetr.wait_content(domain, "v1\n")

    # Delete: containers, routes and networks go.
    assert rivetr.api.delete(f"/api/stacks/{stack['id']}").status_code == 204
    assert rivetr.containers() == []
    assert rivetr.fetch(domain)[0] != 200
    out = subprocess.run(
        [engine, "network", "ls", "--format", "{{.Name}}"],
        capture_output=True,
        text=True,
        env=rivetr._cli_env(),
    )
    assert f"rivetr-stk-{stack['id']}-default" not in out.stdout.split()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_dependency_that_never_gets_healthy_fails_the_deployment_and_the_old_stack_keeps_serving(
    e2e: Any, engine: str
) -> None:
    rivetr = e2e(engine)
    name = f"stk{uuid.uuid4().hex[:6]}"
    domain = f"{name}.e2e.test"
    stack = rivetr.api.post(
        "/api/stacks",
        json={
            "name": name,
            "compose": compose("v1"),
            "domains": [{"domain": domain, "service": "web", "port": 8080}],
        },
    ).json()
    first = deploy(rivetr, stack["id"])
    rivetr.wait_content(domain, "v1\n")

    broken = compose("v2", redis_health='["CMD", "false"]')
    assert rivetr.api.put(f"/api/stacks/{stack['id']}", json={"compose": broken}).status_code == 200
    failed = deploy(rivetr, stack["id"], expect="failed")
    assert "cache" in failed["error"] and "healthy" in failed["error"], failed["error"]
    # The old stack still runs: web v1 serves, the old cache container is running again.
    rivetr.wait_content(domain, "v1\n")
    body = rivetr.api.get(f"/api/stacks/{stack['id']}").json()
    assert body["current_deployment_id"] == first["id"]
    assert body["status"] == "running"
    assert {s["name"]: s["status"] for s in body["services"]}["cache"] == "running"
    assert rivetr.api.delete(f"/api/stacks/{stack['id']}").status_code == 204


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "compose"
HOOK_FIXTURES = Path(__file__).resolve().parents[2] / "plugins"
STACK_HOOK_SECRET = "stack-hook-secret-e2e"
GIT_TOKEN = "tok-stack-e2e-4242"
SECRET_VALUE = "s3cr3t-from-the-repository"


def private_compose(text: str) -> str:
    """The build-health fixture with what a real stack adds: two replicas of the routed app (each writes its host
    name to who.txt, so the proxy's answers tell them apart), a config served as /site.txt and a secret."""
    replaced = (
        text.replace(
            "    entrypoint: /srv/start.sh\n",
            '    entrypoint: ["sh", "-c", "hostname > /srv/www/who.txt && exec /srv/start.sh"]\n'
            "    configs:\n      - source: site\n        target: /srv/www/site.txt\n"
            "    secrets:\n      - api_token\n",
        )
        .replace("    deploy:\n      resources:\n", "    deploy:\n      replicas: 2\n      resources:\n")
        .replace(
            "volumes:\n  state:\n",
            "volumes:\n  state:\n\nconfigs:\n  site:\n    file: ./config/site.txt\n"
            "secrets:\n  api_token:\n    file: ./config/token.txt\n",
        )
    )
    assert replaced.count("replicas: 2") == 1 and "api_token:" in replaced and "configs:" in replaced, (
        replaced
    )
    return replaced


def push_hook(engine: str, repo_url: str, sha: str) -> tuple[str, bytes, dict[str, str]]:
    """A push of ``sha`` to main naming ``repo_url``, signed with the stack's own secret: GitHub's form on Docker,
    GitLab's on Podman (the providers' documented payloads from the plugins' fixtures)."""
    if engine == "docker":
        payload = json.loads((HOOK_FIXTURES / "git-github/tests/fixtures/github_push.json").read_text())
        for key in ("clone_url", "ssh_url", "git_url", "html_url"):
            payload["repository"][key] = repo_url
        payload["after"] = sha
        payload["head_commit"] = {**payload["head_commit"], "id": sha, "message": "docs"}
        payload["commits"] = [payload["head_commit"]]
        raw = json.dumps(payload).encode()
        signature = hmac.new(STACK_HOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        headers = {
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": f"stack-{sha[:12]}",
            "X-Hub-Signature-256": f"sha256={signature}",
        }
        return "github", raw, headers
    payload = json.loads((HOOK_FIXTURES / "git-gitlab/tests/fixtures/gitlab_push.json").read_text())
    for section in ("project", "repository"):
        for key in ("git_http_url", "git_ssh_url", "http_url", "ssh_url", "web_url", "homepage", "url"):
            if key in payload[section]:
                payload[section][key] = repo_url
    payload["after"] = payload["checkout_sha"] = sha
    payload["commits"] = [{**payload["commits"][0], "id": sha, "message": "docs"}]
    headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": STACK_HOOK_SECRET}
    return "gitlab", json.dumps(payload).encode(), headers


@pytest.mark.parametrize("engine", ENGINES)
def test_a_stack_from_a_private_repository_builds_runs_replicas_deploys_on_its_webhook_and_rolls_back(
    e2e: Any, git_server: Any, engine: str, request: pytest.FixtureRequest
) -> None:
    """The build-health fixture from a private repository (an SSH deploy key on Docker, an HTTPS token on
    Podman): a multi-stage build (target stage, build args), a one-shot migration that must complete before the
    app starts, a healthcheck gating the route, two replicas both answering behind it, a config and a secret
    from the repository mounted in each; a push signed with the stack's own webhook secret (no instance secret
    is configured) deploys the new commit; a rollback checks the old commit out and reuses its images."""
    from tests.support.gitserver import GitHttpServer

    rivetr = e2e(engine)
    root = FIXTURES / "build-health"
    files = {
        str(path.relative_to(root)): (path.read_text(), path.stat().st_mode & 0o777)
        for path in root.rglob("*")
        if path.is_file()
    }
    files["compose.yaml"] = (private_compose(files["compose.yaml"][0]), 0o644)
    files["config/site.txt"] = ("site config from the repository\n", 0o644)
    files["config/token.txt"] = (SECRET_VALUE + "\n", 0o600)
    repo = git_server.create_repo(f"stack-{engine}-{uuid.uuid4().hex[:6]}", files=files)
    http: GitHttpServer | None = None
    if engine == "docker":
        ssh = request.getfixturevalue("ssh_git_server")
        response = rivetr.api.post(
            "/api/ssh-keys", json={"name": "stack-deploy", "private_key": ssh.private_key}
        )
        assert response.status_code == 201, response.text
        source = {"repo_url": ssh.url(repo), "ssh_key_id": response.json()["id"]}
    else:
        http = GitHttpServer(git_server.base, user="oauth2", token=GIT_TOKEN)
        request.addfinalizer(http.close)
        source = {"repo_url": http.url(repo.name), "git_token": GIT_TOKEN, "git_token_user": "oauth2"}
    name = f"stg{uuid.uuid4().hex[:6]}"
    domain = f"{name}.e2e.test"
    response = rivetr.api.post(
        "/api/stacks",
        json={
            "name": name,
            **source,
            "webhook_secret": STACK_HOOK_SECRET,
            "env": {"GREETING": "hello-v1", "APP_VERSION": "1.2.3"},
            "domains": [{"domain": domain, "service": "app", "port": 8000}],
        },
    )
    assert response.status_code == 201, response.text
    stack = response.json()
    assert GIT_TOKEN not in response.text and STACK_HOOK_SECRET not in response.text
    first = deploy(rivetr, stack["id"])
    assert first["commit_sha"] == repo.head()
    if http is not None:  # the token went in a header as oauth2's password, never anonymously only
        assert "oauth2" in http.seen_users, http.seen_users
    rivetr.wait_content(domain, "hello-v1\n")
    assert rivetr.fetch(domain, "/version.txt") == (200, "version 1.2.3\n")  # the build arg reached the build
    lines = [x["line"] for x in rivetr.api.get(f"/api/deployments/{first['id']}/logs").json()]
    assert any("[app] building" in line for line in lines), lines
    assert not any(GIT_TOKEN in line for line in lines)
    # The one-shot ran to completion (exit 0) before the app started (the app refuses to start otherwise).
    migrate = first["services"]["migrate"]["containers"][0]["name"]
    state = rivetr.cli("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", migrate).strip()
    assert state == "exited 0", state

    # deploy.replicas: 2 containers, both behind the route (the proxy's answers name both host names), each
    # with the config (served from /srv/www) and the secret (read-only under /run/secrets, not served).
    replicas = first["services"]["app"]["containers"]
    assert len(replicas) == 2 and all(c["upstream"] for c in replicas), replicas
    hosts = set()
    for _ in range(50):
        status, body = rivetr.fetch(domain, "/who.txt")
        assert status == 200, (status, body)
        hosts.add(body.strip())
        if len(hosts) == 2:
            break
    assert len(hosts) == 2, f"only {hosts} answered behind the route"
    assert rivetr.fetch(domain, "/site.txt") == (200, "site config from the repository\n")
    for replica in replicas:
        secret = rivetr.cli("exec", replica["name"], "cat", "/run/secrets/api_token")
        assert secret == SECRET_VALUE + "\n", secret
        assert rivetr.cli("exec", replica["name"], "hostname").strip() in hosts

    # A new commit, pushed: the webhook signed with the stack's own secret deploys it (the server has no
    # instance-wide secret). GREETING is a build arg: the context hash covers the args, so the app is rebuilt.
    old_commit = repo.head()
    repo.write("README.md", "docs only\n")
    new_commit = repo.commit("docs")
    rivetr.api.put(
        f"/api/stacks/{stack['id']}", json={"env": {"GREETING": "hello-v2", "APP_VERSION": "1.2.3"}}
    )
    provider, raw, headers = push_hook(engine, source["repo_url"], new_commit)
    response = httpx.post(
        f"{rivetr.server.url}/webhooks/{provider}",
        content=raw,
        headers={**headers, "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    [dep_id] = response.json()["deployments"]
    second = wait_deployment(rivetr, dep_id)
    assert second["status"] == "running", second
    assert second["trigger"] == f"webhook:{provider}" and second["commit_sha"] == new_commit, second
    assert second["services"]["app"]["action"] == "replaced"
    rivetr.wait_content(domain, "hello-v2\n")

    response = rivetr.api.post(f"/api/stacks/{stack['id']}/rollback", json={"deployment_id": first["id"]})
    assert response.status_code == 202, response.text
    back = wait_deployment(rivetr, response.json()["id"])
    assert back["status"] == "running", back
    assert back["commit_sha"] == old_commit
    assert back["services"]["app"]["image"] == first["services"]["app"]["image"]
    rivetr.wait_content(domain, "hello-v1\n")
    assert rivetr.api.delete(f"/api/stacks/{stack['id']}", params={"volumes": "true"}).status_code == 204
    if engine == "docker":  # the key is no longer in use
        assert rivetr.api.delete(f"/api/ssh-keys/{source['ssh_key_id']}").status_code == 204


SLEEPER = f"""
services:
  box:
    image: {BUSYBOX}
    init: true
    command: ["sh", "-c", "mkdir -p /www && echo box > /www/index.html && exec httpd -f -p 8080 -h /www"]
"""


def reaches(rivetr: Any, container: str, host: str, port: int) -> bool:
    """Whether ``container`` gets an HTTP answer from ``host:port`` (busybox nc; 3 s connect timeout)."""
    probe = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {host} {port} | grep -q '200 OK'"
    result = subprocess.run(
        [rivetr.engine, "exec", container, "sh", "-c", probe],
        capture_output=True,
        timeout=30,
        env=rivetr._cli_env(),
    )
    return result.returncode == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_project_networks_join_apps_and_stacks_by_name_and_keep_projects_apart(
    e2e: Any, git_server: Any, engine: str
) -> None:
    from tests.support.gitserver import busybox_app

    rivetr = e2e(engine)
    tag = uuid.uuid4().hex[:5]
    projects = []
    for label in ("a", "b"):
        response = rivetr.api.post("/api/projects", json={"name": f"proj-{label}-{tag}"})
        assert response.status_code == 201, response.text
        projects.append(response.json()["id"])
    # Project A: an app and a stack; project B: a stack.
    app = rivetr.create_app(
        git_server.create_repo(f"net-{engine}-{tag}", busybox_app("app-a\n")),
        f"web{tag}",
        project_id=projects[0],
    )
    rivetr.deploy_and_wait(app["id"])
    stacks = {}
    for label, project in zip(("a", "b"), projects, strict=True):
        response = rivetr.api.post(
            "/api/stacks", json={"name": f"s{label}{tag}", "compose": SLEEPER, "project_id": project}
        )
        assert response.status_code == 201, response.text
        stacks[label] = response.json()
        stacks[label]["dep"] = deploy(rivetr, stacks[label]["id"])
    box_a = stacks["a"]["dep"]["services"]["box"]["containers"][0]["name"]
    box_b = stacks["b"]["dep"]["services"]["box"]["containers"][0]["name"]

    # Same project: the stack service reaches the app by its name, and the app's container the stack service.
    assert reaches(rivetr, box_a, f"web{tag}", 8000)
    app_container = rivetr.containers(running_only=True)
    assert reaches(rivetr, box_a, f"sa{tag}-box", 8080)
    # Another project: not by name (not on its network) and not by address either (the firewall / isolation).
    ip_b = rivetr.cli(
        "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", box_b
    ).split()
    assert ip_b, "the stack service of project B has no address"
    assert not reaches(rivetr, box_a, f"sb{tag}-box", 8080)
    for ip in ip_b:
        assert not reaches(rivetr, box_a, ip, 8080), f"project A reached project B at {ip}"
    assert app_container  # the app runs (its container is among this instance's)
    network = rivetr.api.get(f"/api/projects/{projects[0]}/network").json()
    kinds = {(m["kind"], tuple(m["internal_names"])) for m in network["members"]}
    assert ("app", (f"web{tag}",)) in kinds and ("stack_service", (f"sa{tag}-box",)) in kinds, network
    for stack in stacks.values():
        assert rivetr.api.delete(f"/api/stacks/{stack['id']}").status_code == 204
