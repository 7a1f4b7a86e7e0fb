"""Unit tests of the release phase's logic (``rivetr_core.engine.release``) against a FAKE runtime: order of the
steps, the one-off container's spec, failure and timeout keep the old version, the container always goes (also on
cancel), rollbacks run it too, a failing post-deploy command is reported and not rolled back; the API's fields and
their validation. The real-engine versions are in tests/e2e/test_release_phase.py."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.contract import ContainerInfo, ExecResult, LogLine, RivetrEvent, RunSpec
from rivetr_core.testing import FakeRuntime
from tests.support.server import ApiClient, api_on, make_config
from tests.test_deploy_pipeline import Events, _hookimpls, deploy, make_app, wait_status


class ReleaseRuntime(FakeRuntime):
    """The fake engine, plus one-off commands: a container started with ``command = ["sh", "-c", TEXT]``
    "runs" ``TEXT`` as a tiny script of ``echo WORDS``, ``sleep SECONDS`` and ``exit CODE`` statements
    separated by ``;`` (its output becomes the container's log), then exits."""

    def __init__(self) -> None:
        super().__init__()
        self.one_offs: list[RunSpec] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, spec: RunSpec) -> ContainerInfo:
        info = await super().run(spec)
        if spec.command:
            self.one_offs.append(spec)
            task = asyncio.ensure_future(self._script(info.id, spec.command[-1]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return info

    async def _script(self, container_id: str, text: str) -> None:
        code = 0
        for statement in (s.strip() for s in text.split(";")):
            word, _, rest = statement.partition(" ")
            if word == "echo":
                self.containers[container_id].log.append(LogLine(rest))
            elif word == "sleep":
                await asyncio.sleep(float(rest))
            elif word == "exit":
                code = int(rest)
                break
            if container_id not in self.containers:
                return  # removed meanwhile
        if container_id in self.containers:
            self.crash(container_id, exit_code=code)


@pytest.fixture
def runtime() -> Any:
    fake = ReleaseRuntime()
    yield fake
    fake.shutdown()


@pytest.fixture
def events() -> Events:
    return _hookimpls(Events())


@pytest.fixture
async def api(tmp_path: Path, runtime: ReleaseRuntime, events: Events) -> AsyncIterator[ApiClient]:
    async with api_on(runtime, make_config(tmp_path / "data"), [events]) as client:
        yield client


async def logs(api: ApiClient, dep_id: str) -> list[str]:
    code, body = await api.get(f"/api/deployments/{dep_id}/logs")
    assert code == 200
    return [item["line"] for item in body]


async def settled(api: ApiClient, dep_id: str, step: str = "drain") -> dict[str, Any]:
    """The deployment once ``step`` (recorded after the switch) has finished."""
    for _ in range(250):
        dep = (await api.get(f"/api/deployments/{dep_id}"))[1]
        if "finished_at" in dep["steps"].get(step, {}):
            return dep  # type: ignore[no-any-return]
        await asyncio.sleep(0.02)
    raise AssertionError(f"{step} never finished: {dep}")


def order(dep: dict[str, Any]) -> list[str]:
    """The recorded steps in the order they ran (the JSON column keeps no order)."""
    return sorted(dep["steps"], key=lambda name: dep["steps"][name]["started_at"])


async def set_fields(api: ApiClient, app_id: str, **fields: Any) -> dict[str, Any]:
    code, body = await api.put(f"/api/apps/{app_id}", json=fields)
    assert code == 200, body
    return body  # type: ignore[no-any-return]


async def test_release_runs_in_a_one_off_container_before_the_new_one_starts(api, git_server, runtime):
    repo = git_server.create_repo("web")
    app = await make_app(api, repo, release_command="echo migrating; echo done")
    await api.post(f"/api/apps/{app['id']}/env-vars", json={"key": "DB", "value": "x", "is_secret": True})
    await api.post(f"/api/apps/{app['id']}/volumes", json={"name": "data", "mount_path": "/data"})
    dep = await wait_status(api, (await deploy(api, app["id"]))["id"], ("running", "failed"))
    assert dep["status"] == "running", dep
    dep = await settled(api, dep["id"])
    assert order(dep) == ["clone", "build", "release", "start", "health", "switch", "drain"]
    one_off, app_spec = runtime.runs  # the release container first, then the app's
    assert one_off is runtime.one_offs[0]
    assert one_off.name == f"rivetr-web-{dep['id'][:12]}-release"
    assert one_off.command == ["sh", "-c", "echo migrating; echo done"]
    assert one_off.container_port is None and one_off.restart_policy == "no"
    assert one_off.image == app_spec.image == dep["image"]
    assert one_off.env == app_spec.env and one_off.env["DB"] == "x"  # the app's env (and links)
    assert one_off.mounts == app_spec.mounts and one_off.mounts[0].target == "/data"
    assert one_off.network == app_spec.network and one_off.network_aliases == []
    assert one_off.labels == {**app_spec.labels, "rivetr.role": "release"}  # recovery finds leftovers
    lines = await logs(api, dep["id"])
    assert "release | migrating" in lines and "release | done" in lines
    assert any(line.startswith("release command succeeded") for line in lines)
    assert lines.index("release | done") < next(
        i for i, x in enumerate(lines) if x.startswith("started container")
    )
    assert list(runtime.containers) == [dep["container_id"]]  # the one-off container is gone


async def test_a_failing_release_keeps_the_old_version(api, git_server, runtime, events):
    repo = git_server.create_repo("web")
    app = await make_app(api, repo)
    first = await settled(
        api, (await wait_status(api, (await deploy(api, app["id"]))["id"], ("running",)))["id"]
    )
    await set_fields(api, app["id"], release_command="echo no such column; exit 3")
    repo.write("www/index.html", "v2\n")
    repo.commit("v2")
    failed = await wait_status(api, (await deploy(api, app["id"]))["id"], ("running", "failed"))
    assert failed["status"] == "failed" and failed["error"] == "release command exited 3", failed
    assert "release" in failed["steps"] and "start" not in failed["steps"]
    assert failed["container_id"] is None  # the new version never started
    assert "release | no such column" in failed["log_tail"]
    current = (await api.get(f"/api/apps/{app['id']}"))[1]["current_deployment_id"]
    assert current == first["id"] and list(runtime.containers) == [first["container_id"]]
    assert runtime.images.get(failed["image"]) is None  # the unused image went too
    assert [e.data["error"] for e in events.events if e.type == "deployment_failed"] == [
        "release command exited 3"
    ]


async def test_a_release_over_its_timeout_fails_and_is_removed(api, git_server, runtime):
    repo = git_server.create_repo("web")
    app = await make_app(api, repo, release_command="echo start; sleep 30", release_timeout=1)
    dep = await wait_status(api, (await deploy(api, app["id"]))["id"], ("running", "failed"))
    assert dep["status"] == "failed" and dep["error"] == "release command timed out after 1 s", dep
    assert 900 <= dep["steps"]["release"]["duration_ms"] < 5000
    assert runtime.containers == {} and "release | start" in await logs(api, dep["id"])
    # Nothing ever served: the app is marked failed just after its deployment is (a separate write).
    for _ in range(200):
        status = (await api.get(f"/api/apps/{app['id']}"))[1]["status"]
        if status == "failed":
            break
        await asyncio.sleep(0.02)
    assert status == "failed"


async def test_cancel_during_the_release_removes_its_container(api, git_server, runtime):
    repo = git_server.create_repo("web")
    app = await make_app(api, repo, release_command="echo long; sleep 30")
    dep = await deploy(api, app["id"])
    for _ in range(500):
        if runtime.one_offs and runtime.containers:
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the release container never started")
    code, body = await api.post(f"/api/deployments/{dep['id']}/cancel")
    assert code == 200, body
    assert body["status"] == "cancelled"
    assert runtime.containers == {}


async def test_a_rollback_runs_the_release_command_too(api, git_server, runtime):
    repo = git_server.create_repo("web")
    app = await make_app(api, repo, release_command="echo migrate")
    first = await settled(
        api, (await wait_status(api, (await deploy(api, app["id"]))["id"], ("running",)))["id"]
    )
    repo.write("www/index.html", "v2\n")
    repo.commit("v2")
    await settled(api, (await wait_status(api, (await deploy(api, app["id"]))["id"], ("running",)))["id"])
    code, rollback = await api.post(f"/api/deployments/{first['id']}/rollback")
    assert code == 202, rollback
    back = await settled(api, (await wait_status(api, rollback["id"], ("running", "failed")))["id"])
    assert back["status"] == "running", back
    assert order(back) == ["release", "start", "health", "switch", "drain"]
    assert runtime.one_offs[-1].image == first["image"]  # the reused image's one-off container
    assert len(runtime.one_offs) == 3 and "release | migrate" in await logs(api, back["id"])


async def test_a_failing_post_deploy_command_is_reported_not_rolled_back(api, git_server, runtime, events):
    repo = git_server.create_repo("web")
    seen: list[tuple[str, list[str]]] = []

    def handler(container_id: str, cmd: list[str], env: dict[str, str]) -> ExecResult:
        seen.append((container_id, cmd))
        return ExecResult(2, "warming caches\ncache server unreachable\n")

    runtime.exec_handler = handler
    app = await make_app(api, repo, post_deploy_command="./warm-caches")
    dep = await wait_status(api, (await deploy(api, app["id"]))["id"], ("running", "failed"))
    assert dep["status"] == "running", dep
    dep = await settled(api, dep["id"], "post_deploy")
    assert seen == [(dep["container_id"], ["sh", "-c", "./warm-caches"])]
    step = dep["steps"]["post_deploy"]
    assert step["exit_code"] == 2 and step["error"] == "post-deploy command exited 2"
    assert order(dep)[-2:] == ["drain", "post_deploy"]
    lines = await logs(api, dep["id"])
    assert "post-deploy | cache server unreachable" in lines
    assert (await api.get(f"/api/apps/{app['id']}"))[1]["current_deployment_id"] == dep["id"]
    failures = [e for e in events.events if e.type == "post_deploy_failed"]
    assert len(failures) == 1 and isinstance(failures[0], RivetrEvent)
    assert failures[0].deployment_id == dep["id"] and failures[0].data["exit_code"] == 2
    assert failures[0].level == "warning"

    # A post-deploy command that succeeds leaves no error behind.
    runtime.exec_handler = lambda container_id, cmd, env: ExecResult(0, "ok\n")
    again = await settled(
        api, (await wait_status(api, (await deploy(api, app["id"]))["id"], ("running",)))["id"], "post_deploy"
    )
    assert again["steps"]["post_deploy"]["exit_code"] == 0 and "error" not in again["steps"]["post_deploy"]
    assert "post-deploy command succeeded" in await logs(api, again["id"])


async def test_release_fields_in_the_api(api, git_server):
    repo = git_server.create_repo("web")
    app = await make_app(api, repo)
    assert (app["release_command"], app["release_timeout"], app["post_deploy_command"]) == (None, 600.0, None)
    changed = await set_fields(
        api,
        app["id"],
        release_command="rails db:migrate",
        release_timeout=120,
        post_deploy_command="rake warm",
    )
    assert (changed["release_command"], changed["release_timeout"], changed["post_deploy_command"]) == (
        "rails db:migrate",
        120.0,
        "rake warm",
    )
    listed = (await api.get("/api/apps"))[1]["items"][0]
    assert {k: listed[k] for k in ("release_command", "release_timeout", "post_deploy_command")} == {
        "release_command": "rails db:migrate",
        "release_timeout": 120.0,
        "post_deploy_command": "rake warm",
    }
    cleared = await set_fields(api, app["id"], release_command=None, post_deploy_command="   ")
    assert cleared["release_command"] is None and cleared["post_deploy_command"] is None  # blank clears
    for body, field in (
        ({"release_timeout": 0}, "release_timeout"),
        ({"release_timeout": 86401}, "release_timeout"),
        ({"release_timeout": None}, "release_timeout"),
        ({"release_command": "x" * 2001}, "release_command"),
        ({"post_deploy_command": "a\x00b"}, "post_deploy_command"),
    ):
        code, error = await api.put(f"/api/apps/{app['id']}", json=body)
        assert code == 422, (body, error)
        assert field in re.sub(r"\s+", " ", str(error["error"])), error
