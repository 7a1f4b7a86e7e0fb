"""The base-image stand-ins zero-config builds use (``python:3.12-slim``, ``node:22-slim``, ``golang:1.22``,
``busybox:stable``), on both engines.

``scripts/engines.sh ensure`` builds them from Debian bookworm packages (``scripts/standins/{python,node,golang,
busybox}``: older language versions than the tags say) and pushes them to the local registry both engines use as
their Docker Hub mirror. No container in a test may reach PyPI or the npm registry, so the python image carries an
offline wheelhouse and the node image an offline npm cache; a build step needs no network at all, which is what
makes the same recipes work on dockerd and podman. These tests check what builder-auto relies on: the official
names pull from the mirror, the tools are on PATH, installs work offline (and fail fast outside the cache), and a
multi-stage build from these names with networking off produces a working image.
"""

from __future__ import annotations

import io
import tarfile
import urllib.request
from collections.abc import Iterator

import docker
import pytest

from tests.support.engines import SESSION_ID, SESSION_LABEL, EngineEnv, unique_name

ENGINES = [pytest.param("docker", marks=pytest.mark.docker), pytest.param("podman", marks=pytest.mark.podman)]
# repository, tag: every tag the stand-ins publish that builders are told to use.
BASE_IMAGES = [
    ("python", "3.12-slim"),
    ("node", "22-slim"),
    ("golang", "1.22"),
    ("busybox", "stable"),
]


@pytest.fixture(params=ENGINES)
def client(request: pytest.FixtureRequest, engine_env: EngineEnv) -> Iterator[docker.DockerClient]:
    """A Docker SDK client on the engine's own API socket (podman serves the same API)."""
    api = docker.DockerClient(base_url=engine_env.socket(request.param), timeout=600)
    try:
        yield api
    finally:
        api.close()


def registry_digest(env: EngineEnv, repository: str, tag: str) -> str:
    """The manifest digest the local registry serves for ``library/<repository>:<tag>``."""
    request = urllib.request.Request(
        f"http://{env.registry}/v2/library/{repository}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.headers["Docker-Content-Digest"])


def run(client: docker.DockerClient, image: str, script: str, *, user: str = "") -> tuple[int, str]:
    """Run ``sh -c script`` in a fresh container without network; its exit code and output (both streams)."""
    container = client.containers.create(
        image,
        ["sh", "-c", script],
        name=unique_name("standin-build"),
        labels={SESSION_LABEL: SESSION_ID},
        network_mode="none",
        user=user or None,
    )
    try:
        container.start()
        code = int(container.wait(timeout=300)["StatusCode"])
        return code, container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)


@pytest.mark.parametrize(("repository", "tag"), BASE_IMAGES)
def test_official_base_image_pulls_from_the_mirror(
    client: docker.DockerClient, engine_env: EngineEnv, repository: str, tag: str
) -> None:
    image = client.images.pull(f"docker.io/library/{repository}", tag=tag)
    # No public registry answers here: a pull that succeeds came from the mirror, and the digest says which image.
    expected = registry_digest(engine_env, repository, tag)
    digests = image.attrs.get("RepoDigests") or []
    assert any(d.endswith(f"@{expected}") for d in digests), (digests, expected)
    assert image.labels.get("rivetr.test.recipe"), image.labels


def test_python_has_pip_venv_and_an_offline_wheelhouse(client: docker.DockerClient) -> None:
    image = "docker.io/library/python:3.12-slim"
    client.images.pull(image)
    code, out = run(
        client,
        image,
        # As an official-image Dockerfile would: `python`/`pip` on PATH, a root `pip install` into the system
        # (no PEP 668 refusal), a venv whose pip reads the same offline index, then an import of each.
        "set -e; python -m pip --version; pip --version; "
        "pip install -q --root-user-action=ignore flask==3.0.3 gunicorn==22.0.0; "
        "python -c 'import flask, gunicorn; print(\"system\", gunicorn.__version__)'; "
        "python -m venv /opt/venv; /opt/venv/bin/pip install -q fastapi uvicorn; "
        "/opt/venv/bin/python -c 'import fastapi, uvicorn; print(\"venv ok\")'",
    )
    assert code == 0, out
    assert "pip " in out and "(python 3." in out, out
    assert "system 22.0.0" in out and "venv ok" in out, out
    # A requirement outside the wheelhouse fails at once (no index, no network), naming the project.
    code, out = run(client, image, "pip install --root-user-action=ignore rivetr-not-in-the-wheelhouse")
    assert code != 0 and "No matching distribution found for rivetr-not-in-the-wheelhouse" in out, out


def test_node_runs_and_npm_installs_from_the_offline_cache(client: docker.DockerClient) -> None:
    image = "docker.io/library/node:22-slim"
    client.images.pull(image)
    code, out = run(
        client,
        image,
        "set -e; node -e 'console.log(\"node\", 6 * 7)'; npm --version; "
        "mkdir /tmp/app && cd /tmp/app && npm init -y >/dev/null && npm install --loglevel=error express@4 >/dev/null; "
        'node -e \'require("express")().listen(0, function () { console.log("express listening"); this.close() })\'',
        user="node",  # the official image's unprivileged user: the cache must be usable by it too
    )
    assert code == 0, out
    assert "node 42" in out and "express listening" in out, out
    code, out = run(client, image, "cd /tmp && npm init -y >/dev/null && npm install rivetr-not-in-the-cache")
    assert code != 0 and "ENOTCACHED" in out, out


def test_go_builds_static_and_cgo_binaries(client: docker.DockerClient) -> None:
    image = "docker.io/library/golang:1.22"
    client.images.pull(image)
    program = 'package main\nimport "fmt"\nfunc main() { fmt.Println("hello from go") }\n'
    code, out = run(
        client,
        image,
        # HOME: an arbitrary uid has no home, and Go's build cache lives under it (the same in the official image).
        f"set -e; export HOME=/tmp; go version; mkdir -p /go/src/hello && cd /go/src/hello && printf '%s' '{program}' > main.go; "
        "go mod init example.com/hello 2>/dev/null; "
        "CGO_ENABLED=0 go build -o /tmp/static . && /tmp/static; "
        "go build -o /tmp/default . && /tmp/default",
        user="1000:1000",  # GOPATH is writable by any user, like the official image's
    )
    assert code == 0, out
    assert "go version go1." in out and out.count("hello from go") == 2, out


def test_multi_stage_build_from_official_names_without_network(client: docker.DockerClient) -> None:
    """The shape builder-auto generates: dependency installs in language images, the result in a small runtime
    image; the engine builds it with networking off, so every install came from the stand-ins' own caches."""
    dockerfile = """
FROM golang:1.22 AS go
WORKDIR /src
RUN printf 'package main\\nimport "fmt"\\nfunc main() { fmt.Println("go binary ok") }\\n' > main.go \\
    && go mod init example.com/x && CGO_ENABLED=0 go build -o /out/app .
FROM python:3.12-slim AS py
RUN pip install -q --root-user-action=ignore flask==3.0.3 && python -c 'import flask' > /ok-python
FROM node:22-slim AS node
RUN mkdir /app && cd /app && npm init -y >/dev/null && npm install --loglevel=error express@4 && touch /ok-node
FROM busybox:stable
COPY --from=go /out/app /app
COPY --from=py /ok-python /ok-python
COPY --from=node /ok-node /ok-node
CMD ["/app"]
"""
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    tag = f"localhost/rivetr-test/standin-build:{SESSION_ID}-{unique_name('b')[-6:]}"
    image, _ = client.images.build(
        fileobj=context,
        custom_context=True,
        tag=tag,
        labels={SESSION_LABEL: SESSION_ID},
        network_mode="none",
        rm=True,
        forcerm=True,
    )
    try:
        code, out = run(client, tag, "ls /ok-python /ok-node && /app && httpd --help 2>&1 | head -n1")
        assert code == 0, out
        assert "go binary ok" in out and "BusyBox" in out, out
    finally:
        client.images.remove(image.id, force=True)
