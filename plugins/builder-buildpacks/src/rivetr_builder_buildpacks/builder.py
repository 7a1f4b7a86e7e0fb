"""The ``buildpacks`` builder: ``pack build`` against the active engine, then Rivetr's labels applied.

``pack build`` has no option to add image labels, and Rivetr's cleanup finds images by label, so pack builds an
intermediate tag (``<tag>-cnb``) and a one-line ``FROM <intermediate>`` build through the runtime writes the
final tag with the labels (the runtime's own build: labels the same way as every other image), after which the
intermediate tag is removed. Build variables reach pack as ``--env NAME`` with the value in pack's environment
(pack reads a bare name from there; they exist at build time only, never in the image's run environment).
``DOCKER_HOST`` points pack at the engine the runtime talks to and ``--docker-host inherit`` hands the same
address to the lifecycle container (podman serves the Docker API).
"""

from __future__ import annotations

import logging
import shlex
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from rivetr_core.contract import BuildRequest, BuildSpec, ContainerRuntime, RivetrError
from rivetr_core.contract.cliproc import engine_host, run_logged

from .plugin import NAME, TOOL

LOG_PREFIX = "[buildpacks]"
#: The CNB builder image when the app sets no ``base_image`` (Paketo's Ubuntu 22.04 base builder: Java, Node,
#: Go, Python, .NET, PHP, Ruby and Procfile apps).
DEFAULT_BUILDER = "paketobuildpacks/builder-jammy-base"
#: Overrides of zero-config builders that buildpacks take through their own files (project.toml, Procfile,
#: BP_* variables), not through pack options: a build that sets one says so in its log.
UNUSED_SETTINGS = ("install_command", "build_command", "start_command")


def intermediate_tag(tag: str) -> str:
    """The tag pack writes before the labelled image takes ``tag``: ``repo:t`` → ``repo:t-cnb``."""
    repo, sep, name = tag.rpartition(":")
    if not sep or "/" in name:  # no tag part (the colon, if any, was a registry port)
        return f"{tag}:cnb"
    return f"{repo}:{name[:124]}-cnb"


def builder_image(settings: Mapping[str, str | None]) -> str:
    """The app's ``base_image`` names the CNB builder image for this builder (the base a buildpacks build starts
    from); unset, Paketo's."""
    return settings.get("base_image") or DEFAULT_BUILDER


def build_command(cli: str, request: BuildRequest, context: Path, host: str | None) -> list[str]:
    """The ``pack build`` argv for ``request`` (writing :func:`intermediate_tag`; no secret values in it)."""
    args = [
        cli,
        "build",
        intermediate_tag(request.tag),
        "--path",
        str(context),
        "--builder",
        builder_image(request.settings),
        # The builder and run images are pulled once, not on every deploy.
        "--pull-policy",
        "if-not-present",
    ]
    if host:
        args += ["--docker-host", "inherit"]  # the lifecycle container uses DOCKER_HOST (set in pack's env)
    args += TOOL.env_flags(request.build_args)
    if request.network:
        args += ["--network", request.network]
    if request.no_cache:
        args.append("--clear-cache")
    return args


def relabel_spec(request: BuildRequest, context: Path) -> BuildSpec:
    """The runtime build that gives pack's image Rivetr's labels under the final tag (``context``: an empty
    directory holding the one-line Dockerfile)."""
    (context / "Dockerfile").write_text(f"FROM {intermediate_tag(request.tag)}\n")
    return BuildSpec(context_dir=context, tag=request.tag, labels=dict(request.labels))


async def relabel(request: BuildRequest, runtime: ContainerRuntime) -> AsyncIterator[str]:
    """Write ``request.tag`` with ``request.labels`` from pack's intermediate image, then drop that tag."""
    workdir = Path(tempfile.mkdtemp(prefix="rivetr-buildpacks-"))
    try:
        async for line in runtime.build(relabel_spec(request, workdir)):
            yield line
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    try:
        await runtime.remove_image(intermediate_tag(request.tag))
    except RivetrError as exc:  # the labelled image exists: a leftover tag is not a failed build
        yield f"{LOG_PREFIX} could not remove the intermediate tag {intermediate_tag(request.tag)}: {exc}"


class BuildpacksBuilder:
    name = NAME

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("rivetr.builder.buildpacks")

    def detect(self, source_dir: Path, request: BuildRequest) -> bool:
        """Any non-empty build context while pack is installed (the CNB builder's buildpacks decide what they
        can build; this builder comes last under "auto")."""
        return TOOL.detect(source_dir, request)

    def plan(self, source_dir: Path, request: BuildRequest) -> dict[str, Any]:
        """What :meth:`build` would run (pack has no dry run: the CNB builder's detection happens in the build)."""
        cli = TOOL.executable()
        context = request.resolve_context(source_dir)
        return {
            "builder": NAME,
            "detector": None,
            "facts": {"cnb_builder": builder_image(request.settings)},
            "command": shlex.join(build_command(cli, request, context, None)),
        }

    async def build(self, request: BuildRequest, runtime: ContainerRuntime) -> AsyncIterator[str]:
        host = engine_host(runtime)
        args = build_command(TOOL.executable(), request, request.resolve_context(), host)
        for key in UNUSED_SETTINGS:
            if request.settings.get(key):
                yield f"{LOG_PREFIX} {key} is not used by buildpacks (set it in project.toml or a Procfile)"
        async for line in run_logged(args, request.build_args, host, prefix=LOG_PREFIX, what="pack build"):
            yield line
        yield f"{LOG_PREFIX} labelling {request.tag}"
        async for line in relabel(request, runtime):
            yield line
