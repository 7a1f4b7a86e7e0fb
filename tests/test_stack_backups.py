"""Backups of compose stacks' named volumes through the API with the FAKE runtime (its volumes are directories of
a temp dir) and the REAL backup worker writing to a local destination: which volumes a stack has, a backup pausing
only the services that mount them, a restore stopping and starting those and bringing the data back, schedules,
and the API's errors (unknown volume, another stack's volume, no destination, a stack never deployed). Real
engines and a real S3-compatible server: tests/e2e/test_stack_backups_e2e.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.services.backup_stack_runs import volumes_of
from rivetr_core.testing import FakeRuntime
from rivetr_core.testing.fake_runtime import FakeImage
from tests.support.server import ApiClient, make_config

BUSYBOX = "localhost/rivetr-test/busybox:latest"

COMPOSE = f"""
services:
  web:
    image: {BUSYBOX}
    command: ["httpd", "-f", "-p", "8080"]
    volumes:
      - data:/srv/data
      - type: volume
        source: uploads
        target: /srv/uploads
  worker:
    image: {BUSYBOX}
    volumes: ["data:/work:ro", "/anonymous"]
    tmpfs: /scratch
  cache:
    image: {BUSYBOX}
volumes:
  data:
  uploads:
"""

OTHER = f"""
services:
  app:
    image: {BUSYBOX}
    volumes: [files:/files]
volumes:
  files:
"""


def test_volumes_of_reads_named_volumes_and_who_mounts_them() -> None:
    text = """
services:
  a:
    image: x
    volumes: ["${VOL:-data}:/d", "./rel:/r", "~/home:/h", "/abs:/abs", "/anon", "logs:/l:ro,z"]
  b:
    image: x
    profiles: [debug]
    volumes: [{type: volume, source: data, target: /b, read_only: true}, {type: bind, source: /x, target: /y}]
  c:
    image: x
    volumes: [{type: volume, target: /only-anonymous}]
volumes:
  data: {}
  logs:
  unused:
"""
    found = {v.name: v for v in volumes_of("s1", text, {}, None, [])}
    assert list(found) == ["data", "logs", "unused"]
    assert found["data"].engine_name == "rivetr-stk-s1-data"
    assert found["data"].mounts == [{"service": "a", "target": "/d", "read_only": False}]  # b: profile off
    assert found["logs"].mounts == [{"service": "a", "target": "/l", "read_only": True}]
    assert found["unused"].services == [] and found["unused"].entry()["mount_path"] == ""
    with_debug = {v.name: v for v in volumes_of("s1", text, {}, None, ["debug"])}
    assert with_debug["data"].services == ["a", "b"]
    # The live deployment's services decide, whatever the profiles; variables are the stack's.
    live = {v.name: v for v in volumes_of("s1", text, {"VOL": "logs"}, ["b"], [])}
    assert live["data"].services == ["b"] and live["logs"].services == []
    assert volumes_of("s1", "services: [", {}, None, []) == []  # not YAML any more: none


@pytest.fixture
async def api(tmp_path: Path, fake_runtime: FakeRuntime) -> AsyncIterator[ApiClient]:
    from rivetr_core.app import create_app

    fake_runtime.images[BUSYBOX] = FakeImage(id="sha256:busybox")
    app = create_app(make_config(tmp_path / "data"))
    app.extensions["rivetr_ctx"]._runtime = fake_runtime
    async with app.test_app():
        yield ApiClient(app)


async def _deployed(api: ApiClient, name: str, compose: str) -> dict[str, Any]:
    code, stack = await api.post("/api/stacks", json={"name": name, "compose": compose})
    assert code == 201, stack
    code, dep = await api.post(f"/api/stacks/{stack['id']}/deploy")
    assert code == 202, dep
    deadline = time.monotonic() + 15
    while dep["status"] not in ("running", "failed"):
        assert time.monotonic() < deadline, dep
        await asyncio.sleep(0.02)
        dep = (await api.get(f"/api/deployments/{dep['id']}"))[1]
    assert dep["status"] == "running", dep
    return stack  # type: ignore[no-any-return]


async def _destination(api: ApiClient, tmp_path: Path) -> str:
    path = tmp_path / "archives"
    path.mkdir()
    code, body = await api.post(
        "/api/backup-destinations",
        json={"name": "disk", "kind": "local", "path": str(path), "passphrase": "stack passphrase"},
    )
    assert code == 201, body
    return str(body["id"])


async def _wait(api: ApiClient, path: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        code, body = await api.get(path)
        assert code == 200, body
        if body["status"] != "running":
            await api.ctx.services.backups.wait(path.rsplit("/", 1)[-1])
            return body  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.02)


def _containers(runtime: FakeRuntime, stack_id: str) -> dict[str, str]:
    return {
        c.spec.labels["rivetr.stack.service"]: cid
        for cid, c in runtime.containers.items()
        if c.spec.labels.get("rivetr.stack") == stack_id
    }


async def test_a_stack_volume_backup_pauses_its_services_and_a_restore_brings_the_data_back(
    api: ApiClient, fake_runtime: FakeRuntime, tmp_path: Path
) -> None:
    stack = await _deployed(api, "shop", COMPOSE)
    sid = stack["id"]
    code, page = await api.get(f"/api/stacks/{sid}/volumes")
    assert code == 200 and page["next"] is None, page
    by_name = {v["name"]: v for v in page["items"]}
    assert set(by_name) == {"data", "uploads"}
    assert by_name["data"]["services"] == ["web", "worker"] and by_name["data"]["exists"] is True
    assert by_name["data"]["engine_name"] == f"rivetr-stk-{sid}-data"
    assert by_name["data"]["mounts"][1] == {"service": "worker", "target": "/work", "read_only": True}
    code, one = await api.get(f"/api/stacks/{sid}/volumes/uploads")
    assert code == 200 and one["services"] == ["web"], one

    data = Path(await fake_runtime.volume_path(f"rivetr-stk-{sid}-data") or "")
    (data / "notes.txt").write_text("first\n")
    (data / "sub").mkdir()
    (data / "sub" / "blob.bin").write_bytes(bytes(range(256)) * 100)
    dest = await _destination(api, tmp_path)
    containers = _containers(fake_runtime, sid)

    # One volume: only the services mounting it are paused, and always thawed.
    fake_runtime.calls.clear()
    code, run = await api.post(f"/api/stacks/{sid}/volumes/data/backups", json={"destination_id": dest})
    assert code == 202 and run["what"] == "stack" and run["stack_name"] == "shop", run
    done = await _wait(api, f"/api/backups/{run['id']}")
    assert done["status"] == "succeeded", done
    assert done["encrypted"] is True and done["key"].startswith(f"stacks/shop-{sid}/")
    assert [v["name"] for v in done["volumes"]] == ["data"] and done["volumes"][0]["services"] == [
        "web",
        "worker",
    ]
    paused = {c["container_id"] for c in fake_runtime.calls_to("pause")}
    assert paused == {containers["web"], containers["worker"]}
    assert {c["container_id"] for c in fake_runtime.calls_to("unpause")} == paused
    assert not any(c.paused for c in fake_runtime.containers.values())
    code, listed = await api.get(f"/api/stacks/{sid}/backups")
    assert code == 200 and [r["id"] for r in listed["items"]] == [run["id"]]
    code, listed = await api.get(f"/api/backups?stack_id={sid}")
    assert code == 200 and [r["id"] for r in listed["items"]] == [run["id"]]

    # The data changes; the restore stops the services using the volume, swaps, starts them again.
    (data / "notes.txt").write_text("changed\n")
    (data / "sub" / "blob.bin").unlink()
    (data / "new.txt").write_text("gone after the restore")
    fake_runtime.calls.clear()
    code, restore = await api.post(f"/api/backups/{run['id']}/restore-stack", json={})
    assert code == 202 and restore["stack_id"] == sid, restore
    finished = await _wait(api, f"/api/restores/{restore['id']}")
    assert finished["status"] == "succeeded", finished
    assert (data / "notes.txt").read_text() == "first\n"
    assert (data / "sub" / "blob.bin").read_bytes() == bytes(range(256)) * 100
    assert not (data / "new.txt").exists()
    stopped = {c["container_id"] for c in fake_runtime.calls_to("stop")}
    assert stopped == {containers["web"], containers["worker"]}
    assert {c["container_id"] for c in fake_runtime.calls_to("start")} == stopped
    assert fake_runtime.containers[containers["cache"]].running
    assert all(fake_runtime.containers[c].running for c in stopped)

    # Every volume at once (the stack's own endpoint), then a restore of one of them only.
    code, both = await api.post(f"/api/stacks/{sid}/backups", json={"destination_id": dest, "codec": "gz"})
    assert code == 202, both
    both = await _wait(api, f"/api/backups/{both['id']}")
    assert both["status"] == "succeeded" and {v["name"] for v in both["volumes"]} == {"data", "uploads"}
    code, restore = await api.post(f"/api/backups/{both['id']}/restore-stack", json={"volumes": ["uploads"]})
    assert code == 202 and [v["name"] for v in restore["volumes"]] == ["uploads"], restore
    assert (await _wait(api, f"/api/restores/{restore['id']}"))["status"] == "succeeded"


async def test_stack_backup_errors(api: ApiClient, fake_runtime: FakeRuntime, tmp_path: Path) -> None:
    stack = await _deployed(api, "shop", COMPOSE)
    other = await _deployed(api, "blog", OTHER)
    sid, oid = stack["id"], other["id"]
    dest = await _destination(api, tmp_path)

    # Unknown volume, and a volume of another stack: 404 naming the stack's volume.
    code, body = await api.get(f"/api/stacks/{sid}/volumes/nope")
    assert code == 404 and body["error"]["code"] == "not_found" and "shop/nope" in body["error"]["message"]
    code, body = await api.post(f"/api/stacks/{sid}/volumes/files/backups", json={"destination_id": dest})
    assert code == 404 and "shop/files" in body["error"]["message"], body
    code, body = await api.post(
        f"/api/stacks/{sid}/backups", json={"destination_id": dest, "volumes": ["files"]}
    )
    assert code == 422 and body["error"]["details"][0]["field"] == "volumes", body
    assert body["error"]["details"][0]["available"] == ["data", "uploads"]
    code, body = await api.get("/api/stacks/nope/volumes")
    assert code == 404, body

    # No destination (none given, an unknown one).
    code, body = await api.post(f"/api/stacks/{sid}/backups", json={})
    assert code == 422 and "destination_id" in str(body["error"]["details"]), body
    code, body = await api.post(f"/api/stacks/{sid}/backups", json={"destination_id": "nope"})
    assert code == 404 and body["error"]["details"][0]["field"] == "destination_id", body

    # A stack never deployed has no data yet: 409; one without named volumes: 422.
    code, fresh = await api.post("/api/stacks", json={"name": "fresh", "compose": OTHER})
    assert code == 201, fresh
    code, body = await api.post(f"/api/stacks/{fresh['id']}/backups", json={"destination_id": dest})
    assert code == 409 and body["error"]["code"] == "volume_missing", body
    plain = await _deployed(api, "plain", f"services:\n  a:\n    image: {BUSYBOX}\n")
    code, body = await api.post(f"/api/stacks/{plain['id']}/backups", json={"destination_id": dest})
    assert code == 422 and "no named volumes" in body["error"]["message"], body

    # A backup of one stack restored into another that does not declare its volumes: 422, nothing runs.
    code, run = await api.post(f"/api/stacks/{oid}/backups", json={"destination_id": dest})
    assert code == 202, run
    assert (await _wait(api, f"/api/backups/{run['id']}"))["status"] == "succeeded"
    fake_runtime.calls.clear()
    code, body = await api.post(f"/api/backups/{run['id']}/restore-stack", json={"stack_id": sid})
    assert code == 422 and body["error"]["details"][0]["field"] == "volumes", body
    assert "files" in body["error"]["message"] and fake_runtime.calls_to("stop") == []
    code, body = await api.post(f"/api/backups/{run['id']}/restore-stack", json={"stack_id": "nope"})
    assert code == 404 and body["error"]["details"][0]["field"] == "stack_id", body
    code, body = await api.post(f"/api/backups/{run['id']}/restore-stack", json={"volumes": ["data"]})
    assert code == 422 and body["error"]["details"][0]["available"] == ["files"], body
    # A stack backup is not restored as an app's volumes, and the other way round.
    code, body = await api.post(f"/api/backups/{run['id']}/restore", json={})
    assert code == 422, body
    code, state = await api.post("/api/backups", json={"what": "state", "destination_id": dest})
    assert code == 202, state
    await _wait(api, f"/api/backups/{state['id']}")
    code, body = await api.post(f"/api/backups/{state['id']}/restore-stack", json={})
    assert code == 422 and "Not a stack backup" in body["error"]["message"], body

    # 409 while one runs for the stack.
    gate = asyncio.Event()
    backups = api.ctx.services.backups

    async def slow(request: dict[str, Any]) -> dict[str, Any]:
        await gate.wait()
        return {"key": request.get("key"), "size": 1, "sha256": "0" * 64}

    backups.worker = slow
    try:
        code, first = await api.post(f"/api/stacks/{sid}/backups", json={"destination_id": dest})
        assert code == 202, first
        code, body = await api.post(f"/api/stacks/{sid}/backups", json={"destination_id": dest})
        assert code == 409 and body["error"]["code"] == "backup_in_progress", body
        code, body = await api.post(f"/api/backups/{run['id']}/restore-stack", json={"stack_id": oid})
        assert code == 202, body  # another stack: not blocked
    finally:
        gate.set()
        await _wait(api, f"/api/backups/{first['id']}")
        await _wait(api, f"/api/restores/{body['id']}")
        backups.worker = None


async def test_schedules_take_a_stack(api: ApiClient, tmp_path: Path) -> None:
    stack = await _deployed(api, "shop", COMPOSE)
    dest = await _destination(api, tmp_path)
    base = {"destination_id": dest, "cron": "0 3 * * *", "keep_last": 2}
    code, sched = await api.post("/api/backup-schedules", json={**base, "stack_id": stack["name"]})
    assert code == 201 and sched["what"] == "stack" and sched["stack_id"] == stack["id"], sched
    code, body = await api.post("/api/backup-schedules", json={**base, "what": "stack"})
    assert code == 422 and body["error"]["details"][0]["field"] == "stack_id", body
    code, body = await api.post("/api/backup-schedules", json={**base, "stack_id": "nope"})
    assert code == 404 and body["error"]["details"][0]["field"] == "stack_id", body
    code, body = await api.post(
        "/api/backup-schedules", json={**base, "what": "state", "stack_id": stack["id"]}
    )
    assert code == 422 and body["error"]["details"][0]["field"] == "stack_id", body
    code, page = await api.get(f"/api/backup-schedules?stack_id={stack['id']}")
    assert [s["id"] for s in page["items"]] == [sched["id"]]

    # The job: a run of every volume, then retention (keep_last 2 of three runs).
    backups = api.ctx.services.backups
    for _ in range(3):
        result = await backups.run_schedule(sched["id"])
    code, runs = await api.get(f"/api/stacks/{stack['id']}/backups")
    assert runs["items"][0]["id"] == result["backup_id"] and len(runs["items"]) == 2
    assert {r["trigger"] for r in runs["items"]} == {"schedule"}
    assert len(result["expired"]) == 1

    # Deleting the stack takes its schedule; its backups stay, restorable into another stack.
    assert (await api.delete(f"/api/stacks/{stack['id']}"))[0] == 204
    assert (await api.get(f"/api/backup-schedules/{sched['id']}"))[0] == 404
    code, kept = await api.get(f"/api/backups/{result['backup_id']}")
    assert code == 200 and kept["stack_id"] is None and kept["stack_name"] == "shop", kept
    code, body = await api.post(f"/api/backups/{kept['id']}/restore-stack", json={})
    assert code == 422 and body["error"]["details"][0]["field"] == "stack_id", body


async def test_every_stack_backup_route_is_in_the_openapi_document(api: ApiClient) -> None:
    _code, spec = await api.get("/openapi.json")
    paths = spec["paths"]
    for path, methods in {
        "/api/stacks/{stack_id}/volumes": {"get"},
        "/api/stacks/{stack_id}/volumes/{volume}": {"get"},
        "/api/stacks/{stack_id}/volumes/{volume}/backups": {"post"},
        "/api/stacks/{stack_id}/backups": {"get", "post"},
        "/api/backups/{backup_id}/restore-stack": {"post"},
    }.items():
        assert methods <= set(paths[path]), path
    assert "202" in paths["/api/stacks/{stack_id}/backups"]["post"]["responses"]
    assert "404" in paths["/api/stacks/{stack_id}/volumes/{volume}/backups"]["post"]["responses"]


async def test_the_stack_page_has_a_volumes_and_backups_panel(
    tmp_path: Path, fake_runtime: FakeRuntime
) -> None:
    """In-process dashboard: the stack page includes the panel, whose partial lists the volumes with who mounts
    them, offers "Back up now" per destination and volume, and lists runs restorable into this or another stack."""
    from rivetr_core.app import create_app
    from ui.tests.test_pages import do_setup

    fake_runtime.images[BUSYBOX] = FakeImage(id="sha256:busybox")
    app = create_app(make_config(tmp_path / "data"))
    app.extensions["rivetr_ctx"]._runtime = fake_runtime
    async with app.test_app():
        api = ApiClient(app)
        stack = await _deployed(api, "shop", COMPOSE)
        other = await _deployed(api, "blog", OTHER)
        client = app.test_client()
        await do_setup(client)

        async def page(path: str, status: int = 200) -> str:
            response = await client.get(path)
            body: str = await response.get_data(as_text=True)
            assert response.status_code == status, body[:2000]
            return body

        body = await page(f"/stacks/{stack['id']}")
        assert 'id="stack-backups-panel"' in body and "js/stack_backups.js" in body
        assert f'hx-get="/stacks/{stack["id"]}/partials/backups"' in body
        panel = await page(f"/stacks/{stack['id']}/partials/backups")
        assert 'data-stack-volume="data"' in panel and 'data-stack-volume="uploads"' in panel
        assert "web:/srv/data" in panel and "worker:/work" in panel and "(read-only)" in panel
        assert 'id="stack-backup-no-destination"' in panel and "No backups yet." in panel
        dest = await _destination(api, tmp_path)
        panel = await page(f"/stacks/{stack['id']}/partials/backups")
        assert f'data-stack-backup="/api/stacks/{stack["id"]}/backups"' in panel
        assert f'<option value="{dest}">disk' in panel and '<option value="uploads">uploads</option>' in panel

        code, run = await api.post(f"/api/stacks/{stack['id']}/backups", json={"destination_id": dest})
        assert code == 202, run
        await _wait(api, f"/api/backups/{run['id']}")
        runs = await page(f"/stacks/{stack['id']}/partials/backup-runs")
        assert f'data-backup-run="{run["id"]}"' in runs and 'data-status="succeeded"' in runs
        assert f'data-restore-stack="/api/backups/{run["id"]}/restore-stack"' in runs
        assert f'<option value="{stack["id"]}" selected>shop</option>' in runs
        assert f'<option value="{other["id"]}" >blog</option>' in runs
        await page("/stacks/nope/partials/backups", 404)
        # The page of a stack without named volumes says there is nothing to back up.
        plain = await _deployed(api, "plain", f"services:\n  a:\n    image: {BUSYBOX}\n")
        assert 'id="stack-no-volumes"' in await page(f"/stacks/{plain['id']}/partials/backups")
