"""The ``autodetect`` builder: detect the project's kind, write a Dockerfile for it, build it with the runtime.

The generated Dockerfile is written outside the checkout (a private temp directory, removed after the build) so
the repository is never modified, and logged line by line (``[autodetect] ...``) before the build: what was built
is always visible. It holds build variable names only, never their values.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from rivetr_core.contract import BuildFailed, BuildRequest, BuildSpec, ContainerRuntime

from .detectors import DETECTORS
from .plan import Plan, Settings
from .repo import Repo

LOG_PREFIX = "[autodetect]"
#: Left out of every build context of a generated Dockerfile (the checkout's and submodules' git data).
GIT_DIRS = (".git", "**/.git")


def looked_for() -> str:
    return "; ".join(d.LOOKS_FOR for d in DETECTORS)


class AutoBuilder:
    name = "autodetect"

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("rivetr.builder.autodetect")

    def detect(self, source_dir: Path, request: BuildRequest) -> bool:
        try:
            repo = Repo(request.resolve_context(source_dir))
        except BuildFailed:
            return False
        return repo.root.is_dir() and any(d.matches(repo) for d in DETECTORS)

    def plan_of(self, source_dir: Path, request: BuildRequest) -> Plan:
        repo = Repo(request.resolve_context(source_dir))
        settings = Settings.of(request.settings, request.build_args, request.secret_build_args)
        for detector in DETECTORS:
            if detector.matches(repo):
                plan: Plan = detector.plan(repo, settings)
                return plan
        raise BuildFailed(
            f"the autodetect builder found nothing it can build in {request.build_context!r}: it looked for "
            f"{looked_for()}. Add a Dockerfile to the repository (or set the app's build context to the "
            "directory holding the project)"
        )

    def plan(self, source_dir: Path, request: BuildRequest) -> dict[str, Any]:
        """What :meth:`build` would do (the contract's optional ``plan()``): detector, facts, commands and the
        Dockerfile text. Raises :class:`BuildFailed` when nothing is detected, naming what was looked for."""
        return self.plan_of(source_dir, request).as_dict(self.name)

    async def build(self, request: BuildRequest, runtime: ContainerRuntime) -> AsyncIterator[str]:
        plan = await asyncio.to_thread(self.plan_of, request.source_dir, request)
        context = request.resolve_context()
        framework = f" ({plan.framework})" if plan.framework else ""
        yield f"{LOG_PREFIX} detected {plan.language}{framework} with the {plan.detector} detector"
        yield f"{LOG_PREFIX} generated Dockerfile:"
        for line in plan.dockerfile.splitlines():
            yield f"{LOG_PREFIX}   {line}"
        workdir = Path(tempfile.mkdtemp(prefix="rivetr-autodetect-"))
        try:
            dockerfile = workdir / "Dockerfile"
            fd = os.open(dockerfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(plan.dockerfile)
            spec = BuildSpec(
                context_dir=context,
                tag=request.tag,
                dockerfile=str(dockerfile),
                build_args=request.build_args,
                labels=request.labels,
                cpu_limit=request.cpu_limit,
                memory_limit=request.memory_limit,
                network=request.network,
                no_cache=request.no_cache,
                # A private base_image override (or a detector's base from a private mirror) pulls with these.
                registry_auth=request.registry_auth,
                # The generated Dockerfiles copy the whole context: the repository's history stays out of it.
                exclude=list(GIT_DIRS),
            )
            async for line in runtime.build(spec):
                yield line
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)
