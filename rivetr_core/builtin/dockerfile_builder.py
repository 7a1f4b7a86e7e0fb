"""Core's built-in builder: build the app's Dockerfile with the active container runtime."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

from rivetr_core import hookimpl
from rivetr_core.contract import BuilderRegistration, BuildFailed, BuildRequest, BuildSpec, ContainerRuntime
from rivetr_core.repofiles import read_repo_file


class DockerfileBuilder:
    name = "dockerfile"

    def detect(self, source_dir: Path, request: BuildRequest) -> bool:
        # lexists, not is_file: a Dockerfile that is a link out of the repository, a directory or a device is
        # still this builder's job, so build() fails naming what is wrong instead of "no builder".
        return os.path.lexists(source_dir / request.build_context / request.dockerfile) or os.path.lexists(
            source_dir / request.dockerfile
        )

    async def build(self, request: BuildRequest, runtime: ContainerRuntime) -> AsyncIterator[str]:
        context = request.resolve_context()
        source = request.source_dir.resolve()
        candidate = context / request.dockerfile
        if not os.path.lexists(candidate):
            candidate = source / request.dockerfile
        if not os.path.lexists(candidate):
            raise BuildFailed(f"Dockerfile {request.dockerfile!r} not found in the repository")
        # Read it once the safe way (confined to the checkout, a regular file, size-capped): a link to
        # /dev/zero or a FIFO fails here with a clear error instead of hanging the engine client.
        await asyncio.to_thread(
            read_repo_file,
            source,
            os.path.relpath(candidate, source),
            label=f"Dockerfile {request.dockerfile!r}",
        )
        dockerfile = candidate.resolve()
        spec = BuildSpec(
            context_dir=context,
            tag=request.tag,
            dockerfile=str(dockerfile.relative_to(context))
            if dockerfile.is_relative_to(context)
            else str(dockerfile),
            build_args=request.build_args,
            labels=request.labels,
            cpu_limit=request.cpu_limit,
            memory_limit=request.memory_limit,
            network=request.network,
            no_cache=request.no_cache,
            registry_auth=request.registry_auth,
        )
        async for line in runtime.build(spec):
            yield line


@hookimpl
def rivetr_builders() -> list[BuilderRegistration]:
    return [
        BuilderRegistration(
            name="dockerfile",
            factory=lambda ctx: DockerfileBuilder(),
            description="docker build of the app's Dockerfile",
            priority=100,
        )
    ]
