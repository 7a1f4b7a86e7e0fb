"""Volumes through the API with the FAKE runtime (``rivetr_core.testing.FakeRuntime``): validation (422 naming
the field, 409 on a taken name or path), what reaches the runtime (``RunSpec.mounts`` on deploy and crash
restart), deleting an app with and without ``keep_volumes``, preview apps' own volumes and the recreate
strategy's order. The real-engine versions (data surviving redeploys, rollbacks, crash and Rivetr restarts)
are in tests/e2e/test_volumes.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.testing import FakeRuntime
from tests.support.server import ApiClient, make_config
from tests.test_deploy_pipeline import deploy_and_wait, make_app, wait_status


@pytest.fixture
async def vapi(tmp_path: Path, fake_runtime: FakeRuntime) -> AsyncIterator[ApiClient]:
    from rivetr_core.app import create_app

    (tmp_path / "binds" / "site").mkdir(parents=True)
    config = make_config(
        tmp_path / "data",
        runtime={"crash_check_interval": 0.1, "restart_backoff_seconds": 0.05},
        volumes={"allowed_bind_roots": [str(tmp_path / "binds")]},
    )
    app = create_app(config)
    app.extensions["rivetr_ctx"]._runtime = fake_runtime
    async with app.test_app():
        yield ApiClient(app)


GIT = {"git_url": "https://git.example.com/acme/web.git", "port": 8000}


async def _app(api: ApiClient, name: str = "web") -> str:
    code, body = await api.post("/api/apps", json={"name": name, **GIT})
    assert code == 201, body
    return str(body["id"])


def _field(body: dict[str, Any]) -> str:
    return str(body["error"]["details"][0]["field"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Data", "mount_path": "/data"}, "name"),
        ({"name": "my_data", "mount_path": "/data"}, "name"),
        ({"name": "-data", "mount_path": "/data"}, "name"),
        ({"name": "a" * 64, "mount_path": "/data"}, "name"),
        ({"name": "data", "mount_path": "data"}, "mount_path"),
        ({"name": "data", "mount_path": "/"}, "mount_path"),
        ({"name": "data", "mount_path": "/data/.."}, "mount_path"),
        ({"name": "data", "mount_path": "/data", "kind": "nfs"}, "kind"),
        ({"name": "data", "mount_path": "/data", "host_path": "/srv"}, "host_path"),
        ({"name": "site", "mount_path": "/site", "kind": "bind"}, "host_path"),
        ({"name": "site", "mount_path": "/site", "kind": "bind", "host_path": "relative"}, "host_path"),
        ({"name": "site", "mount_path": "/site", "kind": "bind", "host_path": "/etc"}, "host_path"),
        ({"name": "data", "mount_path": "/data", "size": 1}, "size"),
    ],
)
async def test_invalid_volume_is_a_422_naming_the_field(vapi, body, field):
    app_id = await _app(vapi)
    code, answer = await vapi.post(f"/api/apps/{app_id}/volumes", json=body)
    assert code == 422, answer
    assert answer["error"]["code"] == "validation_error" and _field(answer) == field, answer
    assert (await vapi.get(f"/api/apps/{app_id}/volumes"))[1] == {"items": [], "next": None}


async def test_bind_outside_the_allowed_roots_escaping_with_dotdot(vapi, tmp_path):
    app_id = await _app(vapi)
    sneaky = str(tmp_path / "binds" / ".." / "data")
    code, answer = await vapi.post(
        f"/api/apps/{app_id}/volumes",
        json={"name": "x", "mount_path": "/x", "kind": "bind", "host_path": sneaky},
    )
    assert code == 422 and _field(answer) == "host_path", answer


async def test_binds_are_refused_without_allowed_roots(api):
    code, app = await api.post("/api/apps", json={"name": "web", **GIT})
    assert code == 201
    code, answer = await api.post(
        f"/api/apps/{app['id']}/volumes",
        json={"name": "site", "mount_path": "/site", "kind": "bind", "host_path": "/srv/site"},
    )
    assert code == 422 and _field(answer) == "host_path", answer
    assert "allowed_bind_roots" in answer["error"]["message"]


async def test_two_mounts_on_one_path_or_one_name_are_409(vapi):
    app_id = await _app(vapi)
    url = f"/api/apps/{app_id}/volumes"
    code, first = await vapi.post(url, json={"name": "data", "mount_path": "/data"})
    assert code == 201, first
    assert first["size_bytes"] == 0 and first["engine_name"] == f"rivetr-{app_id}-data"
    code, answer = await vapi.post(url, json={"name": "other", "mount_path": "/data/"})
    assert code == 409 and _field(answer) == "mount_path", answer
    code, answer = await vapi.post(url, json={"name": "data", "mount_path": "/elsewhere"})
    assert code == 409 and _field(answer) == "name", answer
    code, second = await vapi.post(url, json={"name": "cache", "mount_path": "/cache"})
    assert code == 201
    code, answer = await vapi.put(f"{url}/{second['id']}", json={"mount_path": "/data"})
    assert code == 409 and _field(answer) == "mount_path", answer
    code, answer = await vapi.put(f"{url}/{second['id']}", json={"name": "renamed"})
    assert code == 422 and _field(answer) == "name", answer  # its data would be left behind
    code, moved = await vapi.put(
        f"{url}/{second['id']}", json={"mount_path": "/var/cache", "read_only": True}
    )
    assert code == 200 and moved["mount_path"] == "/var/cache" and moved["read_only"] is True
    code, _ = await vapi.get("/api/apps/nope/volumes")
    assert code == 404


async def test_deploy_and_crash_restart_mount_the_app_volumes(vapi, git_server, fake_runtime, tmp_path):
    repo = git_server.create_repo("web")
    app = await make_app(vapi, repo)
    url = f"/api/apps/{app['id']}/volumes"
    assert (await vapi.post(url, json={"name": "data", "mount_path": "/data"}))[0] == 201
    site = str(tmp_path / "binds" / "site")
    body = {"name": "site", "mount_path": "/site", "kind": "bind", "host_path": site, "read_only": True}
    assert (await vapi.post(url, json=body))[0] == 201
    dep = await deploy_and_wait(vapi, app["id"], ("running",))
    mounts = {m.target: m for m in fake_runtime.runs[-1].mounts}
    assert mounts["/data"].kind == "volume" and mounts["/data"].source == f"rivetr-{app['id']}-data"
    assert (
        mounts["/data"].labels["rivetr.app"] == app["id"]
        and mounts["/data"].labels["rivetr.volume"] == "data"
    )
    assert mounts["/data"].labels["rivetr.instance"]
    assert mounts["/site"].kind == "bind" and mounts["/site"].source == site and mounts["/site"].read_only
    runs = len(fake_runtime.runs)
    fake_runtime.crash(dep["container_id"])
    for _ in range(200):
        if len(fake_runtime.runs) > runs:
            break
        await asyncio.sleep(0.02)
    assert [m.source for m in fake_runtime.runs[-1].mounts] == [m.source for m in mounts.values()]
    listed = (await vapi.get(url))[1]["items"]
    assert [(v["mount_path"], v["size_bytes"]) for v in listed] == [("/data", 0), ("/site", None)]
    # Deleted while the running container mounts it: the mount goes at once, the data once the next
    # deployment replaced that container.
    data_id = next(v["id"] for v in listed if v["name"] == "data")
    code, answer = await vapi.delete(f"{url}/{data_id}")
    assert code == 204, answer
    assert [v["name"] for v in (await vapi.get(url))[1]["items"]] == ["site"]
    engine_name = f"rivetr-{app['id']}-data"
    assert engine_name in fake_runtime.volumes  # still mounted
    await deploy_and_wait(vapi, app["id"], ("running",))
    for _ in range(200):  # pruned right after the drain step
        if engine_name not in fake_runtime.volumes:
            break
        await asyncio.sleep(0.02)
    assert engine_name not in fake_runtime.volumes
    assert [m.target for m in fake_runtime.runs[-1].mounts] == ["/site"]


async def test_deleting_an_unused_volume_removes_its_data_at_once(vapi, git_server, fake_runtime):
    app = await make_app(vapi, git_server.create_repo("web"))
    url = f"/api/apps/{app['id']}/volumes"
    code, row = await vapi.post(url, json={"name": "data", "mount_path": "/d"})
    assert code == 201
    fake_runtime.volumes[f"rivetr-{app['id']}-data"] = {"rivetr.app": app["id"]}  # made by an earlier start
    assert (await vapi.delete(f"{url}/{row['id']}"))[0] == 204
    assert fake_runtime.volumes == {}
    assert (await vapi.delete(f"{url}/{row['id']}"))[0] == 404


@pytest.mark.parametrize("keep", [False, True])
async def test_deleting_an_app_removes_its_volumes_unless_kept(vapi, git_server, fake_runtime, keep):
    app = await make_app(vapi, git_server.create_repo("web"))
    assert (await vapi.post(f"/api/apps/{app['id']}/volumes", json={"name": "data", "mount_path": "/d"}))[
        0
    ] == 201
    await deploy_and_wait(vapi, app["id"], ("running",))
    name = f"rivetr-{app['id']}-data"
    assert name in fake_runtime.volumes
    query = "?keep_volumes=true" if keep else ""
    code, _ = await vapi.delete(f"/api/apps/{app['id']}{query}")
    assert code == 204
    assert fake_runtime.live() == []
    assert (name in fake_runtime.volumes) is keep


@pytest.mark.parametrize("keep", [False, True])
async def test_a_deletion_recovery_finishes_keeps_the_volumes_choice(vapi, git_server, fake_runtime, keep):
    """The engine goes away mid-deletion; start-up recovery finishes it later and must honour the
    ``keep_volumes`` the user chose (data kept, or removed as asked), not guess."""
    from rivetr_core.contract.errors import RuntimeUnavailable
    from rivetr_core.engine.recovery import resume_deletions

    app = await make_app(vapi, git_server.create_repo("web"))
    body = {"name": "data", "mount_path": "/d"}
    assert (await vapi.post(f"/api/apps/{app['id']}/volumes", json=body))[0] == 201
    await deploy_and_wait(vapi, app["id"], ("running",))
    name = f"rivetr-{app['id']}-data"
    listing = fake_runtime.list

    async def engine_gone(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeUnavailable("docker engine at unix:///gone does not answer")

    fake_runtime.list = engine_gone  # type: ignore[method-assign]
    query = "?keep_volumes=true" if keep else ""
    code, answer = await vapi.delete(f"/api/apps/{app['id']}{query}")
    assert code == 503, answer
    assert (await vapi.get(f"/api/apps/{app['id']}"))[1]["status"] == "deleting"
    fake_runtime.list = listing  # type: ignore[method-assign]
    assert await resume_deletions(vapi.ctx.services["deployments"]) == [app["id"]]
    assert (await vapi.get(f"/api/apps/{app['id']}"))[0] == 404
    assert (name in fake_runtime.volumes) is keep


async def test_preview_app_gets_its_own_empty_volumes_never_binds(vapi, tmp_path):
    ctx = vapi.ctx
    base_id = await _app(vapi, "web")
    url = f"/api/apps/{base_id}/volumes"
    assert (await vapi.post(url, json={"name": "data", "mount_path": "/data"}))[0] == 201
    site = str(tmp_path / "binds" / "site")
    assert (
        await vapi.post(url, json={"name": "site", "mount_path": "/site", "kind": "bind", "host_path": site})
    )[0] == 201
    base, _ = await ctx.services.apps.get(base_id)
    preview_id = await ctx.services.apps.sync_preview_app(
        base,
        None,
        name="web-pr-1",
        git_url=base.git_url,
        branch="pr-1",
        domain="pr-1.web.example.com",
        trusted=True,
        with_secrets=False,
        extra_env={},
    )
    listed = (await vapi.get(f"/api/apps/{preview_id}/volumes"))[1]["items"]
    assert [(v["name"], v["mount_path"], v["kind"]) for v in listed] == [("data", "/data", "volume")]
    assert listed[0]["engine_name"] == f"rivetr-{preview_id}-data" != f"rivetr-{base_id}-data"
    snap = await ctx.services.deployments.snapshot(preview_id)
    assert [m.source for m in snap.mounts] == [f"rivetr-{preview_id}-data"]


async def test_recreate_stops_the_old_container_before_starting_the_new(vapi, git_server, fake_runtime):
    app = await make_app(vapi, git_server.create_repo("web"), deploy_strategy="recreate")
    assert app["deploy_strategy"] == "recreate"
    first = await deploy_and_wait(vapi, app["id"], ("running",))
    fake_runtime.calls.clear()
    second = await deploy_and_wait(vapi, app["id"], ("running",))
    order = [name for name, args in fake_runtime.calls if name in ("stop", "run")]
    assert order[:2] == ["stop", "run"], fake_runtime.calls
    assert fake_runtime.calls_to("stop")[0]["container_id"] == first["container_id"]
    assert (await vapi.get(f"/api/deployments/{first['id']}"))[1]["status"] == "replaced"
    assert fake_runtime.live() == [second["container_id"]]
    code, updated = await vapi.put(f"/api/apps/{app['id']}", json={"deploy_strategy": "rolling"})
    assert code == 200 and updated["deploy_strategy"] == "rolling"
    code, bad = await vapi.put(f"/api/apps/{app['id']}", json={"deploy_strategy": "blue-green"})
    assert code == 422 and _field(bad) == "deploy_strategy"


async def test_failed_recreate_leaves_the_app_failed_not_running(vapi, git_server, fake_runtime):
    repo = git_server.create_repo("web")
    app = await make_app(vapi, repo, deploy_strategy="recreate", healthcheck_retries=2)
    await deploy_and_wait(vapi, app["id"], ("running",))
    repo.write("UNHEALTHY", "")
    repo.commit("unhealthy")
    code, dep = await vapi.post(f"/api/apps/{app['id']}/deploy")
    assert code == 202
    await wait_status(vapi, dep["id"], ("failed",))
    # The app's own status and the container's removal follow the deployment's status write: poll briefly.
    for _ in range(100):
        now = (await vapi.get(f"/api/apps/{app['id']}"))[1]
        if now["status"] == "failed" and not fake_runtime.live():
            break
        await asyncio.sleep(0.02)
    assert now["status"] == "failed" and now["current_deployment_id"] is None
    assert fake_runtime.live() == []
