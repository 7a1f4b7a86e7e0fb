"""A real ``rivetr serve`` on the swarm runtime deploys a compose stack from a git repository: the docker CLI shows it
as a swarm stack (``docker stack ls/services/ps``, its network and volume in the stack's namespace), its compose
secret is a swarm secret the task reads at ``/run/secrets/<name>`` (with the compose ``mode`` where one is given),
its compose config a swarm config at its target with its ``mode``, a task killed is replaced by swarm (compose
``deploy.restart_policy``) and the stack's domain follows the new task's port, a redeploy with a changed secret
replaces the swarm secret (the old one is removed), and the stack's removal removes the secret and the config. The
published-port firewall (on by default) is in place from the start, and the proxy still reaches the stack's routed
service."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rivetr_runtime_swarm import firewall

from tests.e2e.conftest import Rivetr
from tests.support.engines import BASE_IMAGE

pytestmark = [pytest.mark.slow, pytest.mark.docker]

SITE_CONF = "listen 8080;\n"
SECRET_V1 = "s3cret-value-one"
SECRET_V2 = "s3cret-value-two"
ENV_SECRET = "s3cret-from-the-stack-env"

COMPOSE = f"""
services:
  box:
    image: {BASE_IMAGE}
    init: true  # busybox httpd as PID 1 ignores SIGTERM: each stop would wait 10 s for SIGKILL
    command: ["sh", "-c", "mkdir -p /www && echo box > /www/index.html && exec httpd -f -p 8080 -h /www"]
    deploy:
      restart_policy:
        condition: any
    configs:
      - source: site
        target: /etc/site.conf
        mode: 0440
    secrets:
      - api_token
      - source: api_token
        target: /etc/token-copy
      - source: env_token
        mode: 0400
    volumes:
      - data:/data
volumes:
  data:
configs:
  site:
    file: ./site.conf
secrets:
  api_token:
    file: ./token.txt
  env_token:
    environment: ENV_TOKEN
"""


def _docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout


def _lines(*args: str) -> list[str]:
    return [line for line in _docker(*args).splitlines() if line.strip()]


def _quiet(*args: str) -> list[str]:
    """For a teardown: the lines of a docker command's output, none when it fails."""
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    return done.stdout.split() if done.returncode == 0 else []


def _until(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


@pytest.fixture
def swarm_rivetr(swarm_rivetr: Rivetr) -> Iterator[Rivetr]:
    yield swarm_rivetr
    # The rule outlives `rivetr serve` on purpose (a firewall must not vanish with it): a test removes it.
    firewall.switch_off(firewall.PortFirewall())


def _deploy(rivetr: Rivetr, stack_id: str) -> dict[str, Any]:
    response = rivetr.api.post(f"/api/stacks/{stack_id}/deploy")
    assert response.status_code == 202, response.text
    dep_id = response.json()["id"]
    dep = _until(
        lambda: (d := rivetr.deployment(dep_id))["status"] in ("running", "failed", "cancelled") and d,
        "the stack deployment",
        240,
    )
    if dep["status"] != "running":
        logs = rivetr.api.get(f"/api/deployments/{dep_id}/logs").json()
        raise AssertionError(f"{dep['status']}: {dep['error']}\n" + "\n".join(x["line"] for x in logs[-40:]))
    return dict(dep)


def _secret_names(stack: str, value: str) -> list[str]:
    """The names the runtime gives the file secret holding ``value`` (and a newline) and the env secret."""
    file = f"{stack}_api_token_{hashlib.sha256((value + chr(10)).encode()).hexdigest()[:12]}"
    return sorted([file, f"{stack}_env_token_{hashlib.sha256(ENV_SECRET.encode()).hexdigest()[:12]}"])


def _read_in_task(stack: str, path: str, *command: str) -> str:
    """``command`` (default ``cat``) on ``path`` in the stack's newest running task's container."""
    newest = _lines("ps", "-q", "--filter", f"label=com.docker.stack.namespace={stack}")[0]
    return _docker("exec", newest, *(command or ("cat",)), path)


def test_a_compose_stack_is_a_swarm_stack_with_swarm_secrets(swarm_rivetr: Rivetr, git_server: Any) -> None:
    rivetr = swarm_rivetr
    # The published-port rule is there from the start (port_firewall defaults to on), allowing the node.
    # (iptables needs root: elsewhere the runtime logs a warning and the stack part below still runs.)
    if os.geteuid() == 0 and shutil.which("iptables"):
        rules = _until(lambda: firewall.PortFirewall().current(), "the published-port firewall chain", 30)
        nodes = {
            _docker("node", "inspect", "--format", "{{.Status.Addr}}", n).strip()
            for n in _lines("node", "ls", "-q")
        }
        assert rules == [
            f"-A {firewall.CHAIN} -s 127.0.0.0/8 -j RETURN",
            *(f"-A {firewall.CHAIN} -s {address}/32 -j RETURN" for address in sorted(nodes)),
            f"-A {firewall.CHAIN} -j DROP",
        ]
        assert firewall.PortFirewall().has_jump()

    name = f"sw{uuid.uuid4().hex[:6]}"
    domain = f"{name}.e2e.test"
    repo = git_server.create_repo(
        name,
        files={
            "compose.yaml": (COMPOSE, 0o644),
            "token.txt": (SECRET_V1 + "\n", 0o600),
            "site.conf": (SITE_CONF, 0o644),
        },
    )
    # Its own project: the default project's network name is shared with every other Rivetr on this engine.
    project = rivetr.api.post("/api/projects", json={"name": f"{name}-project"})
    assert project.status_code == 201, project.text
    response = rivetr.api.post(
        "/api/stacks",
        json={
            "name": name,
            "repo_url": repo.url,
            "project_id": project.json()["id"],
            "env": {"ENV_TOKEN": ENV_SECRET},
            "domains": [{"domain": domain, "service": "box", "port": 8080}],
        },
    )
    assert response.status_code == 201, response.text
    stack = response.json()
    first = _deploy(rivetr, stack["id"])
    rivetr.wait_content(domain, "box\n")  # the proxy reaches the task's port on 127.0.0.1 with the rule on

    # A swarm stack for the docker CLI: its service, task, network and volume carry the stack's namespace.
    assert f"{name} 1" in _lines("stack", "ls", "--format", "{{.Name}} {{.Services}}")
    [service] = _lines("stack", "services", name, "--format", "{{.Name}} {{.Replicas}}")
    assert service.endswith(" 1/1"), service
    states = _lines("stack", "ps", name, "--format", "{{.CurrentState}}")
    assert states and states[0].startswith("Running"), states
    namespace = f"label=com.docker.stack.namespace={name}"
    assert _lines("network", "ls", "-q", "--filter", namespace), "the stack's network is in its namespace"
    assert [v for v in _lines("volume", "ls", "-q", "--filter", namespace) if v.endswith("-data")]
    image = _docker(
        "service",
        "inspect",
        "--format",
        '{{index .Spec.Labels "com.docker.stack.image"}}',
        service.split()[0],
    )
    assert image.strip() == BASE_IMAGE

    # The compose secret is a swarm secret, read by the task at both targets; no bind mount of the host file.
    # The one from the stack's environment (compose `environment:`) too.
    assert sorted(_lines("secret", "ls", "--filter", namespace, "--format", "{{.Name}}")) == _secret_names(
        name, SECRET_V1
    )
    assert _read_in_task(name, "/run/secrets/api_token") == SECRET_V1 + "\n"
    assert _read_in_task(name, "/run/secrets/env_token") == ENV_SECRET
    assert _read_in_task(name, "/etc/token-copy") == SECRET_V1 + "\n"
    mounts = _docker(
        "service",
        "inspect",
        "--format",
        "{{json .Spec.TaskTemplate.ContainerSpec.Mounts}}",
        service.split()[0],
    )
    assert "token" not in mounts and "/stacks/" not in mounts, mounts
    logs = rivetr.api.get(f"/api/deployments/{first['id']}/logs").json()
    assert not any(SECRET_V1 in x["line"] or ENV_SECRET in x["line"] for x in logs)
    # Compose `mode`: the secret that gives one has it, the others swarm's (and docker's) read-only default.
    assert _read_in_task(name, "/run/secrets/env_token", "stat", "-c", "%a %u") == "400 0\n"
    assert _read_in_task(name, "/run/secrets/api_token", "stat", "-c", "%a") == "444\n"

    # The compose config is a swarm config (content-addressed), at its target with its mode; not a bind mount.
    config = f"{name}_site_{hashlib.sha256(SITE_CONF.encode()).hexdigest()[:12]}"
    assert _lines("config", "ls", "--filter", namespace, "--format", "{{.Name}}") == [config]
    assert _read_in_task(name, "/etc/site.conf") == SITE_CONF
    assert _read_in_task(name, "/etc/site.conf", "stat", "-c", "%a") == "440\n"
    assert "site" not in mounts, mounts

    # A crash: swarm's restart policy starts a new task (another container, another host port) and the
    # stack's domain follows it (stacks/watch.py), as an app's route follows its moved task.
    def routed() -> str:
        [box] = [
            s for s in rivetr.api.get(f"/api/stacks/{stack['id']}").json()["services"] if s["name"] == "box"
        ]
        return str(box["containers"][0]["upstream"])

    before, crashed = routed(), _lines("ps", "-q", "--filter", namespace)[0]
    _docker("kill", crashed)
    after = _until(lambda: (now := routed()) != before and now, "the route to the new task")
    assert _lines("ps", "-q", "--filter", namespace)[0] != crashed
    rivetr.wait_content(domain, "box\n")
    assert before != after, (before, after)

    # A changed secret: a new swarm secret for the new service; the old one goes with the retired service.
    repo.write("token.txt", SECRET_V2 + "\n", 0o600)
    repo.commit("rotate the token")
    _deploy(rivetr, stack["id"])
    _until(
        lambda: (
            sorted(_lines("secret", "ls", "--filter", namespace, "--format", "{{.Name}}"))
            == _secret_names(name, SECRET_V2)
        ),
        "the old secret's removal",
    )
    assert _until(lambda: _read_in_task(name, "/run/secrets/api_token") == SECRET_V2 + "\n", "the new task")

    # The stack's removal removes its services, its network and its secret.
    assert rivetr.api.delete(f"/api/stacks/{stack['id']}").status_code == 204
    _until(lambda: not _lines("service", "ls", "-q", "--filter", namespace), "the services' removal")
    _until(lambda: not _lines("secret", "ls", "-q", "--filter", namespace), "the secret's removal")
    _until(lambda: not _lines("config", "ls", "-q", "--filter", namespace), "the config's removal")
    assert name not in _docker("stack", "ls")
