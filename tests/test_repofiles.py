"""Repository files the control plane reads (``.dockerignore``, the Dockerfile) are read without trusting the
repository: hole 6 of issue 14.

The reader is tested on every kind of bad file (links to ``/dev/zero``, a FIFO, a device, a directory, a host
file; too large). Then real repositories served by ``git daemon`` and cloned by the pipeline's clone function
are built by the Dockerfile builder on both real engines: each bad ``.dockerignore`` / ``Dockerfile`` fails
the build within seconds with an error naming the file (before the fix, a link to a FIFO blocked the engine
client thread forever, ``/dev/zero`` was read until memory ran out, and a host file was read and used).
"""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from rivetr_core.builtin.dockerfile_builder import DockerfileBuilder
from rivetr_core.contract import BuildFailed, BuildRequest
from rivetr_core.engine.gitsource import CloneRequest, clone_sync
from rivetr_core.repofiles import UnsafeRepoFile, read_repo_file
from tests.support.engines import SESSION_ID, SESSION_LABEL, unique_name
from tests.support.gitserver import busybox_app


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    (root / "sub").mkdir(parents=True)
    (root / "Dockerfile").write_text("FROM scratch\n")
    return root


def _reads(root: Path, rel: str, **kw: object) -> bytes | None:
    return read_repo_file(root, rel, **kw)  # type: ignore[arg-type]


def test_regular_files_and_links_inside_the_checkout_are_read(repo_dir: Path) -> None:
    (repo_dir / "sub" / "real").write_text("x")
    (repo_dir / "link").symlink_to("sub/real")
    assert _reads(repo_dir, "Dockerfile") == b"FROM scratch\n"
    assert _reads(repo_dir, "link") == b"x"
    assert _reads(repo_dir, ".dockerignore", missing_ok=True) is None
    with pytest.raises(UnsafeRepoFile, match=r"^\.dockerignore: not found"):
        _reads(repo_dir, ".dockerignore")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p, out: p.symlink_to("/dev/zero"), "symbolic link to a path outside the repository"),
        (lambda p, out: p.symlink_to(out), "symbolic link to a path outside the repository"),
        (lambda p, out: p.symlink_to("../outside/secret"), "symbolic link to a path outside the repository"),
        (lambda p, out: p.mkdir(), "is a directory, not a regular file"),
        (lambda p, out: os.mkfifo(p), r"is a FIFO \(named pipe\), not a regular file"),
        (lambda p, out: p.symlink_to("missing"), "symbolic link that leads nowhere"),
        (lambda p, out: p.symlink_to(p.name), "symbolic link that leads nowhere"),
        (lambda p, out: p.write_bytes(b"#" * 2048), "is 2048 bytes, more than the limit of 1024"),
    ],
    ids=["dev-zero", "host-file", "relative-escape", "directory", "fifo", "dangling", "loop", "too-big"],
)
def test_bad_files_are_refused_with_a_clear_error(repo_dir: Path, tmp_path: Path, make, message) -> None:
    outside = tmp_path / "outside" / "secret"
    outside.parent.mkdir()
    outside.write_text("host secret")
    make(repo_dir / ".dockerignore", outside)
    with pytest.raises(UnsafeRepoFile, match=message) as info:
        _reads(repo_dir, ".dockerignore", max_bytes=1024, missing_ok=True)
    assert str(info.value).startswith(".dockerignore: ")
    assert "host secret" not in str(info.value)
    assert isinstance(info.value, BuildFailed)  # the deployment fails with this message


def test_a_device_node_is_refused(repo_dir: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("creating a device node needs root")
    os.mknod(repo_dir / "Dockerfile.dev", 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero's numbers
    with pytest.raises(UnsafeRepoFile, match="is a character device, not a regular file"):
        _reads(repo_dir, "Dockerfile.dev")


def test_a_link_in_a_parent_directory_cannot_escape(repo_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "Dockerfile").write_text("FROM host\n")
    (repo_dir / "dir").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafeRepoFile, match="outside the repository"):
        _reads(repo_dir, "dir/Dockerfile")
    with pytest.raises(UnsafeRepoFile, match="outside the repository"):
        _reads(repo_dir, "../elsewhere/Dockerfile")


# ------------------------------------------------------------------ real repositories, real engines
def _git_link(repo, rel: str, target: str) -> None:  # type: ignore[no-untyped-def]
    """Commit ``rel`` as a symbolic link to ``target`` (git stores the link, not what it points to)."""
    path = repo.work / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.exists():
        path.unlink()
    path.symlink_to(target)


async def _clone_and_build(git_server, repo, runtime, tmp_path: Path, name: str) -> list[str]:  # type: ignore[no-untyped-def]
    dest = tmp_path / f"src-{name}"
    await asyncio.to_thread(clone_sync, CloneRequest(repo.url, branch="main"), dest, lambda _line: None)
    request = BuildRequest(
        source_dir=dest,
        tag=f"localhost/rivetr-test/{unique_name(name)}:1",
        labels={SESSION_LABEL: SESSION_ID},
    )
    builder = DockerfileBuilder()
    assert builder.detect(dest, request)

    async def run() -> list[str]:
        return [line async for line in builder.build(request, runtime)]

    # Before the fix the FIFO case never returned (the thread stayed blocked in open()).
    return await asyncio.wait_for(run(), 60)


@pytest.mark.parametrize(
    ("rel", "target", "message"),
    [
        (
            ".dockerignore",
            "/dev/zero",
            r"\.dockerignore: is a symbolic link to a path outside the repository",
        ),
        (".dockerignore", "{fifo}", r"\.dockerignore: is a symbolic link to a path outside the repository"),
        (".dockerignore", "{secret}", r"\.dockerignore: is a symbolic link to a path outside the repository"),
        (".dockerignore/x", "www/index.html", r"\.dockerignore: is a directory, not a regular file"),
        ("Dockerfile", "/dev/zero", r"Dockerfile 'Dockerfile': is a symbolic link to a path outside"),
        ("Dockerfile", "{secret}", r"Dockerfile 'Dockerfile': is a symbolic link to a path outside"),
    ],
    ids=["ignore-dev-zero", "ignore-fifo", "ignore-host-file", "ignore-directory", "df-dev-zero", "df-host"],
)
async def test_a_bad_repository_file_fails_the_build_on_a_real_engine(
    git_server, runtime, tmp_path: Path, rel: str, target: str, message: str
) -> None:
    fifo = tmp_path / "host.fifo"
    os.mkfifo(fifo)
    secret = tmp_path / "host-secret"
    secret.write_text("/etc\n")  # as a .dockerignore this would silently change the build
    repo = git_server.create_repo("bad")
    target = target.format(fifo=fifo, secret=secret)
    if rel.endswith("/x"):  # a directory named .dockerignore (git stores directories through their files)
        repo.write(rel, "x")
    else:
        if rel == "Dockerfile":
            repo.write("Dockerfile.real", busybox_app()["Dockerfile"][0])
        _git_link(repo, rel, target)
    repo.commit("bad file")
    with pytest.raises(BuildFailed, match=message):
        await _clone_and_build(git_server, repo, runtime, tmp_path, "bad")


async def test_a_good_repository_with_inner_links_still_builds(git_server, runtime, tmp_path: Path) -> None:
    repo = git_server.create_repo("good")
    repo.write("docker/Dockerfile.prod", busybox_app()["Dockerfile"][0])
    repo.remove("Dockerfile")
    _git_link(repo, "Dockerfile", "docker/Dockerfile.prod")
    repo.write("ignore.txt", "*.md\n")
    _git_link(repo, ".dockerignore", "ignore.txt")
    repo.commit("links inside the repository")
    lines = await _clone_and_build(git_server, repo, runtime, tmp_path, "good")
    assert lines


async def test_a_dockerfile_outside_the_build_context_still_builds(
    git_server, runtime, tmp_path: Path
) -> None:
    """The Dockerfile at the repository root, the context in a subdirectory: its text (read the safe way)
    travels inside the context, as the SDK's own process_dockerfile did."""
    files = busybox_app()
    repo = git_server.create_repo(
        "outside",
        {
            "Dockerfile": files["Dockerfile"],
            "app/www/index.html": files["www/index.html"],
            "app/.dockerignore": ("*.md\n", 0o644),
        },
    )
    dest = tmp_path / "src"
    clone_sync(CloneRequest(repo.url, branch="main"), dest, lambda _line: None)
    request = BuildRequest(
        source_dir=dest,
        tag=f"localhost/rivetr-test/{unique_name('outside')}:1",
        build_context="app",
        labels={SESSION_LABEL: SESSION_ID},
    )
    lines = [line async for line in DockerfileBuilder().build(request, runtime)]
    assert any("COPY www /www" in line for line in lines), lines
