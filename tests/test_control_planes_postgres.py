"""Two ``rivetr serve`` processes on one real PostgreSQL database (engine/planes.py): the second's start-up leaves
the first's deployment in progress alone; once the first is killed (SIGKILL), the second takes its interrupted
deployment over after the first's lease ran out. A deployment stays in progress here because its clone hangs on
a loopback socket that accepts and never answers (the pipeline reached ``cloning`` on dockerd, for real)."""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rivetr_core.db import utcnow
from tests.support import postgres
from tests.support.cli import cli_env
from tests.support.postgres import PostgresServer
from tests.support.server import ServerProcess, make_config
from tests.test_cli import run

pytestmark = pytest.mark.fresh_schema

LEASE = (
    5  # seconds: [database] plane_lease_seconds: short so the takeover comes soon, long enough that a busy
)
# machine (a first plane stalled for a few seconds) does not look dead


@pytest.fixture
def silent_git() -> Iterator[str]:
    """A git URL whose server accepts connections and never answers: a clone of it stays in progress."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/web.git"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def _wait_for(what: str, probe: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


def _deployment(server: ServerProcess, dep_id: str) -> dict[str, Any]:
    with server.client(timeout=30) as client:
        response = client.get(f"/api/deployments/{dep_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())


def _planes(server: ServerProcess) -> list[dict[str, Any]]:
    with server.client(timeout=30) as client:
        response = client.get("/api/system/control-planes")
        assert response.status_code == 200, response.text
        return list(response.json()["items"])


@pytest.mark.docker
@pytest.mark.slow
def test_a_second_control_plane_leaves_the_first_ones_deployment_alone_then_takes_it_over_when_it_dies(
    postgres_server: PostgresServer,
    rivetr_server: Callable[..., ServerProcess],
    tmp_path: Path,
    silent_git: str,
    git_server: Any,
):
    """The first plane runs one deployment at a time: its clone hangs, and another app's deployment waits queued
    behind it. Once the first plane is killed, the second fails the interrupted one and runs the queued one to
    success, once (before, it failed both)."""
    name = postgres_server.create_database()
    env = {
        "RIVETR_DATABASE__URL": f"postgresql://postgres@127.0.0.1:{postgres_server.port}/{name}",
        "RIVETR_DATABASE__PLANE_LEASE_SECONDS": str(LEASE),
        "RIVETR_RUNTIME__RUNTIME_TYPE": "docker",
        "RIVETR_RUNTIME__MAX_CONCURRENT_DEPLOYMENTS": "1",
        "RIVETR_GIT__ALLOW_LOCAL": "true",
    }
    repo = git_server.create_repo("queued")
    first = rivetr_server(env=env, data_dir=tmp_path / "first", timeout=60)
    with first.client(timeout=30) as client:
        created = client.post("/api/apps", json={"name": "web", "git_url": silent_git, "port": 8000})
        assert created.status_code == 201, created.text
        queued = client.post(f"/api/apps/{created.json()['id']}/deploy")
        assert queued.status_code in (200, 201, 202), queued.text
    dep_id = queued.json()["id"]
    _wait_for("the clone to start", lambda: _deployment(first, dep_id)["status"] == "cloning")
    with first.client(timeout=30) as client:
        other = client.post("/api/apps", json={"name": "queued", "git_url": repo.url, "port": 8000})
        assert other.status_code == 201, other.text
        waiting = client.post(f"/api/apps/{other.json()['id']}/deploy")
        assert waiting.status_code in (200, 201, 202), waiting.text
    waiting_id = waiting.json()["id"]

    second = rivetr_server(env=env, data_dir=tmp_path / "second", timeout=60)
    planes = _planes(second)
    assert [p["alive"] for p in planes] == [True, True]
    assert [p["pid"] for p in planes if p["leader"]] == [first.proc.pid]  # the plane that started first
    assert [p["pid"] for p in planes if p["this"]] == [second.proc.pid]
    listed = run(["system", "control-planes"], cli_env(second, tmp_path))
    assert listed.exit_code == 0, listed.output
    rows = {line.split()[2]: line for line in listed.output.splitlines()[1:3]}  # by pid
    assert "alive" in rows[str(first.proc.pid)] and "leader" in rows[str(first.proc.pid)]
    assert rows[str(second.proc.pid)].rstrip().endswith("*") and "leader" not in rows[str(second.proc.pid)]
    assert f"database: postgresql, lease {LEASE} s" in listed.output
    # Several lease rounds of the second plane go by: the first renews its lease, so nothing is taken over.
    time.sleep(2 * LEASE)
    seen = _deployment(second, dep_id)
    assert seen["status"] == "cloning", seen
    assert seen["error"] is None
    behind = _deployment(second, waiting_id)
    assert behind["status"] == "queued" and behind["started_at"] is None, (
        behind
    )  # the first's one slot is taken

    first.stop(signal.SIGKILL)
    failed = _wait_for(
        "the second plane to take the deployment over",
        lambda: (d := _deployment(second, dep_id))["status"] == "failed" and d,
    )
    assert (
        failed["error"]
        == "interrupted: the control plane running it stopped while the deployment was cloning"
    )
    # The queued one, which the first plane never started, is run by the second, to success, once.
    ran = _wait_for(
        "the second plane to run the queued deployment",
        lambda: (d := _deployment(second, waiting_id))["status"] in ("running", "failed") and d,
        timeout=300,
    )
    second_id = next(p["id"] for p in _planes(second) if p["this"])
    assert ran["status"] == "running" and ran["error"] is None, ran
    assert ran["plane_id"] == second_id and ran["commit_sha"] == repo.head()
    with second.client(timeout=30) as client:
        listed = client.get(f"/api/apps/{other.json()['id']}/deployments").json()["items"]
        lines = [entry["line"] for entry in client.get(f"/api/deployments/{waiting_id}/logs").json()]
    assert [d["id"] for d in listed] == [waiting_id]
    assert lines.count("taken over: the control plane that queued it stopped; queued here") == 1, lines
    shown = run(["deployments", "show", waiting_id], cli_env(second, tmp_path))
    assert shown.exit_code == 0, shown.output
    assert ["plane:", second_id] in [line.split() for line in shown.output.splitlines()], shown.output
    app_shown = run(["apps", "show", "queued"], cli_env(second, tmp_path))
    assert app_shown.exit_code == 0, app_shown.output
    header, row = app_shown.output.splitlines()[-2:]  # its deployments, newest first: the one it ran
    assert header.split()[-2:] == ["PLANE", "ERROR"] and row.split()[0] == waiting_id, app_shown.output
    assert second_id[:8] in row.split(), app_shown.output
    # The dead plane is forgotten by the leader (the second, now alone).
    _wait_for(
        "the dead plane to be forgotten", lambda: [p["pid"] for p in _planes(second)] == [second.proc.pid]
    )
    assert _planes(second)[0]["leader"] is True
    owner = postgres_server.sql(f"SELECT plane_id FROM deployments WHERE id = '{dep_id}'", name).strip()
    assert owner == _planes(second)[0]["id"]
    with httpx.Client(base_url=second.url, timeout=30) as anonymous:
        assert anonymous.get("/api/system/control-planes").status_code == 401


async def test_the_server_page_and_the_api_show_the_planes(postgres_server: PostgresServer, tmp_path: Path):
    """Two in-process control planes on one database: the second's Server page names the leader (the first);
    each API answer marks the plane that answered."""
    from contextlib import AsyncExitStack

    from rivetr_core.app import create_app
    from tests.support.server import ApiClient
    from ui.tests.test_pages import do_setup

    url = postgres_server.url(postgres_server.create_database())
    async with AsyncExitStack() as stack:
        apps = []
        for name in ("one", "two"):
            app = create_app(make_config(tmp_path / name, database={"url": url}))
            await stack.enter_async_context(app.test_app())  # type: ignore[arg-type]
            apps.append(app)
        planes = [app.extensions["rivetr_ctx"].services["deployments"].plane for app in apps]
        code, body = await ApiClient(apps[1]).get("/api/system/control-planes")
        assert code == 200, body
        assert body["database"] == "postgresql" and body["lease_seconds"] == 30
        assert [(p["id"], p["leader"], p["this"]) for p in body["items"]] == [
            (planes[0].id, True, False),
            (planes[1].id, False, True),
        ]
        client = apps[1].test_client()
        await do_setup(client)
        page = await (await client.get("/server")).get_data(as_text=True)
    line = page.split("data-control-planes>", 1)[1].split("</div>", 1)[0]
    assert line.startswith("2 control planes alive · leader ")
    assert f"pid {planes[0].pid}" in line and "(this one)" not in line


@pytest.mark.skipif(postgres.enabled(), reason="the SQLite answer (RIVETR_TEST_DATABASE=postgres is set)")
async def test_on_sqlite_the_one_plane_is_the_server_itself(api: Any):
    code, body = await api.get("/api/system/control-planes")
    assert code == 200, body
    assert body["database"] == "sqlite" and body["lease_seconds"] is None
    assert [(p["id"], p["alive"], p["leader"], p["this"]) for p in body["items"]] == [
        (None, True, True, True)
    ]


async def test_crash_restarts_and_orphan_removal_are_the_owning_planes_business(
    postgres_server: PostgresServer, tmp_path: Path, fake_runtime: Any
):
    """Two planes on one database and one engine (one install: one instance id). The first plane's serving
    deployment crashes and its replaced one's container is still there (draining): the second plane's crash
    watcher and orphan removal leave both alone; the first's restart the one and remove the other."""
    from contextlib import AsyncExitStack

    from rivetr_core.contract import RunSpec
    from rivetr_core.engine.recovery import CrashWatcher, remove_orphans
    from rivetr_core.models.apps import App, Deployment
    from rivetr_core.testing.fake_runtime import FakeImage
    from tests.support.server import api_on

    image = "localhost/rivetr/web:1"
    fake_runtime.images[image] = FakeImage(id="sha256:" + "1" * 64, body="v1")
    url = postgres_server.url(postgres_server.create_database())
    async with AsyncExitStack() as stack:
        apis = [
            await stack.enter_async_context(
                api_on(
                    fake_runtime,
                    make_config(
                        tmp_path / name, database={"url": url}, runtime={"crash_check_interval": 3600}
                    ),
                )
            )
            for name in ("one", "two")
        ]
        one, two = (api.ctx.services["deployments"] for api in apis)
        assert one.instance_id == two.instance_id and one.plane.id != two.plane.id
        code, body = await apis[0].post(
            "/api/apps", json={"name": "web", "git_url": "https://git.example.com/acme/web.git", "port": 8000}
        )
        assert code == 201, body
        async with one.db.session() as session:
            replaced = Deployment(app_id=body["id"], status="replaced", image=image, plane_id=one.plane.id)
            serving = Deployment(app_id=body["id"], status="running", image=image, plane_id=one.plane.id)
            session.add_all([replaced, serving])
            await session.commit()
        draining = await fake_runtime.run(
            RunSpec(image=image, name="web-old", labels=one.labels(body["id"], replaced.id))
        )
        current = await fake_runtime.run(
            RunSpec(image=image, name="web-now", labels=one.labels(body["id"], serving.id))
        )
        async with one.db.session() as session:
            row = await session.get(Deployment, serving.id)
            app = await session.get(App, body["id"])
            assert row is not None and app is not None
            row.container_id, row.upstream = current.id, current.upstream
            app.current_deployment_id, app.status = serving.id, "running"
            session.add_all([row, app])
            await session.commit()
        fake_runtime.crash(current.id)

        assert await CrashWatcher(two).check_once() == []
        assert await remove_orphans(two) == []
        assert draining.id in fake_runtime.containers
        assert await CrashWatcher(one).check_once() == [serving.id]
        assert await remove_orphans(one) == [draining.id]


async def test_a_restart_on_the_same_data_dir_takes_over_at_once_from_its_killed_predecessor(
    postgres_server: PostgresServer, tmp_path: Path
):
    """A plane killed and restarted within one lease: its row still looks alive, but its lock file in the data
    dir is free (the kernel dropped the flock with the process), so the new plane recovers its deployment at
    start-up. A plane whose lock is held (alive, sharing the data dir) is left alone."""
    import fcntl
    import os
    from contextlib import AsyncExitStack

    from rivetr_core.app import create_app
    from tests.support.server import ApiClient

    name = postgres_server.create_database()
    url = postgres_server.url(name)
    data = tmp_path / "data"
    config = make_config(data, database={"url": url})
    async with AsyncExitStack() as stack:
        app = create_app(config)
        await stack.enter_async_context(app.test_app())  # type: ignore[arg-type]
        code, body = await ApiClient(app).post(
            "/api/apps", json={"name": "web", "git_url": "https://git.example.com/acme/web.git", "port": 8000}
        )
        assert code == 201, body
    (data / "planes" / "killed.lock").write_text("")  # its process is gone: nobody holds the lock
    held = os.open(data / "planes" / "alive.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(held, fcntl.LOCK_EX)
    try:
        for plane in ("killed", "alive"):
            postgres_server.sql(
                "INSERT INTO control_planes (id, host, pid, version, started_at, heartbeat_at)"
                f" VALUES ('{plane}', 'h', 1, '0.1.0', now(), now());"
                "INSERT INTO deployments (id, app_id, status, trigger, no_cache, image_removed, log_tail, steps,"
                f" restart_count, created_at, plane_id) VALUES ('dep-{plane}', '{body['id']}', 'building', 'api',"
                f" false, false, '[]', '{{}}', 0, now(), '{plane}')",
                name,
            )
        async with AsyncExitStack() as stack:
            app = create_app(config)
            await stack.enter_async_context(app.test_app())  # type: ignore[arg-type]
            client = ApiClient(app)
            _, killed = await client.get("/api/deployments/dep-killed")
            _, alive = await client.get("/api/deployments/dep-alive")
    finally:
        os.close(held)
    assert killed["status"] == "failed" and killed["error"].startswith("interrupted: the server stopped")
    assert alive["status"] == "building"
    assert not (data / "planes" / "killed.lock").exists()


IMAGE = "registry.example.com/team/api:1"
STACK = "services:\n  web:\n    image: registry.example.com/team/api:1\n"


async def _settled(api: Any, dep_id: str) -> dict[str, Any]:
    """The deployment once it left queued and in-progress (fake runtime: a moment)."""
    import asyncio

    async with asyncio.timeout(30):
        while True:
            code, dep = await api.get(f"/api/deployments/{dep_id}")
            assert code == 200, dep
            if dep["status"] in ("running", "failed", "cancelled", "superseded"):
                return dict(dep)
            await asyncio.sleep(0.02)


async def test_a_dead_planes_stack_deployments_and_task_runs_are_taken_over_a_live_ones_left_alone(
    postgres_server: PostgresServer, tmp_path: Path, fake_runtime: Any
):
    """Stack deployments and app task runs record their plane. A starting plane leaves a live plane's in
    progress alone and recovers a dead plane's (its started stack deployment fails, its task run ends
    interrupted). Then the first plane stops: the survivor's lease round runs the first's queued stack deployment
    to success and fails its started one, and ends its task run interrupted (before plane columns, a live plane
    could not tell whose they were and left them all in progress)."""
    from contextlib import AsyncExitStack

    from rivetr_core.engine.recovery import take_over
    from rivetr_core.models.apps import App
    from rivetr_core.models.stacks import Stack, StackDeployment
    from rivetr_core.models.tasks import AppTask, AppTaskRun
    from tests.support.server import api_on

    fake_runtime.publish(IMAGE, body="v1")
    url = postgres_server.url(postgres_server.create_database())
    async with AsyncExitStack() as outer:
        async with AsyncExitStack() as stack:
            first = await stack.enter_async_context(
                api_on(fake_runtime, make_config(tmp_path / "one", database={"url": url}))
            )
            one = first.ctx.services["deployments"].plane
            code, shop = await first.post("/api/stacks", json={"name": "shop", "compose": STACK})
            assert code == 201, shop
            # A deployment of the live plane: recorded as its own, claimed by it.
            code, mine = await first.post(f"/api/stacks/{shop['id']}/deploy")
            assert code == 202, mine
            assert (await _settled(first, mine["id"]))["plane_id"] == one.id
            async with first.ctx.db.session() as session:
                app = App(name="web", git_url="https://git.example.com/acme/web.git", port=8000)
                side = Stack(name="side", compose=STACK)
                session.add_all([app, side])
                await session.commit()
                task = AppTask(app_id=app.id, name="report", command="true", schedule="0 0 * * *")
                live_building = StackDeployment(
                    stack_id=side.id, status="building", started_at=utcnow(), plane_id=one.id
                )
                live_queued = StackDeployment(stack_id=shop["id"], status="queued", plane_id=one.id)
                dead_building = StackDeployment(
                    stack_id=side.id, status="building", started_at=utcnow(), plane_id="gone"
                )
                session.add_all([task, live_building, live_queued, dead_building])
                await session.commit()
                live_run = AppTaskRun(task_id=task.id, app_id=app.id, command="true", plane_id=one.id)
                dead_run = AppTaskRun(task_id=task.id, app_id=app.id, command="true", plane_id="gone")
                session.add_all([live_run, dead_run])
                await session.commit()

            second = await outer.enter_async_context(
                api_on(fake_runtime, make_config(tmp_path / "two", database={"url": url}))
            )
            two = second.ctx.services["deployments"].plane
            for task_ in [t for t in second.ctx._tasks if t.get_name() == "stacks-recovery"]:
                await task_  # its start-up recovery, to its end
            code, failed = await second.get(f"/api/deployments/{dead_building.id}")
            assert failed["status"] == "failed" and failed["error"] == "interrupted: the server stopped", (
                failed
            )
            for dep in (live_building, live_queued):
                code, alive = await second.get(f"/api/deployments/{dep.id}")
                assert alive["status"] == dep.status and alive["plane_id"] == one.id, alive
            code, runs = await second.get(f"/api/apps/{app.id}/tasks/{task.id}/runs")
            assert code == 200, runs
            by_id = {r["id"]: r for r in runs["items"]}
            assert by_id[live_run.id]["status"] == "running" and by_id[live_run.id]["plane_id"] == one.id
            assert by_id[dead_run.id]["status"] == "interrupted" and by_id[dead_run.id]["plane_id"] == "gone"
            assert await take_over(second.ctx.services["deployments"]) == []  # the first lives: nothing
            code, alive = await second.get(f"/api/deployments/{live_queued.id}")
            assert alive["status"] == "queued", alive
        # The first plane stopped (its row went at once): the second's next lease round takes its work over.
        await take_over(second.ctx.services["deployments"])
        ran = await _settled(second, live_queued.id)
        assert ran["status"] == "running" and ran["plane_id"] == two.id, ran
        async with second.ctx.db.session() as session:
            dep = await session.get(StackDeployment, live_building.id)
            run = await session.get(AppTaskRun, live_run.id)
        assert dep is not None and dep.status == "failed" and dep.plane_id == two.id
        assert dep.error == "interrupted: the control plane running it stopped"
        assert run is not None and run.status == "interrupted" and run.plane_id == one.id
        assert run.error == "the control plane running it stopped before the run finished"
        # The dashboard names each one's plane beside it.
        from ui.tests.test_pages import do_setup

        client = second.app.test_client()
        await do_setup(client)
        page = await (await client.get(f"/stacks/{shop['id']}/partials/deployments")).get_data(as_text=True)
        assert f'data-plane="{one.id}"' in page and f'data-plane="{two.id}"' in page  # mine; live_queued
        page = await (await client.get(f"/apps/{app.id}/partials/tasks")).get_data(as_text=True)
        assert f'data-plane="{one.id}"' in page and 'data-plane="gone"' in page


async def test_two_planes_taking_over_a_dead_planes_queued_deployment_run_it_once(
    postgres_server: PostgresServer, tmp_path: Path, fake_runtime: Any
):
    """A deployment a dead plane queued and never claimed is run by a live plane, not failed; two planes whose
    lease rounds race adopt it once between them (the adoption's row lock) and the image is pulled once. One it
    had claimed (its pipeline died with it) fails."""
    import asyncio
    from contextlib import AsyncExitStack

    from rivetr_core.engine.recovery import take_over
    from rivetr_core.models.apps import Deployment
    from tests.support.server import api_on

    fake_runtime.publish(IMAGE, body="v1")
    url = postgres_server.url(postgres_server.create_database())
    async with AsyncExitStack() as stack:
        apis = [
            await stack.enter_async_context(
                api_on(fake_runtime, make_config(tmp_path / name, database={"url": url}))
            )
            for name in ("one", "two")
        ]
        svcs = [api.ctx.services["deployments"] for api in apis]
        code, app = await apis[0].post(
            "/api/apps", json={"name": "api", "source": {"kind": "image", "image": IMAGE}, "port": 8080}
        )
        assert code == 201, app
        async with svcs[0].db.session() as session:
            queued = Deployment(app_id=app["id"], status="queued", plane_id="gone")
            claimed = Deployment(app_id=app["id"], status="queued", started_at=utcnow(), plane_id="gone")
            session.add_all([claimed, queued])
            await session.commit()
        taken = await asyncio.gather(*(take_over(svc) for svc in svcs))
        assert sorted(len(t) for t in taken) == [0, 2], taken  # one plane adopted both
        winner = svcs[[len(t) for t in taken].index(2)]
        ran = await _settled(apis[0], queued.id)
        assert ran["status"] == "running" and ran["plane_id"] == winner.plane.id, ran
        code, lost = await apis[0].get(f"/api/deployments/{claimed.id}")
        assert lost["status"] == "failed", lost
        assert (
            lost["error"]
            == "interrupted: the control plane running it stopped while the deployment was queued"
        )
        assert fake_runtime.pulls == [IMAGE]
        from ui.tests.test_pages import do_setup

        client = apis[0].app.test_client()
        await do_setup(client)
        page = await (await client.get(f"/apps/{app['id']}/partials/deployments")).get_data(as_text=True)
        assert f'data-plane="{winner.plane.id}"' in page
        # Both planes handed the same adopted deployment (as if both had adopted it): the claim lets one run it.
        async with svcs[0].db.session() as session:
            again = Deployment(app_id=app["id"], status="queued", plane_id="gone")
            session.add(again)
            await session.commit()
        from rivetr_core.engine.recovery import run_adopted

        for svc in svcs:
            await run_adopted(svc, [again])
        await asyncio.gather(*(svc.queue.wait(again.id, timeout=30) for svc in svcs))
        assert (await _settled(apis[0], again.id))["status"] == "running"
        assert fake_runtime.pulls == [IMAGE, IMAGE]
