"""Managed services through the API with the FAKE runtime (``rivetr_core.testing.FakeRuntime``): the rules
(422 unknown type/version listing what exists, 409 name or public port taken, 404 project), masking and reveal,
what reaches the engine (``RunSpec``: name, network and alias, labels, volumes, restart policy, published only
with a public port), readiness (running / failed with the container's last lines), stop/start, upgrade and its
rollback, delete (linked: 409 unless force; volumes kept or removed), rotation, logs and the start-up reconcile.
The fake gets ``ensure_network`` and ``pull`` here when it lacks them (it has no networks or registry). Real
engines: tests/e2e/test_services_e2e.py."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.contract import ExecResult, LogLine
from rivetr_core.testing import FakeRuntime
from rivetr_core.testing.fake_runtime import FakeImage
from tests.support import at_rest
from tests.support.server import ApiClient, make_config

ROOT = Path(__file__).resolve().parent.parent
PG16 = "docker.io/library/postgres:16"
PG15 = "docker.io/library/postgres:15"
REDIS = "docker.io/library/redis:7"
MASK = "••••••••"


def _teach(fake: FakeRuntime) -> dict[str, list[Any]]:
    """Give the fake what managed services need and record it: networks made and images pulled."""
    seen: dict[str, list[Any]] = {"networks": [], "pulls": []}

    async def ensure_network(name: str, labels: Any) -> str:
        seen["networks"].append((name, dict(labels)))
        return name

    async def pull(image: str) -> AsyncIterator[str]:
        seen["pulls"].append(image)
        yield f"{image}: layer 1 downloaded"
        fake.images.setdefault(image, FakeImage(id=f"sha256:{len(fake.images)}"))

    # setattr: whether the fake has its own (a later version may) does not matter, these record the calls
    setattr(fake, "ensure_network", ensure_network)  # noqa: B010
    # Project networks are made with ensure_project_network where a runtime has it (the isolated kind).
    setattr(fake, "ensure_project_network", ensure_network)  # noqa: B010
    setattr(fake, "pull", pull)  # noqa: B010
    return seen


@pytest.fixture
async def sapi(tmp_path: Path, fake_runtime: FakeRuntime) -> AsyncIterator[ApiClient]:
    from rivetr_core.app import create_app

    fake_runtime.seen = _teach(fake_runtime)  # type: ignore[attr-defined]
    app = create_app(make_config(tmp_path / "data"))
    app.extensions["rivetr_ctx"]._runtime = fake_runtime
    async with app.test_app():
        yield ApiClient(app)


async def wait_status(api: ApiClient, service_id: str, *wanted: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        code, body = await api.get(f"/api/services/{service_id}")
        assert code == 200, body
        if body["status"] in wanted:
            return body  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise AssertionError(f"service still {body['status']}: {body}")
        await asyncio.sleep(0.02)


async def create(api: ApiClient, name: str = "db", **extra: Any) -> dict[str, Any]:
    code, body = await api.post("/api/services", json={"name": name, "type": "postgres", **extra})
    assert code == 201, body
    return body  # type: ignore[no-any-return]


def container_of(fake: FakeRuntime, service_id: str) -> Any:
    found = [c for c in fake.containers.values() if c.spec.labels.get("rivetr.managed-service") == service_id]
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------------------------------------------- creating
async def test_create_runs_the_template_privately_and_masks_credentials(
    sapi: ApiClient, fake_runtime: FakeRuntime
) -> None:
    body = await create(sapi)
    assert body["status"] == "starting" and body["desired_state"] == "running"
    assert body["type"] == "postgres" and body["version"] == "16" and body["image"] == PG16
    assert body["credentials"] == {"user": "app", "password": MASK, "database": "app"}
    assert MASK in body["connection_url"] and body["connection_url"].startswith("postgres://app:")
    assert body["internal_host"] == "db" and body["internal_port"] == 5432
    assert body["network"] == "rivetr-net-default" and body["public_port"] is None
    ready = await wait_status(sapi, body["id"], "running", "failed")
    assert ready["status"] == "running", ready
    assert ready["error"] is None

    container = container_of(fake_runtime, body["id"])
    spec = container.spec
    assert spec.name == "rivetr-svc-db" and spec.image == PG16
    assert spec.network == "rivetr-net-default" and spec.network_aliases == ["db"]
    assert spec.restart_policy == "unless-stopped"
    assert spec.container_port is None and spec.publish is False  # private: never on a host port
    assert spec.labels["rivetr.managed-service"] == body["id"]
    assert "rivetr.managed" not in spec.labels  # the pipeline's orphan sweep must never see it
    assert [(m.source, m.target) for m in spec.mounts] == [
        (f"rivetr-svc-{body['id']}-data", "/var/lib/postgresql/data")
    ]
    assert fake_runtime.seen["networks"][0][0] == "rivetr-net-default"  # type: ignore[attr-defined]
    assert fake_runtime.seen["pulls"] == [PG16]  # type: ignore[attr-defined]
    # readiness is the template's command, run in the container
    health = [c["cmd"] for c in fake_runtime.calls_to("exec")]
    assert health and health[0][0] == "pg_isready"

    code, revealed = await sapi.get(f"/api/services/{body['id']}?reveal=true")
    assert code == 200
    password = revealed["credentials"]["password"]
    assert len(password) == 32 and password.isalnum()
    assert spec.env["POSTGRES_PASSWORD"] == password  # what the container got is what reveal shows
    assert revealed["connection_url"] == f"postgres://app:{password}@db:5432/app"

    # stored encrypted: the password is nowhere in the database file
    db_bytes = at_rest.stored_bytes(sapi.ctx)
    assert password.encode() not in db_bytes


async def test_bad_input_gets_the_error_envelope(sapi: ApiClient) -> None:
    code, body = await sapi.post("/api/services", json={"name": "db", "type": "oracle"})
    assert code == 422, body
    detail = body["error"]["details"][0]
    assert detail["field"] == "type" and {"postgres", "redis", "mysql", "mariadb"} <= set(detail["available"])

    code, body = await sapi.post("/api/services", json={"name": "db", "type": "postgres", "version": "9"})
    assert code == 422 and body["error"]["details"][0]["available"] == ["16", "15"]

    code, body = await sapi.post("/api/services", json={"name": "Bad_Name", "type": "postgres"})
    assert code == 422 and body["error"]["code"] == "validation_error"

    code, body = await sapi.post(
        "/api/services", json={"name": "db", "type": "postgres", "project_id": "nope"}
    )
    assert code == 404 and body["error"]["details"][0]["field"] == "project_id"

    for port in (80, 70000):
        code, body = await sapi.post(
            "/api/services", json={"name": "db", "type": "postgres", "public_port": port}
        )
        assert code == 422, body
    code, body = await sapi.post(
        "/api/services", json={"name": "db", "type": "postgres", "memory_limit": "1m"}
    )
    assert code == 422 and "memory_limit" in json.dumps(body)
    code, body = await sapi.post(
        "/api/services", json={"name": "db", "type": "postgres", "environment": {"1X": "y"}}
    )
    assert code == 422
    code, body = await sapi.post("/api/services", json={"name": "db", "type": "postgres", "colour": "red"})
    assert code == 422

    code, body = await sapi.get("/api/services/missing")
    assert code == 404 and body["error"]["code"] == "not_found"
    for action in ("start", "stop", "restart", "rotate-credentials"):
        code, _ = await sapi.post(f"/api/services/missing/{action}")
        assert code == 404
    code, _ = await sapi.delete("/api/services/missing")
    assert code == 404
    code, body = await sapi.get("/api/services", query_string={"limit": "0"})
    assert code == 422


async def test_names_are_unique_across_apps_and_services(sapi: ApiClient) -> None:
    code, app = await sapi.post("/api/apps", json={"name": "shop", "git_url": "https://example.com/x.git"})
    assert code == 201, app
    code, body = await sapi.post("/api/services", json={"name": "shop", "type": "redis"})
    assert code == 409 and body["error"]["details"][0]["field"] == "name"
    assert "app named 'shop'" in body["error"]["message"]
    await create(sapi, "cache")
    code, body = await sapi.post("/api/services", json={"name": "cache", "type": "redis"})
    assert code == 409 and "service named 'cache'" in body["error"]["message"]
    # ... and the other way round: an app cannot take a service's name, nor be renamed to it.
    code, body = await sapi.post("/api/apps", json={"name": "cache", "git_url": "https://example.com/x.git"})
    assert code == 409 and "service named 'cache'" in body["error"]["message"], body
    code, body = await sapi.put(f"/api/apps/{app['id']}", json={"name": "cache"})
    assert code == 409 and body["error"]["details"][0]["field"] == "name", body


async def test_public_port_is_published_on_every_interface_and_must_be_free(
    sapi: ApiClient, fake_runtime: FakeRuntime
) -> None:
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        code, body = await sapi.post(
            "/api/services", json={"name": "db", "type": "postgres", "public_port": taken}
        )
        assert code == 409 and body["error"]["details"][0]["field"] == "public_port"
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        port = probe.getsockname()[1]
    body = await create(sapi, public_port=port)
    await wait_status(sapi, body["id"], "running")
    spec = container_of(fake_runtime, body["id"]).spec
    assert (spec.container_port, spec.host_port, spec.host_ip, spec.publish) == (5432, port, "", True)
    code, other = await sapi.post(
        "/api/services", json={"name": "db2", "type": "postgres", "public_port": port}
    )
    assert code == 409 and "service 'db'" in other["error"]["message"]

    code, closed = await sapi.put(f"/api/services/{body['id']}", json={"public_port": None})
    assert code == 200 and closed["public_port"] is None and closed["status"] == "starting"
    await wait_status(sapi, body["id"], "running")
    spec = container_of(fake_runtime, body["id"]).spec  # recreated: one container, unpublished
    assert spec.container_port is None and spec.publish is False


async def test_a_service_that_never_gets_ready_fails_with_its_log(
    sapi: ApiClient, fake_runtime: FakeRuntime
) -> None:
    def crash(container_id: str, cmd: list[str], env: dict[str, str]) -> ExecResult:
        fake_runtime.crash(container_id, exit_code=1)
        return ExecResult(2, "no response")

    fake_runtime.exec_handler = crash
    body = await create(sapi)
    failed = await wait_status(sapi, body["id"], "failed")
    assert "the container stopped (exit code 1)" in failed["error"]


async def test_an_unknown_image_fails_and_the_log_shows_the_pull(
    sapi: ApiClient, fake_runtime: FakeRuntime
) -> None:
    from rivetr_core.contract.errors import ImageNotFound

    async def pull(image: str) -> AsyncIterator[str]:
        yield f"{image}: resolving"
        raise ImageNotFound(f"image {image} does not exist in the registry")

    setattr(fake_runtime, "pull", pull)  # noqa: B010
    body = await create(sapi)
    failed = await wait_status(sapi, body["id"], "failed")
    assert "does not exist" in failed["error"]
    code, logs = await sapi.get(f"/api/services/{body['id']}/logs")
    assert code == 200
    lines = [i["line"] for i in logs["items"]]
    assert f"pulling {PG16}" in lines and any("resolving" in line for line in lines)
    assert all(i["stream"] == "rivetr" for i in logs["items"])


# ---------------------------------------------------------------------------------------------- lifecycle
async def test_stop_start_restart_and_upgrade_keep_the_volumes(
    sapi: ApiClient, fake_runtime: FakeRuntime
) -> None:
    body = await create(sapi, version="15")
    sid = body["id"]
    await wait_status(sapi, sid, "running")
    first = container_of(fake_runtime, sid)

    code, stopped = await sapi.post(f"/api/services/{sid}/stop")
    assert code == 200 and stopped["status"] == "stopped" and stopped["desired_state"] == "stopped"
    assert not first.running
    code, started = await sapi.post(f"/api/services/{sid}/start")
    assert code == 200 and started["status"] == "starting"
    await wait_status(sapi, sid, "running")
    assert container_of(fake_runtime, sid).id == first.id and first.running  # the same container again

    code, _ = await sapi.post(f"/api/services/{sid}/restart")
    assert code == 200
    await wait_status(sapi, sid, "running")
    assert first.running

    code, upgraded = await sapi.put(f"/api/services/{sid}", json={"version": "16", "memory_limit": "256m"})
    assert code == 200 and upgraded["version"] == "16" and upgraded["status"] == "starting"
    await wait_status(sapi, sid, "running")
    now = container_of(fake_runtime, sid)
    assert now.id != first.id and now.spec.image == PG16 and now.spec.memory_limit == 256 * 1024**2
    assert [m.source for m in now.spec.mounts] == [m.source for m in first.spec.mounts]


async def test_an_upgrade_that_does_not_get_ready_rolls_back(
    sapi: ApiClient, fake_runtime: FakeRuntime
) -> None:
    body = await create(sapi, version="15")
    sid = body["id"]
    await wait_status(sapi, sid, "running")

    def refuse_16(container_id: str, cmd: list[str], env: dict[str, str]) -> ExecResult:
        if fake_runtime.containers[container_id].spec.image == PG16:
            fake_runtime.crash(container_id, exit_code=1)  # "database files are incompatible with server"
            return ExecResult(2, "")
        return ExecResult(0, "")

    fake_runtime.exec_handler = refuse_16
    code, _ = await sapi.put(f"/api/services/{sid}", json={"version": "16"})
    assert code == 200
    deadline = time.monotonic() + 10
    while True:
        back = await wait_status(sapi, sid, "running", "failed")
        if back["error"] or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    assert back["status"] == "running" and back["version"] == "15", back
    assert "upgrade to 16 failed, rolled back to 15" in back["error"]
    assert container_of(fake_runtime, sid).spec.image == PG15


async def test_delete_refuses_linked_services_unless_forced_and_keeps_volumes_on_request(
    sapi: ApiClient, fake_runtime: FakeRuntime
) -> None:
    kept = await create(sapi, "kept")
    linked = await create(sapi, "linked")
    for s in (kept, linked):
        await wait_status(sapi, s["id"], "running")
    code, app = await sapi.post("/api/apps", json={"name": "web", "git_url": "https://example.com/x.git"})
    assert code == 201
    code, link = await sapi.post(f"/api/apps/{app['id']}/links", json={"service_id": linked["id"]})
    assert code == 201, link
    code, detail = await sapi.get(f"/api/services/{linked['id']}")
    assert detail["linked_apps"] == [{"app_id": app["id"], "app_name": "web", "env_prefix": "DATABASE"}]

    code, body = await sapi.delete(f"/api/services/{linked['id']}")
    assert code == 409 and "web" in body["error"]["message"]
    assert body["error"]["details"]["apps"] == [{"app_id": app["id"], "name": "web"}]
    code, _ = await sapi.delete(f"/api/services/{linked['id']}", query_string={"force": "true"})
    assert code == 204
    code, links = await sapi.get(f"/api/apps/{app['id']}/links")
    assert code == 200 and links["items"] == []
    assert f"rivetr-svc-{linked['id']}-data" not in fake_runtime.volumes

    code, _ = await sapi.delete(f"/api/services/{kept['id']}", query_string={"keep_volumes": "true"})
    assert code == 204
    assert f"rivetr-svc-{kept['id']}-data" in fake_runtime.volumes
    assert not [c for c in fake_runtime.containers.values() if "rivetr.managed-service" in c.spec.labels]
    code, page = await sapi.get("/api/services")
    assert page == {"items": [], "next": None}


async def test_rotation_changes_the_password_in_the_service(
    sapi: ApiClient, fake_runtime: FakeRuntime
) -> None:
    body = await create(sapi)
    sid = body["id"]
    await wait_status(sapi, sid, "running")
    _, before = await sapi.get(f"/api/services/{sid}?reveal=true")
    code, app = await sapi.post("/api/apps", json={"name": "web", "git_url": "https://example.com/x.git"})
    await sapi.post(f"/api/apps/{app['id']}/links", json={"service_id": sid})

    code, result = await sapi.post(f"/api/services/{sid}/rotate-credentials")
    assert code == 200, result
    # Never deployed: nothing runs the old password, its first deployment gets the new one.
    assert result["redeployed"] == [] and result["apps_to_redeploy"] == []
    assert [(a["app_name"], a["code"]) for a in result["not_redeployed"]] == [("web", "not_deployed")]
    assert result["service"]["credentials"]["password"] == MASK
    _, after = await sapi.get(f"/api/services/{sid}?reveal=true")
    new = after["credentials"]["password"]
    assert new != before["credentials"]["password"] and len(new) == 32
    rotate = fake_runtime.calls_to("exec")[-1]["cmd"]
    assert rotate[0] == "psql" and any(f"'{new}'" in part for part in rotate)

    # redis carries the password in its command: rotation recreates it with the new one
    redis = (await sapi.post("/api/services", json={"name": "cache", "type": "redis"}))[1]
    await wait_status(sapi, redis["id"], "running")
    code, _ = await sapi.post(f"/api/services/{redis['id']}/rotate-credentials")
    assert code == 200
    await wait_status(sapi, redis["id"], "running")
    _, shown = await sapi.get(f"/api/services/{redis['id']}?reveal=true")
    command = container_of(fake_runtime, redis["id"]).spec.command
    assert shown["credentials"]["password"] in " ".join(command)


async def _linked_app(api: ApiClient, service_id: str, name: str, **row: Any) -> dict[str, Any]:
    """An app linked to the service, its row then set as a deployment would leave it (``status``,
    ``current_deployment_id``). Its git URL is a refused local port: a deployment queued here fails fast."""
    from rivetr_core.models.apps import App

    code, app = await api.post("/api/apps", json={"name": name, "git_url": "git://127.0.0.1:9/x.git"})
    assert code == 201, app
    code, body = await api.post(f"/api/apps/{app['id']}/links", json={"service_id": service_id})
    assert code == 201, body
    if row:
        async with api.ctx.db.session() as session:
            found = await session.get(App, app["id"])
            for key, value in row.items():
                setattr(found, key, value)
            session.add(found)
            await session.commit()
    return app  # type: ignore[no-any-return]


async def test_rotation_redeploys_the_linked_apps_that_run(sapi: ApiClient) -> None:
    """Linked apps with a deployed container or a deployment in flight are redeployed (the API's deploy, trigger
    rotate-credentials);
    a stopped one, one never deployed, and all of them with ``redeploy_apps: false`` are listed with why."""
    sid = (await create(sapi))["id"]
    await wait_status(sapi, sid, "running")
    web = await _linked_app(sapi, sid, "web", status="running", current_deployment_id="d" * 32)
    await _linked_app(sapi, sid, "idle")
    await _linked_app(sapi, sid, "off", status="stopped", current_deployment_id="e" * 32)
    # Its first deployment in flight (it may have read the old password already): redeployed too.
    first = await _linked_app(sapi, sid, "first")
    from rivetr_core.models.apps import Deployment

    async with sapi.ctx.db.session() as session:
        session.add(Deployment(app_id=first["id"], status="building", trigger="api"))
        await session.commit()

    code, result = await sapi.post(f"/api/services/{sid}/rotate-credentials", json={"redeploy_apps": True})
    assert code == 200, result
    assert [a["app_name"] for a in result["redeployed"]] == ["first", "web"]
    redeployed = result["redeployed"][1]
    assert redeployed["app_id"] == web["id"]
    code, dep = await sapi.get(f"/api/deployments/{redeployed['deployment_id']}")
    assert code == 200 and dep["app_id"] == web["id"] and dep["trigger"] == "rotate-credentials", dep
    assert {a["app_name"]: a["code"] for a in result["not_redeployed"]} == {
        "idle": "not_deployed",
        "off": "app_stopped",
    }
    assert [a["name"] for a in result["apps_to_redeploy"]] == ["off"]
    # Rivetr's events (?source=events, even though the service has a container) record both.
    code, events = await sapi.get(f"/api/services/{sid}/logs", query_string={"source": "events"})
    assert code == 200 and events["items"][-2:] == [
        {"line": "password rotated", "stream": "rivetr", "ts": events["items"][-2]["ts"]},
        {"line": "redeploying first, web", "stream": "rivetr", "ts": events["items"][-1]["ts"]},
    ], events
    code, output = await sapi.get(f"/api/services/{sid}/logs")
    assert code == 200 and "password rotated" not in [i["line"] for i in output["items"]], output

    # Without a body the default is to redeploy; false keeps every app on the old password (listed).
    code, result = await sapi.post(f"/api/services/{sid}/rotate-credentials", json={"redeploy_apps": False})
    assert code == 200 and result["redeployed"] == [], result
    assert {a["code"] for a in result["not_redeployed"]} == {"redeploy_off"}
    assert [a["name"] for a in result["apps_to_redeploy"]] == ["first", "idle", "off", "web"]
    code, deps = await sapi.get(f"/api/apps/{web['id']}/deployments")
    assert [d["trigger"] for d in deps["items"]] == ["rotate-credentials"]  # no second one

    # A caller without the deploy permission rotates, but its apps are not redeployed (service level: no
    # role grants write without deploy today, so the route cannot be reached that way).
    result = await sapi.ctx.services.managed.rotate_credentials(sid, may_deploy=False)
    assert {a["app_name"]: a["code"] for a in result["not_redeployed"]}["web"] == "permission_denied"
    assert result["redeployed"] == []

    code, body = await sapi.post(f"/api/services/{sid}/rotate-credentials", json={"redeploy_apps": "x"})
    assert code == 422 and body["error"]["details"][0]["field"] == "redeploy_apps", body


async def test_rotation_of_a_stopped_service_is_a_conflict(sapi: ApiClient) -> None:
    body = await create(sapi)
    await wait_status(sapi, body["id"], "running")
    await sapi.post(f"/api/services/{body['id']}/stop")
    code, result = await sapi.post(f"/api/services/{body['id']}/rotate-credentials")
    assert code == 409 and result["error"]["code"] == "service_not_running"


async def test_list_envelope_filters_and_pages(sapi: ApiClient) -> None:
    for name, kind in (("a", "postgres"), ("b", "redis"), ("c", "postgres")):
        code, _ = await sapi.post("/api/services", json={"name": name, "type": kind})
        assert code == 201
    code, page = await sapi.get("/api/services", query_string={"limit": "2"})
    assert code == 200 and [s["name"] for s in page["items"]] == ["a", "b"] and page["next"]
    code, rest = await sapi.get("/api/services", query_string={"limit": "2", "cursor": page["next"]})
    assert [s["name"] for s in rest["items"]] == ["c"] and rest["next"] is None
    code, only = await sapi.get("/api/services", query_string={"type": "redis"})
    assert [s["name"] for s in only["items"]] == ["b"]
    assert all(s["credentials"]["password"] == MASK for s in page["items"])


async def test_reveal_is_for_the_teams_owners_and_admins(sapi: ApiClient) -> None:
    """``?reveal=true`` needs secrets.reveal: a team admin sees the password, a developer or viewer gets 403."""
    from tests.support.roles import member

    code, svc = await sapi.post("/api/services", json={"name": "revealed", "type": "postgres"})
    assert code == 201, svc
    path = f"/api/services/{svc['id']}"
    default = {"id": "default"}
    for name, role in (("viewer", "viewer"), ("dev", "developer")):
        who = await member(sapi, default, name, role)
        assert (await who.get(path))[1]["credentials"]["password"] == MASK
        code, body = await who.get(path + "?reveal=true")
        assert code == 403 and body["error"]["details"] == {"permission": "secrets.reveal"}, body
    boss = await member(sapi, default, "boss", "admin")
    code, body = await boss.get(path + "?reveal=true")
    assert code == 200 and body["credentials"]["password"] not in (MASK, None), body


async def test_reconcile_brings_stopped_containers_back_and_leaves_stopped_services(
    sapi: ApiClient, fake_runtime: FakeRuntime
) -> None:
    up = await create(sapi, "up")
    down = await create(sapi, "down")
    for s in (up, down):
        await wait_status(sapi, s["id"], "running")
    await sapi.post(f"/api/services/{down['id']}/stop")
    container = container_of(fake_runtime, up["id"])
    fake_runtime.crash(container.id)  # the engine restarted without bringing it back
    gone = container_of(fake_runtime, down["id"])
    await fake_runtime.remove(gone.id)

    started = await sapi.ctx.services.managed.reconcile()
    assert started == [up["id"]]
    await wait_status(sapi, up["id"], "running")
    assert container.running
    _, still = await sapi.get(f"/api/services/{down['id']}")
    assert still["status"] == "stopped"


LAZY_PROBE = """
import asyncio, subprocess, sys, tempfile
from pathlib import Path
from tests.support.server import ApiClient, make_config
from rivetr_core.app import create_app
from tests.support.migrate_first import migrated_config

FEATURE = ("rivetr_core.services.managed", "rivetr_core.models.services", "rivetr_core.managed.lifecycle")

async def main():
    data = Path(tempfile.mkdtemp()) / "data"
    data.mkdir()
    app = create_app(migrated_config(data))
    async with app.test_app():
        await asyncio.sleep(0.2)  # the start-up reconcile has looked at the (empty) services table
        print("idle", [m for m in FEATURE if m in sys.modules])
        code, body = await ApiClient(app).get("/api/services")
        assert code == 200, body
        print("used", [m for m in FEATURE if m in sys.modules])

asyncio.run(main())
"""


def test_the_feature_loads_with_its_first_use_not_at_start() -> None:
    out = subprocess.run(
        [sys.executable, "-c", LAZY_PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "idle []" in out.stdout, out.stdout
    assert (
        "used ['rivetr_core.services.managed', 'rivetr_core.models.services', 'rivetr_core.managed.lifecycle']"
        in out.stdout
    )


async def test_the_sampler_keeps_a_history_of_service_containers_like_apps(
    sapi: ApiClient, fake_runtime: FakeRuntime
) -> None:
    from rivetr_core.history.sampler import MetricsSampler

    body = await create(sapi, "db")
    await wait_status(sapi, body["id"], "running")
    sampler = sapi.ctx.services.get("sampler") or MetricsSampler(sapi.ctx)
    apps = await sampler.sample_once()
    assert apps == {}  # a service is not an app
    assert sampler.last_services[body["id"]]["name"] == "db"
    assert sampler.last_services[body["id"]]["containers"] == 1
    code, metrics = await sapi.get(f"/api/services/{body['id']}/metrics", query_string={"range": "15m"})
    assert code == 200, metrics
    assert metrics["app_id"] == body["id"] and metrics["points"]
    assert metrics["latest"]["memory_used"] == 1024 * 1024  # what the fake reports for a running container
    code, _ = await sapi.get("/api/services/missing/metrics")
    assert code == 404


async def test_the_live_log_stream_follows_the_container_like_an_app(
    sapi: ApiClient, fake_runtime: FakeRuntime
) -> None:
    from tests.support.server import AUTH, websocket_outcome

    assert (
        await websocket_outcome(sapi.client, "/api/services/nope/logs/stream", headers=AUTH) == "closed 4404"
    )
    body = await create(sapi, "db")
    await wait_status(sapi, body["id"], "running")
    container = container_of(fake_runtime, body["id"])
    container.log.append(LogLine("database system is ready to accept connections", "stderr"))
    async with sapi.client.websocket(f"/api/services/{body['id']}/logs/stream?tail=10", headers=AUTH) as ws:
        first = json.loads(await asyncio.wait_for(ws.receive(), 10))
        assert (
            first["line"] == "database system is ready to accept connections" and first["stream"] == "stderr"
        )
        fake_runtime.crash(container.id)  # the container ends: so does the stream
        assert json.loads(await asyncio.wait_for(ws.receive(), 10)) == {"event": "end"}
    code, logs = await sapi.get(f"/api/services/{body['id']}/logs", query_string={"tail": "5"})
    assert code == 200 and logs["items"][-1]["line"] == "database system is ready to accept connections"


async def test_a_running_backup_or_restore_holds_off_changes_stops_and_deletion(sapi: ApiClient) -> None:
    body = await create(sapi)
    await wait_status(sapi, body["id"], "running")
    backups = sapi.ctx.services.backups
    backups._claim_service(body["id"], "db", "bk-1")  # what a starting dump or restore does
    for method, path, payload in (
        ("put", "", {"memory_limit": "256m"}),
        ("post", "/stop", None),
        ("post", "/rotate-credentials", None),
        ("delete", "", None),
    ):
        kwargs = {"json": payload} if payload is not None else {}
        code, result = await getattr(sapi, method)(f"/api/services/{body['id']}{path}", **kwargs)
        assert code == 409 and result["error"]["code"] == "backup_in_progress", (path, result)
        assert result["error"]["details"]["running"] == "bk-1"
    assert (await wait_status(sapi, body["id"], "running"))["memory_limit"] is None
    backups._busy.clear()  # the run is over
    code, result = await sapi.put(f"/api/services/{body['id']}", json={"memory_limit": "256m"})
    assert code == 200 and result["memory_limit"] == 256 * 1024**2, result


async def test_the_monitor_turns_a_service_that_stops_answering_failed_and_back_running(
    sapi: ApiClient, fake_runtime: FakeRuntime
) -> None:
    body = await create(sapi)
    await wait_status(sapi, body["id"], "running")
    managed = sapi.ctx.services.managed
    assert managed._monitor is not None and not managed._monitor.done()  # a server with services watches them

    answers = fake_runtime.exec_handler
    fake_runtime.exec_handler = lambda cid, cmd, env: ExecResult(2, "127.0.0.1:5432 - no response")
    await managed.check_all()
    _, shown = await sapi.get(f"/api/services/{body['id']}")
    assert shown["status"] == "failed" and "no response" in shown["error"], shown

    fake_runtime.exec_handler = answers  # answers again (e.g. after the engine restarted it)
    await managed.check_all()
    _, shown = await sapi.get(f"/api/services/{body['id']}")
    assert shown["status"] == "running" and shown["error"] is None, shown

    fake_runtime.crash(container_of(fake_runtime, body["id"]).id, exit_code=137)
    await managed.check_all()
    _, shown = await sapi.get(f"/api/services/{body['id']}")
    assert shown["status"] == "failed" and "exit code 137" in shown["error"], shown


async def test_a_project_with_services_is_not_deleted(sapi: ApiClient) -> None:
    code, project = await sapi.post("/api/projects", json={"name": "shop"})
    assert code == 201, project
    body = await create(sapi, project_id=project["id"])
    code, refused = await sapi.delete(f"/api/projects/{project['id']}")
    assert code == 409 and refused["error"]["details"]["services"] == ["db"], refused
    await wait_status(sapi, body["id"], "running")
    assert (await sapi.delete(f"/api/services/{body['id']}"))[0] == 204
    assert (await sapi.delete(f"/api/projects/{project['id']}"))[0] == 204
