"""Rivetr stacks against the compose reference tools (issue 18, "Comparison with the reference tool").

For each fixture in tests/fixtures/compose and each engine, the reference tool (Debian's ``docker-compose`` 1.29
on dockerd, ``podman-compose`` 1.0.3 on podman, which drives the podman CLI) runs ``up -d`` under a unique
project name, and a real ``rivetr serve`` deploys the same file as a stack (pasted, or from a git repository
when the file needs its directory: a build context, an ``env_file``). Then, service by service, the effective
configuration both produced is read with the engine's own ``inspect`` and compared
(tests/support/compose_reference.py explains each normalisation). Any difference is a Rivetr bug, except the
deviations documented below, each skipped only for the tool that has it.
"""

from __future__ import annotations

import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from rivetr_core.compose.durations import parse_duration
from tests.support.compose_reference import (
    ReferenceProject,
    built_services,
    differences,
    effective,
    fixed_host_ports,
    inspect,
    podman_compose_compatible,
)
from tests.support.gitserver import GitServer

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "compose"
ENGINES = [pytest.param("docker", marks=pytest.mark.docker), pytest.param("podman", marks=pytest.mark.podman)]

# podman-compose 1.0.3 quirks (podman_compose.py in Debian's 1.0.3-3 package):
# * healthcheck.test: it turns every test into `--healthcheck-command /bin/sh -c <the words joined with "' '">`,
#   so podman stores ["CMD-SHELL", "/bin/sh -c pg_isready' '-U' ..."] instead of the file's CMD/CMD-SHELL list
#   (the interval/timeout/retries/start_period options are passed through and still compared).
# * it ignores `profiles` (there is no --profile option) and starts every service, profiled ones included:
#   only the services Rivetr starts are compared, and the reference's extra ones are left to `down`.
# * it leaves `${VAR:-}` and `${VAR-}` (an empty default) uninterpolated: its var_re wants a non-empty default
#   (`(?P<default>[^}]+)`), so FEATURE_FLAGS in profiles-env reads literally "${FEATURE_FLAGS:-}". The expected
#   value is the empty string compose gives (docker-compose does); see EMPTY_DEFAULT below.
# * it ignores depends_on conditions (starts in order without waiting): not visible in inspect, nothing skipped.
# * it ignores `stop_grace_period` (no --stop-timeout): its containers keep podman's 10 s, so the expected value
#   is the file's (see GRACE below).
PODMAN_COMPOSE_QUIRKS = {"healthcheck.test"}
EMPTY_DEFAULT = re.compile(r"^\$\{[_a-zA-Z][_a-zA-Z0-9]*:?-\}$")

CASES = {
    # fixture: (source, stack env, services Rivetr starts, services that run once and exit)
    "web-worker-db": ("inline", {"DB_PASSWORD": "s3cret-compare"}, {"web", "worker", "db", "redis"}, set()),
    "build-health": ("git", {}, {"migrate", "app"}, {"migrate"}),
    "profiles-env": ("git", {}, {"api", "cache"}, set()),
}


@pytest.fixture
def git_daemon(tmp_path: Path) -> Iterator[GitServer]:
    server = GitServer(tmp_path / "git")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def wait_stack_deployment(rivetr: Any, dep_id: str, timeout: float = 420) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        dep = rivetr.deployment(dep_id)
        if dep["status"] in ("running", "failed", "cancelled"):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"stack deployment still {dep['status']}")
        time.sleep(0.3)
    if dep["status"] != "running":
        logs = rivetr.api.get(f"/api/deployments/{dep_id}/logs").json()
        raise AssertionError(f"{dep['status']}: {dep['error']}\n" + "\n".join(x["line"] for x in logs[-40:]))
    return dict(dep)


def deploy_rivetr_stack(
    rivetr: Any, fixture: str, name: str, source: str, env: dict[str, str], git: GitServer
) -> dict[str, Any]:
    directory = FIXTURES / fixture
    body: dict[str, Any] = {"name": name, "env": env}
    if source == "inline":
        body["compose"] = (directory / "compose.yaml").read_text()
    else:
        files = {
            str(path.relative_to(directory)): (path.read_text(), path.stat().st_mode & 0o777)
            for path in sorted(directory.rglob("*"))
            if path.is_file()
        }
        body["repo_url"] = git.create_repo(name, files).url
    response = rivetr.api.post("/api/stacks", json=body)
    assert response.status_code == 201, response.text
    stack = response.json()
    response = rivetr.api.post(f"/api/stacks/{stack['id']}/deploy")
    assert response.status_code == 202, response.text
    wait_stack_deployment(rivetr, response.json()["id"])
    return dict(rivetr.api.get(f"/api/stacks/{stack['id']}").json())


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("fixture", sorted(CASES))
def test_rivetr_runs_each_service_as_the_reference_tool_does(
    e2e: Any, git_daemon: GitServer, engine: str, fixture: str, tmp_path: Path
) -> None:
    source, env, services, one_shot = CASES[fixture]
    suffix = uuid.uuid4().hex[:6]
    # The reference works on a copy: docker-compose reads the directory (env_file, build context) and podman-compose
    # may write next to the file.
    workdir = tmp_path / fixture
    shutil.copytree(FIXTURES / fixture, workdir)
    # podman-compose 1.0.3 cannot run per-network aliases nor a service naming the implicit `default` network
    # (profiles-env has both): its copy is rewritten to what it can run, and the aliases it could not set are
    # checked on Rivetr's side alone (see podman_compose_compatible).
    dropped_aliases = podman_compose_compatible(workdir / "compose.yaml") if engine == "podman" else {}
    reference = ReferenceProject(engine, workdir, f"cmpref{suffix}", env=env)
    rivetr = e2e(engine)
    stack_name = f"cmp{suffix}"
    try:
        reference.up()
        stack = deploy_rivetr_stack(rivetr, fixture, stack_name, source, env, git_daemon)
        assert {s["name"] for s in stack["services"]} == services

        compose_text = (FIXTURES / fixture / "compose.yaml").read_text()
        fixed = fixed_host_ports(compose_text)
        built = built_services(compose_text)
        # stack networks are named by the stack id (rivetr_core.stacks.naming.stack_network)
        prefix = f"rivetr-stk-{stack['id']}-"

        def ours_key(network: str) -> str | None:
            return network[len(prefix) :] if network.startswith(prefix) else None

        skip: set[str] = set()
        if engine == "podman":
            skip |= PODMAN_COMPOSE_QUIRKS
        report: dict[str, list[tuple[str, Any, Any]]] = {}
        for service in sorted(services):
            ref_ids = reference.containers(service)
            assert len(ref_ids) == 1, (service, ref_ids)
            ours_svc = next(s for s in stack["services"] if s["name"] == service)
            ours_ids = [c["id"] for c in ours_svc["containers"]]
            assert len(ours_ids) == 1, (service, ours_svc)
            [ref_doc] = inspect(engine, ref_ids)
            [ours_doc] = inspect(engine, ours_ids)
            expected = effective(ref_doc, network_key=reference.network_key, fixed_ports=fixed[service])
            got = effective(ours_doc, network_key=ours_key, fixed_ports=fixed[service])
            if engine == "podman":
                expected["env"] = {k: "" if EMPTY_DEFAULT.match(v) else v for k, v in expected["env"].items()}
                grace = yaml.safe_load(compose_text)["services"][service].get("stop_grace_period")
                if grace is not None:  # GRACE: what podman-compose leaves out
                    expected["stop_timeout"] = round(parse_duration(grace))
            for net, aliases in dropped_aliases.get(service, {}).items():
                assert set(aliases) <= set(got["networks"].get(net, [])), (service, net, got["networks"])
                got["networks"][net] = [a for a in got["networks"][net] if a not in aliases]
            service_skip = set(skip)
            if service in built:
                # built images are named by each tool's convention (<project>_<service> vs Rivetr's tag)
                service_skip.add("image")
            # Only as good as the network mapping and the reading: every service is on a stack network and runs
            # something the file or image says.
            assert expected["networks"] and (expected["cmd"] or expected["entrypoint"]), (service, expected)
            diff = differences(expected, got, skip=service_skip)
            if diff:
                report[service] = diff
            if service in one_shot:
                assert ref_doc["State"]["ExitCode"] == 0 and ours_doc["State"]["ExitCode"] == 0
        assert not report, "\n".join(
            f"{svc}.{field}: expected {exp!r}, got {got!r}"
            for svc, diffs in report.items()
            for field, exp, got in diffs
        )
    finally:
        reference.down()
        delete = rivetr.api.delete(f"/api/stacks/{stack_name}?volumes=true")
        assert delete.status_code in (204, 404), delete.text
