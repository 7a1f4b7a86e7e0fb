"""Core's built-in builder: build the app's Dockerfile with the active container runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from rivetr_core import hookimpl
from rivetr_core.types import BuilderRegistration, BuildFailed, BuildRequest, BuildSpec, ContainerRuntime


class DockerfileBuilder:
    name = "dockerfile"

    def detect(self, source_dir: Path, request: BuildRequest) -> bool:
        return (source_dir / request.build_context / request.dockerfile).is_file() or (
            source_dir / request.dockerfile
        ).is_file()

    async def build(self, request: BuildRequest, runtime: ContainerRuntime) -> AsyncIterator[str]:
        context = (request.source_dir / request.build_context).resolve()
        source = request.source_dir.resolve()
        if not context.is_relative_to(source):
            raise BuildFailed(f"build context {request.build_context!r} leaves the repository")
        dockerfile = (context / request.dockerfile).resolve()
        if not dockerfile.is_file():
            dockerfile = (source / request.dockerfile).resolve()
        if not dockerfile.is_relative_to(source) or not dockerfile.is_file():
            raise BuildFailed(f"Dockerfile {request.dockerfile!r} not found in the repository")
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
