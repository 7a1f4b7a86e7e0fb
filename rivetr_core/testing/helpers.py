"""Small helpers for tests that drive a container runtime (used by the contract suite; no pytest import).

:func:`run_sync`, :func:`unique_name`, :func:`write_httpd_context`, :func:`run_container`, :func:`http_get`,
:func:`wait_http`, :func:`remove_labelled`. Everything a test creates should carry ``SESSION_LABEL:
SESSION_ID`` (plus a per-test ``CASE_LABEL``) so teardown can find it by label.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from rivetr_core.contract import ContainerInfo, ContainerRuntime

T = TypeVar("T")

#: Unique per test process: in names, tags and the ``rivetr.test`` label.
SESSION_ID = uuid.uuid4().hex[:8]
SESSION_LABEL = "rivetr.test"
CASE_LABEL = "rivetr.test.case"
HTTPD_PORT = 8000
ENV_CGI = '#!/bin/sh\necho "Content-Type: text/plain"\necho ""\nenv\n'


def run_sync(awaitable: Awaitable[T]) -> T:
    """Run a coroutine to completion from synchronous code, whether or not an event loop is running here
    (a fresh loop in a helper thread), e.g. in session-scoped fixtures."""

    async def runner() -> T:
        return await awaitable

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, runner()).result()


def unique_name(prefix: str = "c") -> str:
    """A container/image name unique to this session and call: ``rivetr-test-<session>-<prefix>-<rand>``."""
    return f"rivetr-test-{SESSION_ID}-{prefix}-{uuid.uuid4().hex[:6]}"


def write_httpd_context(
    directory: Path,
    *,
    base_image: str,
    files: dict[str, str] | None = None,
    extra_lines: list[str] | None = None,
) -> Path:
    """Write a build context for a busybox httpd app (``httpd -f -v -p 8000 -h /www``) into ``directory``.

    ``files`` maps paths under ``/www`` to content (default: ``index.html`` saying "hello from rivetr" and
    the CGI ``cgi-bin/env`` printing the environment); ``extra_lines`` are Dockerfile instructions inserted
    before ``CMD``."""
    directory.mkdir(parents=True, exist_ok=True)
    www = directory / "www"
    content = {"index.html": "hello from rivetr\n", "cgi-bin/env": ENV_CGI}
    content.update(files or {})
    for rel, text in content.items():
        path = www / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if rel.startswith("cgi-bin/"):
            path.chmod(0o755)
    lines = [
        f"FROM {base_image}",
        "COPY www /www",
        *(extra_lines or []),
        f"EXPOSE {HTTPD_PORT}",
        f'CMD ["httpd", "-f", "-v", "-p", "{HTTPD_PORT}", "-h", "/www"]',
    ]
    (directory / "Dockerfile").write_text("\n".join(lines) + "\n")
    return directory


async def run_container(
    runtime: ContainerRuntime, image: str, labels: dict[str, str], prefix: str = "c", **spec: Any
) -> ContainerInfo:
    """Run ``image`` as a container named :func:`unique_name` ``(prefix)`` carrying ``labels`` (pass the
    test's labels so teardown removes it); ``spec`` holds any other :class:`RunSpec` fields."""
    from rivetr_core.contract import RunSpec

    return await runtime.run(RunSpec(image=image, name=unique_name(prefix), labels=labels, **spec))


def _http_get_blocking(port: int, path: str, timeout: float, host: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


async def http_get(
    port: int, path: str = "/", timeout: float = 5.0, host: str = "127.0.0.1"
) -> tuple[int, str]:
    """``GET http://<host>:<port><path>`` off the event loop → ``(status, body)``."""
    return await asyncio.to_thread(_http_get_blocking, port, path, timeout, host)


async def wait_http(
    port: int, path: str = "/", timeout: float = 15.0, host: str = "127.0.0.1"
) -> tuple[int, str]:
    """Retry :func:`http_get` until the server answers (a container's port is published before its process
    listens)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await http_get(port, path, timeout=2.0, host=host)
        except (OSError, urllib.error.URLError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def remove_labelled(runtime: ContainerRuntime, labels: dict[str, str]) -> None:
    """Remove every container, then every image, carrying ``labels`` (best effort, for teardown)."""
    try:
        containers = await runtime.list(labels=labels)
        await asyncio.gather(*(runtime.remove(c.id, force=True) for c in containers), return_exceptions=True)
        for image in reversed(await runtime.list_images(labels=labels)):
            try:
                await runtime.remove_image(image, force=True)
            except Exception as exc:  # a child image still present; a later sweep retries
                print(f"cleanup: could not remove {image} from {runtime.name}: {exc}")
    except Exception as exc:
        print(f"cleanup on {runtime.name} failed: {exc}")
