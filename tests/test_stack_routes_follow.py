"""A stack's routes follow a routed container its engine replaced (rivetr_core/stacks/watch.py, moved.py): with the
FAKE runtime, a deployed stack's routed container is "moved" (another host port, as a swarm's new task gets),
one watcher round records the new upstream in the deployment and points the domain at it; a round with nothing
moved changes nothing. Real swarm: plugins/runtime-swarm/tests/test_stack_swarm_e2e.py."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.models.core import ProxyRoute
from rivetr_core.models.stacks import StackDeployment
from rivetr_core.stacks.watch import check_once
from rivetr_core.testing import FakeRuntime
from rivetr_core.testing.fake_runtime import FakeImage
from tests.support.server import ApiClient, make_config
from tests.test_stacks_api import BUSYBOX, create, wait_deployment


@pytest.fixture
async def api(tmp_path: Path, fake_runtime: FakeRuntime) -> AsyncIterator[ApiClient]:
    """A server whose own watcher round never comes during the test (the test runs the rounds)."""
    from rivetr_core.app import create_app

    fake_runtime.images[BUSYBOX] = FakeImage(id="sha256:busybox")
    fake_runtime.registry["docker.io/library/redis:7"] = FakeImage(id="sha256:redis")
    app = create_app(make_config(tmp_path / "data", runtime={"crash_check_interval": 3600}))
    app.extensions["rivetr_ctx"]._runtime = fake_runtime
    async with app.test_app():
        yield ApiClient(app)


async def test_a_moved_routed_container_is_followed(api: ApiClient, fake_runtime: FakeRuntime) -> None:
    stack = await create(api, domains=[{"domain": "shop.example.com", "service": "web", "port": 8080}])
    code, dep = await api.post(f"/api/stacks/{stack['id']}/deploy")
    assert code == 202, dep
    dep = await wait_deployment(api, dep["id"])
    assert dep["status"] == "running", dep
    ctx: Any = api.app.extensions["rivetr_ctx"]

    async def route() -> list[str]:
        async with ctx.db.session() as session:
            row = await session.get(ProxyRoute, "shop.example.com")
            return list(row.upstreams)

    [before] = await route()
    assert await check_once(ctx) == []  # nothing moved: nothing recorded
    [web] = [
        c for c in fake_runtime.containers.values() if c.spec.labels.get("rivetr.stack.service") == "web"
    ]
    # What a swarm's new task looks like from here: the same service id, another host port.
    web.ports = [dataclasses.replace(p, host_port=p.host_port + 1) for p in web.ports]
    web.port += 1
    moved = await check_once(ctx)
    assert moved == [f"127.0.0.1:{int(before.rsplit(':', 1)[1]) + 1}"], (before, moved)
    assert await route() == moved
    async with ctx.db.session() as session:
        row = await session.get(StackDeployment, dep["id"])
        assert [c["upstream"] for c in row.services["web"]["containers"]] == moved
    assert await check_once(ctx) == []
