"""The release phase of a deployment: ``release_command`` before the new version takes traffic,
``post_deploy_command`` after it does.

Release (Heroku's release phase, Render's pre-deploy command, Fly's ``release_command``)
    Runs after the build (or, for a rollback, with the reused image) and before the new container starts, in a
    one-off container of the new image: the same env, links, network, volumes and limits as the app's container
    (it is built from the same :func:`~rivetr_core.engine.pipeline.run_spec`), the command through ``sh -c``
    (the image's ENTRYPOINT, if any, still applies, as with ``docker run IMAGE sh -c ...``), no published port.
    Its output goes to the deployment's build log, each line prefixed ``release | ``. A non-zero exit or
    ``release_timeout`` seconds fail the deployment; the proxy was not touched, so the old version keeps
    serving. The one-off container is always removed: on success, failure, timeout and cancel. It is named
    ``rivetr-<app>-<deployment[:12]>-release`` and carries the deployment's labels plus ``rivetr.role=release``,
    so start-up recovery removes one a crash left behind (its deployment is no longer in progress).

Post-deploy
    Runs after the switch (and the old container's drain), by exec in the new container (``sh -c``), bounded by
    the same ``release_timeout``. A failure (non-zero exit, timeout, engine error) is logged, recorded in the
    deployment's ``steps["post_deploy"]`` (``exit_code``, ``error``) and sent as a ``post_deploy_failed`` event;
    the new version stays live (nothing is rolled back).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from typing import TYPE_CHECKING

from rivetr_core.contract import ContainerInfo, ContainerRuntime, RunSpec

from .pipeline import PipelineError, container_name, run_spec

if TYPE_CHECKING:
    from .pipeline import Pipeline

log = logging.getLogger("rivetr.engine.release")

LABEL_ROLE = "rivetr.role"
RELEASE_PREFIX = "release | "
POST_DEPLOY_PREFIX = "post-deploy | "
#: How long the engine gets to create the one-off container after a cancel, before we stop waiting for its id.
SETTLE_TIMEOUT = 30.0
#: Longest line copied into the build log (a migration printing a huge SQL statement stays readable).
MAX_LINE = 4000


def release_spec(pipeline: Pipeline, image: str, command: str) -> RunSpec:
    """The one-off container: the app container's spec (env, links, network, mounts, limits) with the
    command, without a port, a restart policy or network aliases (it must not answer for the app)."""
    base = run_spec(pipeline.service, pipeline.snap, pipeline.deployment, image)
    return dataclasses.replace(
        base,
        name=container_name(pipeline.snap.app.name, pipeline.dep_id) + "-release",
        labels={**base.labels, LABEL_ROLE: "release"},
        command=["sh", "-c", command],
        container_port=None,
        host_port=0,
        publish=False,
        restart_policy="no",
        mounts=list(base.mounts),
        network_aliases=[],  # DNS names on the project network are the app's, never a one-off's
    )


async def run_release(pipeline: Pipeline, runtime: ContainerRuntime, image: str) -> None:
    """Run the app's ``release_command`` in a one-off container of ``image``; raise :class:`PipelineError`
    when it exits non-zero or outlives ``release_timeout``. The container is removed whatever happens."""
    app = pipeline.snap.app
    command = (app.release_command or "").strip()
    if not command:
        return
    timeout = app.release_timeout
    spec = release_spec(pipeline, image, command)
    if pipeline.snap.untrusted:
        await pipeline._isolated_network(runtime)  # (re)made and firewalled before a fork's code runs
    pipeline.log(f"release: running {command!r} in a one-off container of {image} (timeout {timeout:g} s)")
    started = time.perf_counter()
    # Shielded like the app container's start: the engine creates the container whatever happens to us, so a
    # cancel waits for its id and removes it rather than leaving it behind.
    start: asyncio.Future[ContainerInfo] = asyncio.ensure_future(runtime.run(spec))
    container_id: str | None = None
    try:
        container_id = (await asyncio.shield(start)).id
        try:
            async with asyncio.timeout(timeout):
                exit_code = await _follow_until_exit(pipeline, runtime, container_id)
        except TimeoutError:
            raise PipelineError(f"release command timed out after {timeout:g} s") from None
        elapsed = time.perf_counter() - started
        if exit_code != 0:
            raise PipelineError(f"release command exited {exit_code}")
        pipeline.log(f"release command succeeded in {elapsed:.1f} s")
    finally:
        if container_id is None:
            container_id = await _settled_id(start)
        if container_id is not None:
            await asyncio.shield(_remove(pipeline, runtime, container_id))


async def _follow_until_exit(pipeline: Pipeline, runtime: ContainerRuntime, container_id: str) -> int:
    """Copy the container's output into the build log until it exits; its exit code."""
    copied = 0
    async for entry in runtime.logs(container_id, tail=-1, follow=True):
        pipeline.log(RELEASE_PREFIX + entry.line[:MAX_LINE])
        copied += 1
    # A followed log ends when the container stops; an engine that ends it early (a reconnect) is waited out.
    delay = 0.05
    while True:
        info = await runtime.inspect(container_id)
        if not info.running:
            break
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)
    # What the follow missed: podman under load can end a follow before the container's last lines reach it
    # (CI: a migration's "created table widgets" missing from a successful release). The stopped container's
    # whole log, once, past the lines already copied.
    seen = 0
    async for entry in runtime.logs(container_id, tail=-1, follow=False):
        seen += 1
        if seen > copied:
            pipeline.log(RELEASE_PREFIX + entry.line[:MAX_LINE])
    return info.exit_code if info.exit_code is not None else -1


async def _settled_id(start: asyncio.Future[ContainerInfo]) -> str | None:
    """After a cancel during the engine's create: wait (bounded) for the id of what it created."""
    with contextlib.suppress(BaseException):
        await asyncio.wait_for(asyncio.shield(start), SETTLE_TIMEOUT)
    if start.done() and not start.cancelled() and start.exception() is None:
        return start.result().id
    return None


async def _remove(pipeline: Pipeline, runtime: ContainerRuntime, container_id: str) -> None:
    try:
        await runtime.remove(container_id, force=True)
    except Exception as exc:  # recovery removes it at the next start (labelled, its deployment is over)
        log.warning("could not remove release container %s: %s", container_id[:12], exc)
        pipeline.log(f"release: could not remove the one-off container {container_id[:12]}: {exc}")


async def run_post_deploy(pipeline: Pipeline, runtime: ContainerRuntime) -> None:
    """Exec the app's ``post_deploy_command`` in the new container. Never raises (but for a cancel): a failure
    is logged, recorded in ``steps["post_deploy"]`` and sent as a ``post_deploy_failed`` event."""
    app = pipeline.snap.app
    command = (app.post_deploy_command or "").strip()
    if not command or not pipeline.container_id:
        return
    timeout = app.release_timeout
    pipeline.log(f"post-deploy: running {command!r} in the new container (timeout {timeout:g} s)")
    step = pipeline.steps.setdefault("post_deploy", {})
    error: str | None = None
    try:
        result = await asyncio.wait_for(
            runtime.exec(pipeline.container_id, ["sh", "-c", command]), timeout=timeout
        )
    except TimeoutError:
        error = f"post-deploy command timed out after {timeout:g} s"
    except Exception as exc:
        error = f"post-deploy command could not run: {getattr(exc, 'message', None) or exc}"
    else:
        for line in result.output.splitlines():
            pipeline.log(POST_DEPLOY_PREFIX + line[:MAX_LINE])
        step["exit_code"] = result.exit_code
        if result.exit_code != 0:
            error = f"post-deploy command exited {result.exit_code}"
    if error is None:
        pipeline.log("post-deploy command succeeded")
        return
    step["error"] = error
    pipeline.log(f"{error} (the new version stays live; nothing is rolled back)")
    pipeline.service.emit(
        "post_deploy_failed",
        pipeline.deployment,
        app.name,
        f"{app.name}: {error}",
        level="warning",
        data={"error": error, "exit_code": step.get("exit_code")},
    )
