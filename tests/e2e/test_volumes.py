"""Volumes on real engines (Docker and Podman): data written through the app survives a redeploy, a rollback, a
crash restart and a Rivetr restart; PR-preview-like apps get their own volumes; deleting an app removes its
volumes unless ``?keep_volumes=true``; ``deploy_strategy = "recreate"`` never runs two containers at once.

The busybox test app gets a CGI script that appends its query string to ``/data/notes.txt`` (the mount) and
prints the file, so every step reads back what the earlier containers wrote."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.slow

ENGINES = [pytest.param("docker", marks=pytest.mark.docker), pytest.param("podman", marks=pytest.mark.podman)]

# CRLF headers: busybox httpd passes CGI headers through verbatim and the proxy refuses bare LF.
NOTES_CGI = """#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
if [ -n "$QUERY_STRING" ]; then echo "$QUERY_STRING" >> /data/notes.txt; fi
cat /data/notes.txt 2>/dev/null
"""


def notes_repo(git_server, name: str):
    repo = git_server.create_repo(name)
    repo.write("www/cgi-bin/notes", NOTES_CGI, 0o755)
    repo.commit("notes CGI")
    return repo


def notes(rivetr, host: str, add: str = "") -> list[str]:
    status, body = rivetr.fetch(host, "/cgi-bin/notes" + (f"?{add}" if add else ""))
    assert status == 200, body
    return body.split()


def add_volume(rivetr, app_id: str, **body) -> dict:
    response = rivetr.api.post(f"/api/apps/{app_id}/volumes", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def engine_volumes(rivetr) -> list[str]:
    out = rivetr.cli("volume", "ls", "-q", "--filter", f"label=rivetr.instance={rivetr.instance_id()}")
    return sorted(out.split())


@pytest.mark.parametrize("engine", ENGINES)
def test_volume_data_survives_redeploy_rollback_crash_and_restart(e2e, git_server, engine, tmp_path):
    rivetr = e2e(engine)
    name = f"vol-{engine}"
    host = f"{name}.e2e.test"
    repo = notes_repo(git_server, name)
    app = rivetr.create_app(repo, name)
    volume = add_volume(rivetr, app["id"], name="data", mount_path="/data")
    assert volume["engine_name"] == f"rivetr-{app['id']}-data" and volume["kind"] == "volume"

    first = rivetr.deploy_and_wait(app["id"])
    assert notes(rivetr, host, "one") == ["one"]
    assert engine_volumes(rivetr) == [volume["engine_name"]]  # labelled with the instance

    repo.write("www/index.html", "v2\n")
    repo.commit("v2")
    rivetr.deploy_and_wait(app["id"])  # a new container (zero-downtime: both mounted the volume a moment)
    assert notes(rivetr, host, "two") == ["one", "two"]

    response = rivetr.api.post(f"/api/deployments/{first['id']}/rollback")
    assert response.status_code == 202, response.text
    back = rivetr.wait_drained(rivetr.wait(response.json()["id"]))
    assert back["status"] == "running", back
    assert notes(rivetr, host, "three") == ["one", "two", "three"]

    rivetr.cli("kill", back["container_id"])  # a crash: the watcher starts a new container
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = rivetr.deployment(back["id"])
        if now["restart_count"] >= 1 and now["container_id"] != back["container_id"]:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"container not restarted: {now}")
    rivetr.wait_content(host, "one\ntwo\nthree\n", "/cgi-bin/notes")
    assert notes(rivetr, host, "four") == ["one", "two", "three", "four"]

    sizes = rivetr.api.get(f"/api/apps/{app['id']}/volumes").json()
    assert sizes["next"] is None and sizes["items"][0]["size_bytes"] > 0, sizes

    # A Rivetr restart, then a new container from the restarted control plane.
    data_dir, port = rivetr.server.data_dir, rivetr.proxy_port
    rivetr.server.stop()
    again = e2e(engine, data_dir=data_dir, proxy_port=port)
    again.deploy_and_wait(app["id"])
    assert notes(again, host, "five") == ["one", "two", "three", "four", "five"]

    # Deleting the app (default): its containers go first, then the volume and its data.
    assert again.api.delete(f"/api/apps/{app['id']}").status_code == 204
    assert engine_volumes(again) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_keep_volumes_and_apps_never_share_a_volume(e2e, git_server, engine):
    rivetr = e2e(engine)
    repo = notes_repo(git_server, f"keep-{engine}")
    prod = rivetr.create_app(repo, f"keep-{engine}")
    other = rivetr.create_app(repo, f"keep2-{engine}")  # what a PR preview is: another app, same mounts
    for app in (prod, other):
        add_volume(rivetr, app["id"], name="data", mount_path="/data")
        rivetr.deploy_and_wait(app["id"])
    assert notes(rivetr, f"keep-{engine}.e2e.test", "prod") == ["prod"]
    assert notes(rivetr, f"keep2-{engine}.e2e.test") == []  # its own, empty volume
    kept = f"rivetr-{prod['id']}-data"
    assert rivetr.api.delete(f"/api/apps/{prod['id']}?keep_volumes=true").status_code == 204
    assert rivetr.containers() != [] and kept in engine_volumes(rivetr)
    # A volume deleted while mounted: the mount goes now, the data after the next deployment.
    other_volume = f"rivetr-{other['id']}-data"
    row = rivetr.api.get(f"/api/apps/{other['id']}/volumes").json()["items"][0]
    assert rivetr.api.delete(f"/api/apps/{other['id']}/volumes/{row['id']}").status_code == 204
    assert other_volume in engine_volumes(rivetr)
    rivetr.deploy_and_wait(other["id"])
    assert other_volume not in engine_volumes(rivetr)
    assert rivetr.api.delete(f"/api/apps/{other['id']}").status_code == 204
    assert engine_volumes(rivetr) == [kept]  # the kept one stayed
    rivetr.cli("volume", "rm", kept)


@pytest.mark.parametrize("engine", ENGINES)
def test_recreate_strategy_stops_the_old_container_first(e2e, git_server, engine):
    rivetr = e2e(engine)
    name = f"recreate-{engine}"
    repo = notes_repo(git_server, name)
    app = rivetr.create_app(repo, name, deploy_strategy="recreate")
    assert app["deploy_strategy"] == "recreate"
    add_volume(rivetr, app["id"], name="data", mount_path="/data")
    first = rivetr.deploy_and_wait(app["id"])
    assert notes(rivetr, f"{name}.e2e.test", "a") == ["a"]
    second = rivetr.deploy_and_wait(app["id"])
    logs = [x["line"] for x in rivetr.api.get(f"/api/deployments/{second['id']}/logs").json()]
    stopped = next(i for i, line in enumerate(logs) if "recreate: stopping the previous container" in line)
    started = next(i for i, line in enumerate(logs) if line.startswith("started container"))
    assert stopped < started, logs  # the old one was gone before the new one started
    assert rivetr.deployment(first["id"])["status"] == "replaced"
    assert notes(rivetr, f"{name}.e2e.test") == ["a"]
    assert rivetr.containers() == [second["container_id"]]
