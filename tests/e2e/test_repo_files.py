"""Hole 6 of issue 14 through the whole system: a real ``rivetr serve``, a real engine, a real git daemon.

A repository whose ``.dockerignore`` links to a FIFO on the host, or whose Dockerfile links to ``/dev/zero``,
fails its deployment at once with an error naming the file, and the server stays healthy (before the fix the
FIFO blocked the build thread forever: the deployment never left ``building``). Links inside the build context
that point out of the checkout travel into the image as links: the host file they name is never served.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest


def _link(repo, rel: str, target: str) -> None:  # type: ignore[no-untyped-def]
    path = repo.work / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.exists():
        path.unlink()
    path.symlink_to(target)


@pytest.mark.parametrize(
    "engine",
    [pytest.param("docker", marks=pytest.mark.docker), pytest.param("podman", marks=pytest.mark.podman)],
)
def test_bad_repository_files_fail_the_deployment_and_links_never_leak(
    e2e, git_server, engine, tmp_path: Path
):
    rivetr = e2e(engine)
    fifo = tmp_path / "host.fifo"
    os.mkfifo(fifo)
    secret_dir = tmp_path / "host-dir"
    secret_dir.mkdir()
    (secret_dir / "secret.txt").write_text("HOST-SECRET-7f3a\n")

    repo = git_server.create_repo(f"badfiles-{engine}")
    _link(repo, ".dockerignore", str(fifo))
    repo.commit("dockerignore links to a FIFO on the host")
    app = rivetr.create_app(repo, f"badfiles-{engine}")
    started = time.monotonic()
    dep = rivetr.wait(rivetr.deploy(app["id"])["id"], timeout=60)
    assert dep["status"] == "failed", dep
    assert "build failed: .dockerignore: is a symbolic link to a path outside the repository" in dep["error"]
    assert time.monotonic() - started < 60
    assert rivetr.api.get("/health").status_code == 200

    repo.remove(".dockerignore")
    _link(repo, "Dockerfile", "/dev/zero")
    repo.commit("Dockerfile links to /dev/zero")
    dep = rivetr.wait(rivetr.deploy(app["id"])["id"], timeout=60)
    assert dep["status"] == "failed", dep
    assert "Dockerfile 'Dockerfile': is a symbolic link to a path outside the repository" in dep["error"]

    # A good Dockerfile again, with links out of the checkout inside the build context: they are copied as
    # links, so what they name on the host never reaches the image.
    from tests.support.gitserver import DOCKERFILE

    repo.remove("Dockerfile")
    repo.write("Dockerfile", DOCKERFILE)
    _link(repo, "www/leak.txt", str(secret_dir / "secret.txt"))
    _link(repo, "www/leakdir", str(secret_dir))
    repo.write("www/index.html", "safe again\n")
    repo.commit("good build with outward links")
    rivetr.deploy_and_wait(app["id"])
    host = f"badfiles-{engine}.e2e.test"
    rivetr.wait_content(host, "safe again\n")
    for path in ("/leak.txt", "/leakdir/secret.txt"):
        status, body = rivetr.fetch(host, path)
        assert "HOST-SECRET" not in body and status == 404, (path, status, body[:200])
