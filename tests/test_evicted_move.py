"""The crash watcher moves an evicted container (its engine took it off its node: a swarm task on a node drained
outside Rivetr, or lost) instead of crash-restarting it: ``start`` on the same container, no ``container_crashed``,
the restart budget untouched, and the routes follow its new upstream (engine/moved.py ``start_evicted``), with one
``container_moved`` event saying why (``evicted``; ``moved`` for the engine's own move, ``drain`` for a drain through
Rivetr).

On the fake runtime: a container the test evicts reports status ``evicted`` until it is started again, on another
port (what a task on another node is to the proxy). The real swarm case is in
plugins/runtime-swarm/tests/test_multinode_swarm.py."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.contract import ContainerInfo
from rivetr_core.testing.fake_runtime import FakeContainer, FakeRuntime
from tests import test_deploy_pipeline as pipeline
from tests.support.server import ApiClient, make_config
from tests.test_deploy_pipeline import deploy_and_wait, make_app

# The pipeline tests' API client on the fake runtime (a fast crash watcher) and their event recorder.
events = pipeline.events
papi = pipeline.papi


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def evict(fake: FakeRuntime, container_id: str) -> None:
    """The engine takes the container off its node: it stops, says ``evicted``, and its next ``start`` serves on
    another port (a task placed on another node)."""
    fake.crash(container_id, exit_code=0)
    evicted = {container_id}
    info_of = fake._info

    def info(c: FakeContainer) -> ContainerInfo:
        out = info_of(c)
        return dataclasses.replace(out, status="evicted") if c.id in evicted and not c.running else out

    fake._info = info  # type: ignore[method-assign]
    start = fake.start

    async def start_elsewhere(cid: str) -> None:
        if cid in evicted:
            fake.containers[cid].port = _free_port()
            evicted.discard(cid)
        await start(cid)

    fake.start = start_elsewhere  # type: ignore[method-assign,assignment]


async def routed(api: Any) -> list[str]:
    code, routes = await api.get("/api/routes")
    assert code == 200
    [route] = [r for r in routes["items"] if r["domain"] == "web.example.com"]
    return [u["address"] for u in route["upstreams"]]


async def test_an_evicted_container_is_moved_not_crash_restarted(
    papi: Any, git_server: Any, fake_runtime: Any, events: Any
) -> None:
    repo = git_server.create_repo("web")
    app = await make_app(papi, repo)
    dep = await deploy_and_wait(papi, app["id"], ("running",))
    cid, before = dep["container_id"], dep["upstream"]
    evict(fake_runtime, cid)
    for _ in range(300):
        now = (await papi.get(f"/api/deployments/{dep['id']}"))[1]
        if (
            cid in fake_runtime.live()
            and now["upstream"] != before
            and await routed(papi) == [now["upstream"]]
        ):
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError(f"not moved: {now}, routes {await routed(papi)}")
    # The same container, started again; no crash counted, no crash event; the route follows the new port.
    assert now["container_id"] == cid and now["restart_count"] == 0, now
    assert [c["container_id"] for c in fake_runtime.calls_to("start")] == [cid]
    assert len(fake_runtime.runs) == 1  # no new container
    types = {e.type for e in events.events}
    assert "container_crashed" not in types and "container_restarted" not in types, types
    # One app event says what happened: where it ran, where it runs now, and why.
    [moved] = [e for e in events.events if e.type == "container_moved"]
    assert (moved.app_id, moved.deployment_id, moved.level) == (app["id"], dep["id"], "info")
    assert moved.data == {"reason": "evicted", "replica": 0, "from": before, "to": now["upstream"]}, (
        moved.data
    )
    _code, got = await papi.get(f"/api/apps/{app['id']}")
    assert got["status"] == "running"


async def test_a_container_the_engine_moved_by_itself_is_followed_with_one_event(
    papi: Any, git_server: Any, fake_runtime: Any, events: Any
) -> None:
    """No eviction: the engine replaced the task itself (``docker service update --force``): the running
    container's port changes under the crash watcher, which follows it (engine/moved.py ``follow``)."""
    repo = git_server.create_repo("web")
    app = await make_app(papi, repo)
    dep = await deploy_and_wait(papi, app["id"], ("running",))
    cid, before = dep["container_id"], dep["upstream"]
    fake_runtime.containers[cid].port = _free_port()
    for _ in range(300):
        now = (await papi.get(f"/api/deployments/{dep['id']}"))[1]
        if now["upstream"] != before and await routed(papi) == [now["upstream"]]:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError(f"not followed: {now}, routes {await routed(papi)}")
    moved = [e for e in events.events if e.type == "container_moved"]
    assert [e.data for e in moved] == [
        {"reason": "moved", "replica": 0, "from": before, "to": now["upstream"]}
    ]
    assert "container_crashed" not in {e.type for e in events.events}


@pytest.fixture
async def quiet_api(tmp_path: Path, fake_runtime: FakeRuntime, events: Any) -> AsyncIterator[ApiClient]:
    """The pipeline's API without a crash-watcher round during the test: only the drain's follow sees a move."""
    from rivetr_core.app import create_app

    config = make_config(
        tmp_path / "data", runtime={"max_concurrent_deployments": 1, "crash_check_interval": 3600}
    )
    app = create_app(config, plugins=[events])
    app.extensions["rivetr_ctx"]._runtime = fake_runtime
    async with app.test_app():
        yield ApiClient(app)


async def test_a_drain_through_rivetr_reports_its_moves_as_drain(
    quiet_api: Any, git_server: Any, fake_runtime: Any, events: Any
) -> None:
    """A drain through Rivetr calls ``follow_all`` once the node's tasks run elsewhere (runtime-swarm drain.py)."""
    from rivetr_core.engine.moved import follow_all

    repo = git_server.create_repo("web")
    app = await make_app(quiet_api, repo)
    dep = await deploy_and_wait(quiet_api, app["id"], ("running",))
    cid, before = dep["container_id"], dep["upstream"]
    fake_runtime.containers[cid].port = _free_port()  # its task started on another node
    [after] = await follow_all(quiet_api.ctx)
    assert await routed(quiet_api) == [after] and after != before
    moved = [e for e in events.events if e.type == "container_moved"]
    assert [e.data for e in moved] == [{"reason": "drain", "replica": 0, "from": before, "to": after}]
    assert await follow_all(quiet_api.ctx) == []  # followed: nothing new to report
    assert len([e for e in events.events if e.type == "container_moved"]) == 1
