"""Entry point ``example-static-site``: registers the ``static-site`` builder and its
``[plugins.example-static-site]`` settings.

An app selects it by name (``"builder": "static-site"``), or with ``"builder": "auto"`` it takes a repository
that has a ``public/`` directory and no Dockerfile. It copies that directory into a scratch build context,
writes a generated Dockerfile beside it (``FROM`` the configured base image, served by ``busybox httpd`` on the
app's ``$PORT``) and builds it with the runtime core passes in.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rivetr_core import hookimpl
from rivetr_core.contract import (
    BuilderRegistration,
    BuildFailed,
    BuildRequest,
    BuildSpec,
    ConfigModelRegistration,
    ContainerRuntime,
    PluginContext,
)
from rivetr_core.contract.repofiles import read_repo_file

PLUGIN_NAME = "example-static-site"  # the entry-point name in pyproject.toml


class Settings(BaseModel):
    """``[plugins.example-static-site]``; ``extra="forbid"`` makes a misspelt key a start-up error."""

    model_config = ConfigDict(extra="forbid")

    base_image: str = Field(
        "docker.io/library/busybox:stable",
        # No whitespace: the value is written into a Dockerfile's FROM line.
        pattern=r"^\S+$",
        description="Image the site is served from; it must provide `sh` and busybox `httpd` (an offline "
        "host sets a local image, e.g. localhost/busybox:latest).",
    )
    public_dir: str = Field(
        "public", description="Directory of the repository (below the app's build context) that is served."
    )
    max_file_bytes: int = Field(
        32 * 1024 * 1024, gt=0, description="Largest single file copied from the repository, in bytes."
    )

    @field_validator("public_dir")
    @classmethod
    def _relative(cls, value: str) -> str:
        path = PurePosixPath(value)
        if not value or path.is_absolute() or ".." in path.parts:
            raise ValueError("must be a relative path inside the repository, without '..'")
        return value


class StaticSiteBuilder:
    """The ``static-site`` builder: ``public_dir`` of a repository without a Dockerfile, as an httpd image."""

    name = "static-site"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()

    def detect(self, source_dir: Path, request: BuildRequest) -> bool:
        # Cheap and synchronous. A Dockerfile anywhere the dockerfile builder looks means the repository says
        # how it is built: never take that over (lexists: even a broken link counts as "has a Dockerfile").
        if os.path.lexists(source_dir / request.build_context / request.dockerfile) or os.path.lexists(
            source_dir / request.dockerfile
        ):
            return False
        return (source_dir / request.build_context / self.settings.public_dir).is_dir()

    async def build(self, request: BuildRequest, runtime: ContainerRuntime) -> AsyncIterator[str]:
        source = request.source_dir.resolve()
        rel = os.path.normpath(os.path.join(request.build_context, self.settings.public_dir))
        public = (source / rel).resolve()
        if not public.is_relative_to(source):
            raise BuildFailed(f"static-site: {rel}/ leads outside the repository")
        if not public.is_dir():
            raise BuildFailed(f"static-site: no {rel}/ directory in the repository")
        # A scratch context holding only the site and the generated Dockerfile: the engine never receives the
        # rest of the checkout (.git included), and the checkout is left as cloned.
        with tempfile.TemporaryDirectory(prefix="rivetr-static-site-") as scratch:
            context = Path(scratch)
            files, size = await asyncio.to_thread(
                _copy_site, source, public, context / "www", self.settings.max_file_bytes
            )
            if files == 0:
                raise BuildFailed(f"static-site: {rel}/ holds no files")
            (context / "Dockerfile").write_text(_dockerfile(self.settings.base_image))
            yield f"static-site: serving {files} files ({size} bytes) of {rel}/ from {self.settings.base_image}"
            spec = BuildSpec(
                context_dir=context,
                tag=request.tag,
                dockerfile="Dockerfile",
                build_args=request.build_args,
                labels=request.labels,  # keep them: cleanup prunes only images carrying Rivetr's labels
                cpu_limit=request.cpu_limit,
                memory_limit=request.memory_limit,
                network=request.network,
            )
            async for line in runtime.build(spec):
                yield line


def _dockerfile(base_image: str) -> str:
    # Exec form through sh so $PORT (set by Rivetr to the app's port) is expanded when the container starts.
    command = json.dumps(["sh", "-c", 'exec httpd -f -v -p "${PORT:-8080}" -h /www'])
    return f"FROM {base_image}\nARG SOURCE_COMMIT\nCOPY www /www\nCMD {command}\n"


def _copy_site(source: Path, public: Path, target: Path, max_bytes: int) -> tuple[int, int]:
    """Copy every file under ``public`` to ``target``; returns (files, bytes). Blocking: run it in a thread.

    Each file is read through ``read_repo_file``: confined to the checkout, a regular file, size-capped, so a
    link to ``/etc/shadow`` or ``/dev/zero`` in the repository fails the build with its name instead of
    landing in the image or hanging the control plane.
    """
    files = size = 0
    target.mkdir(parents=True)
    for folder, dirs, names in os.walk(public):
        here = Path(folder)
        for name in dirs:
            if (here / name).is_symlink():  # os.walk does not descend into it: say so rather than skip it
                raise BuildFailed(
                    f"static-site: {(here / name).relative_to(source)} is a symbolic link to a directory"
                )
            (target / (here / name).relative_to(public)).mkdir()
        for name in names:
            rel = (here / name).relative_to(source)
            # missing_ok is off (a vanished file raises), so None never comes back; `or b""` narrows the type.
            data = read_repo_file(source, rel, max_bytes=max_bytes, label=f"static-site: {rel}") or b""
            (target / (here / name).relative_to(public)).write_bytes(data)
            files, size = files + 1, size + len(data)
    return files, size


def _factory(ctx: PluginContext) -> StaticSiteBuilder:
    # ctx.settings is this plugin's validated [plugins.example-static-site] section (a Settings instance).
    return StaticSiteBuilder(ctx.settings_as(Settings, PLUGIN_NAME))


@hookimpl
def rivetr_builders() -> list[BuilderRegistration]:
    return [
        BuilderRegistration(
            name="static-site",
            factory=_factory,
            description="A repository's public/ directory served by busybox httpd (no Dockerfile needed)",
            # Asked before the dockerfile builder (100): detect() declines every repository with a Dockerfile,
            # so the order only matters for repositories the dockerfile builder cannot build anyway.
            priority=50,
        )
    ]


@hookimpl
def rivetr_config_models() -> list[ConfigModelRegistration]:
    return [ConfigModelRegistration(name=PLUGIN_NAME, model=Settings)]
