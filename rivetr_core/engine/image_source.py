"""Pre-built image apps (``apps.source_kind = "image"``): the pipeline's clone and build become one ``pull``.

An image app names a reference such as ``registry.example.com/team/api:1.4``. Deploying pulls it (with the
credentials stored for its registry in ``/api/registries``, when any), records the reference and the digest the
engine resolved (``deployments.image`` / ``image_digest``), and then runs through the same start → health →
switch → drain path as a built image. A rollback runs the digest that ran (``repo@sha256:…``), pulling it again
if the engine no longer has it, so a moved tag never changes what a rollback brings back.

The pull step reports the deployment status ``building`` (its step is timed as ``pull``): the status list is
shared with git deployments and the dashboard, and nothing else distinguishes the two.

Reference helpers (:func:`check_image_ref`, :func:`registry_of`, :func:`qualify`) are pure and cheap: the
apps schema imports this module at start-up.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from rivetr_core.contract.errors import BuildFailed

if TYPE_CHECKING:
    from rivetr_core.contract import ContainerRuntime

    from .pipeline import Pipeline

#: ``[host[:port]/]path[:tag][@sha256:hex]`` as the distribution reference grammar has it (lower-case path).
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
#: A registry host is what the reference grammar treats as one: a dotted name, a name with a port, localhost.
_HOST = rf"(?:localhost|{_LABEL}(?:\.{_LABEL})+|{_LABEL}(?=:))(?::[0-9]{{1,5}})?"
IMAGE_REF = re.compile(
    rf"^(?:{_HOST}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?"
    r"(?:@sha256:[a-f0-9]{64})?$"
)
IMAGE_REF_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 500, "pattern": IMAGE_REF.pattern}
DOCKER_HUB = "docker.io"


def check_image_ref(value: str) -> str:
    """The reference, stripped; ValueError (a user message) when it is not an image reference."""
    ref = value.strip()
    if not ref or len(ref) > 500 or not IMAGE_REF.match(ref):
        raise ValueError(
            "must be an image reference such as registry.example.com/team/api:1.4 "
            "(lower-case repository, optional :tag and @sha256:digest)"
        )
    return ref


def registry_of(image: str) -> str:
    """The registry host (and port) an image reference names: its first component when that looks like a
    host (a dot, a port or ``localhost``), else Docker Hub."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return DOCKER_HUB


def qualify(image: str) -> str:
    """A fully qualified reference (what ``ServiceRuntime.pull`` takes): Docker Hub names gain
    ``docker.io/[library/]`` and a reference without a tag or digest gains ``:latest``."""
    ref = image
    if registry_of(image) == DOCKER_HUB and not image.startswith(DOCKER_HUB + "/"):
        ref = f"{DOCKER_HUB}/{image}" if "/" in image else f"{DOCKER_HUB}/library/{image}"
    last = ref.rsplit("/", 1)[-1]
    if "@" not in last and ":" not in last:
        ref += ":latest"
    return ref


def digest_reference(image: str, digest: str) -> str:
    """``repo@sha256:…`` for ``image`` (tag dropped) and a bare ``sha256:…`` digest."""
    ref = qualify(image).split("@", 1)[0]
    head, _, last = ref.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}@{digest}"


async def pull_app_image(pipeline: Pipeline, runtime: ContainerRuntime, image: str) -> str:
    """Pull ``image`` for the pipeline's deployment (credentials of its registry when stored), record the
    reference and its digest on the deployment; returns the reference to run."""
    ref = qualify(image)
    pipeline.log(f"pulling {ref} on {runtime.name} (pre-built image: no clone, no build)")
    await _pull(pipeline, runtime, ref)
    digest = await _digest(runtime, ref)
    if digest:
        pipeline.log(f"resolved {ref} to {digest}")
    pipeline.deployment.image_digest = digest
    return ref


async def rollback_image(pipeline: Pipeline, runtime: ContainerRuntime) -> str:
    """The image a rollback of an image app runs: the digest its source deployment ran (pulled again when the
    engine no longer has it), or its reference when no digest was recorded."""
    source = pipeline.source
    assert source is not None and source.image
    digest = source.image_digest
    ref = digest_reference(source.image, digest) if digest else source.image
    await pipeline.status("starting", image=source.image)
    pipeline.service.emit(
        "rollback",
        pipeline.deployment,
        pipeline.snap.app.name,
        f"rolling {pipeline.snap.app.name} back to deployment {source.id}",
        data={"rollback_of": source.id, "image": source.image, "image_digest": digest},
    )
    if not await runtime.image_exists(ref):
        pipeline.log(f"rollback to deployment {source.id}: {ref} is not on the engine, pulling it")
        await _pull(pipeline, runtime, ref)
    else:
        pipeline.log(f"rollback to deployment {source.id}: running {ref} (the digest that ran)")
    pipeline.deployment.image_digest = digest
    return ref


async def _pull(pipeline: Pipeline, runtime: ContainerRuntime, ref: str) -> None:
    from rivetr_core.contract import RivetrError

    from .pipeline import PipelineError

    pull = getattr(runtime, "pull", None)
    if pull is None:
        raise PipelineError(f"the {runtime.name} runtime cannot pull images (no pull method)")
    server = registry_of(ref)
    auth = await pipeline.service.ctx.services.registries.auth_for(server)
    kwargs: dict[str, Any] = {"auth": auth} if auth else {}
    if auth:
        pipeline.log(f"using the credentials stored for {server} (user {auth['username']})")
    try:
        async for line in pull(ref, **kwargs):
            pipeline.log(line)
    except RivetrError as exc:  # ImageNotFound, or an engine error (dockerd: "no basic auth credentials")
        refused = _is_auth_error(exc.message)
        unreachable = any(word in exc.message.lower() for word in _UNREACHABLE_WORDS)
        if not refused and not unreachable and not _is_missing(exc.message):
            # The engine's last word may hide the refusal: dockerd retries a loopback ("insecure") registry
            # over plain HTTP after its 401 and reports that failure instead. Ask the registry directly.
            from rivetr_core.services.registries import login_refused

            refused = await login_refused(server, auth)
        message = _explain(ref, server, exc.message, with_auth=bool(auth), refused=refused)
        raise PipelineError(message) from None


_AUTH_WORDS = ("unauthorized", "authentication required", "denied", "401", "credentials")
#: The registry could not be reached at all: asking it again would only wait for the same failure.
_UNREACHABLE_WORDS = ("no such host", "i/o timeout", "network is unreachable", "no route to host")
_MISSING_WORDS = ("not found", "manifest unknown", "does not exist", "name unknown")


def _is_auth_error(message: str) -> bool:
    return any(word in message.lower() for word in _AUTH_WORDS)


def _is_missing(message: str) -> bool:
    return any(word in message.lower() for word in _MISSING_WORDS)


def _explain(ref: str, server: str, message: str, *, with_auth: bool, refused: bool) -> str:
    if refused:
        if with_auth:
            return (
                f"pulling {ref} was refused with the credentials stored for {server}: check them "
                f"(DELETE and POST /api/registries) — {message}"
            )
        return (
            f"pulling {ref} needs credentials for {server}: add credentials with POST /api/registries "
            f'({{"name", "server": "{server}", "username", "password"}}) — {message}'
        )
    if _is_missing(message):
        return f"image {ref} does not exist on {server} — {message}"
    return message


async def build_registry_auth(pipeline: Pipeline) -> dict[str, dict[str, str]]:
    """Every stored registry's auth config (server -> ``{"username", "password", "serveraddress"}``) for a
    build's private base images (:attr:`BuildRequest.registry_auth`); the runtime sends the engine only those
    the Dockerfile's images name. None for a build of a fork's pull request: its Dockerfile is not trusted
    with the server's registry logins (it could copy a private image's content out through its own image)."""
    if pipeline.snap.untrusted:
        return {}
    registries = pipeline.service.ctx.services.registries
    auths: dict[str, dict[str, str]] = {}
    for row in await registries.listing():
        auth = await registries.auth_for(row["server"])
        if auth:
            auths[row["server"]] = auth
    return auths


#: The step a build failed at, when it is a ``FROM`` (dockerd ``Step 1/3 : FROM x``, buildah
#: ``[1/2] STEP 1/5: FROM x``), in :class:`BuildFailed`'s message (``... failed at <step>: <engine's words>``).
_FROM_STEP = re.compile(r"(?:Step|STEP) \d+/\d+ ?: FROM\s+(?:--\S+\s+)*(?P<image>[^\s$]+?):?(?:\s|$)")


async def explain_build_failure(pipeline: Pipeline, exc: BuildFailed, auths: dict[str, Any]) -> BuildFailed:
    """``exc`` with a message that says what to do when the build failed pulling a base image that its
    registry refused (no credentials stored for it, or stored ones it no longer accepts), as an image app's
    pull does; ``exc`` unchanged for any other failure."""
    found = _FROM_STEP.search(exc.message)
    if found is None or found.group("image").startswith("localhost/"):
        return exc
    image = found.group("image")
    server = registry_of(image)
    auth = auths.get(server)
    refused = _is_auth_error(exc.message)
    lower = exc.message.lower()
    # Docker Hub names are served by the engines' mirror where one is set up: asking docker.io itself would
    # prove nothing (and reach out of a closed network), so only other registries are asked directly.
    if not refused and server != DOCKER_HUB and not _is_missing(exc.message):
        if not any(word in lower for word in _UNREACHABLE_WORDS):
            from rivetr_core.services.registries import login_refused

            # dockerd retries a loopback registry over plain HTTP after its 401 and reports that instead.
            refused = await login_refused(server, auth)
    if not refused:
        return exc
    explained = _explain(image, server, exc.message, with_auth=bool(auth), refused=True)
    if pipeline.snap.untrusted:
        explained += " (builds of pull requests from forks get no registry credentials)"
    return BuildFailed(f"base image {image}: {explained}", log_tail=exc.log_tail, exit_code=exc.exit_code)


async def _digest(runtime: ContainerRuntime, ref: str) -> str | None:
    """The ``sha256:…`` digest the engine recorded for ``ref`` (a runtime without ``image_digest``: None)."""
    reader = getattr(runtime, "image_digest", None)
    if reader is None:
        return None
    digest: str | None = await reader(ref)
    return digest
