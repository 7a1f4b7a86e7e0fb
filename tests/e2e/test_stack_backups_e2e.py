"""Backups of a compose stack's named volume on real engines (Docker and Podman) through a real ``rivetr serve``,
its proxy and the real backup worker, to a real S3-compatible server (moto's, started by the suite): a file written
through the service is backed up (encrypted, the service paused for the copy), the data is changed and deleted, the
restore (by ``rivetr stacks restore``) stops the service, swaps the data back, starts it again, and the proxy
serves the backed-up file again; the CLI lists the volumes and runs and adds a schedule.
The API's errors are checked against the same server (unknown volume, unknown destination, a stack never
deployed); the rest of the rules run without an engine in tests/test_stack_backups.py."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_stacks_e2e import BUSYBOX, deploy
from tests.support.cli import cli_env
from tests.test_cli import run

pytestmark = pytest.mark.slow

ENGINES = [pytest.param("docker", marks=pytest.mark.docker), pytest.param("podman", marks=pytest.mark.podman)]

# The shell is PID 1 (compose runs no init): its trap ends it on SIGTERM at once, where busybox httpd alone
# would ignore the signal and make every stop wait for its timeout.
COMPOSE = f"""
services:
  web:
    image: {BUSYBOX}
    command: ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h /srv/files & wait"]
    volumes:
      - files:/srv/files
  side:
    image: {BUSYBOX}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
volumes:
  files:
"""


def wait_done(rivetr: Any, path: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = rivetr.api.get(path)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] != "running":
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_stack_volume_is_backed_up_to_s3_and_restored(
    e2e: Any, engine: str, s3_server: Any, tmp_path: Path
) -> None:
    rivetr = e2e(engine)
    name = f"stkbk{uuid.uuid4().hex[:6]}"
    domain = f"{name}.e2e.test"
    response = rivetr.api.post(
        "/api/stacks",
        json={
            "name": name,
            "compose": COMPOSE,
            "domains": [{"domain": domain, "service": "web", "port": 8080}],
        },
    )
    assert response.status_code == 201, response.text
    stack = response.json()
    sid = stack["id"]
    bucket = s3_server.create_bucket()
    dest = rivetr.api.post(
        "/api/backup-destinations",
        json={
            "name": f"{name}-s3",
            **s3_server.destination(bucket, prefix=f"rivetr/{name}"),
            "passphrase": "stack volume passphrase",
        },
    )
    assert dest.status_code == 201, dest.text
    dest_id = dest.json()["id"]

    # Never deployed: the volume has no data yet.
    response = rivetr.api.post(f"/api/stacks/{sid}/backups", json={"destination_id": dest_id})
    assert response.status_code == 409 and response.json()["error"]["code"] == "volume_missing", response.text

    dep = deploy(rivetr, sid)
    web = dep["services"]["web"]["containers"][0]["name"]
    side = dep["services"]["side"]["containers"][0]["id"]
    rivetr.cli(
        "exec",
        web,
        "sh",
        "-c",
        "echo backed-up > /srv/files/index.html && mkdir -p /srv/files/sub"
        " && head -c 200000 /dev/urandom > /srv/files/sub/blob.bin && sync",
    )
    checksum = rivetr.cli("exec", web, "sha256sum", "/srv/files/sub/blob.bin")
    rivetr.wait_content(domain, "backed-up\n")

    listed = rivetr.api.get(f"/api/stacks/{sid}/volumes").json()["items"]
    assert [(v["name"], v["services"], v["exists"]) for v in listed] == [("files", ["web"], True)], listed
    assert listed[0]["engine_name"] == f"rivetr-stk-{sid}-files"
    # Errors: an unknown volume, an unknown destination.
    response = rivetr.api.post(f"/api/stacks/{sid}/volumes/nope/backups", json={"destination_id": dest_id})
    assert response.status_code == 404, response.text
    response = rivetr.api.post(f"/api/stacks/{sid}/volumes/files/backups", json={"destination_id": "nope"})
    assert response.status_code == 404 and "destination_id" in response.text, response.text

    response = rivetr.api.post(f"/api/stacks/{sid}/volumes/files/backups", json={"destination_id": dest_id})
    assert response.status_code == 202, response.text
    done = wait_done(rivetr, f"/api/backups/{response.json()['id']}")
    assert done["status"] == "succeeded", done
    assert done["encrypted"] is True and done["size_bytes"] > 200000 * 0.9 and done["what"] == "stack"
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert any(k.endswith(done["key"]) for k in keys), keys
    rivetr.wait_content(domain, "backed-up\n")  # unpaused after the copy

    # The data changes and a file goes; the restore brings the backup's back and the service serves it.
    rivetr.cli("exec", web, "sh", "-c", "echo changed > /srv/files/index.html && rm -r /srv/files/sub")
    rivetr.wait_content(domain, "changed\n")
    # Through the CLI (rivetr stacks restore waits for the restore and exits 0 once it succeeded).
    env = cli_env(rivetr.server, tmp_path)
    result = run(["stacks", "restore", done["id"], "--yes", "--json"], env)
    assert result.exit_code == 0, result.output
    restored = json.loads(result.output)
    assert restored["status"] == "succeeded" and restored["stack_id"] == sid, restored
    rivetr.wait_content(domain, "backed-up\n")
    assert rivetr.cli("exec", web, "sha256sum", "/srv/files/sub/blob.bin") == checksum
    # The service not mounting the volume kept running; the stack's page shows every service running.
    assert side in rivetr.containers(running_only=True)
    services = rivetr.api.get(f"/api/stacks/{sid}").json()["services"]
    assert {s["name"]: s["status"] for s in services} == {"web": "running", "side": "running"}
    runs = rivetr.api.get(f"/api/stacks/{sid}/backups").json()["items"]
    assert [r["id"] for r in runs] == [done["id"]]
    result = run(["stacks", "volumes", name], env)
    assert result.exit_code == 0 and "files" in result.output and "web:/srv/files" in result.output, (
        result.output
    )
    result = run(["stacks", "backups", name], env)
    assert result.exit_code == 0 and done["id"] in result.output and "succeeded" in result.output, (
        result.output
    )
    result = run(
        [
            "backup",
            "schedules",
            "add",
            "--stack",
            name,
            "--to",
            f"{name}-s3",
            "--cron",
            "0 3 * * *",
            "--keep-last",
            "2",
        ],
        env,
    )
    assert result.exit_code == 0 and f"the named volumes of stack {name}" in result.output, result.output
    schedules = rivetr.api.get("/api/backup-schedules", params={"stack_id": sid}).json()["items"]
    assert [(s["what"], s["stack_id"]) for s in schedules] == [("stack", sid)]

    assert rivetr.api.delete(f"/api/stacks/{sid}", params={"volumes": "true"}).status_code == 204
