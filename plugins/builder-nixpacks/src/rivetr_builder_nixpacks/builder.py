"""The ``nixpacks`` builder: ``nixpacks build`` against the active engine, its output streamed as the build log.

Build variables reach the CLI as ``--env NAME`` with the value in the CLI's environment (nixpacks reads a bare
name from there), so values never appear on a command line other users can list. Rivetr's labels go on the image
with ``--label`` (cleanup finds images by label). The CLI drives the ``docker`` CLI, pointed at the engine the
runtime talks to with ``DOCKER_HOST`` (podman serves the same API).
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import subprocess
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from rivetr_core.contract import BuildFailed, BuildRequest, ContainerRuntime
from rivetr_core.contract.cliproc import RESERVED_ENV, child_env, engine_host, stream_lines

from .plugin import CLI, NAME, unavailable

LOG_PREFIX = "[nixpacks]"
#: The app's overrides (BuildRequest.settings) nixpacks takes as options; base_image has no nixpacks option.
SETTING_FLAGS = (
    ("install_command", "--install-cmd"),
    ("build_command", "--build-cmd"),
    ("start_command", "--start-cmd"),
)
PLAN_TIMEOUT = 60.0


def context_dir(source_dir: Path, request: BuildRequest) -> Path:
    source = source_dir.resolve()
    context = (source / request.build_context).resolve()
    if not context.is_relative_to(source):
        raise BuildFailed(f"build context {request.build_context!r} leaves the repository")
    return context


def env_flags(build_args: Mapping[str, str]) -> list[str]:
    """``--env NAME`` per build variable: names only (values travel in the environment, see child_env)."""
    bad = sorted(set(build_args) & RESERVED_ENV)
    if bad:
        raise BuildFailed(
            f"build variable(s) {', '.join(bad)} cannot be given to the {NAME} builder: the CLI itself needs "
            "them; rename them"
        )
    return [arg for name in sorted(build_args) for arg in ("--env", name)]


def setting_flags(settings: Mapping[str, str | None]) -> list[str]:
    return [arg for key, flag in SETTING_FLAGS if settings.get(key) for arg in (flag, str(settings[key]))]


def build_command(cli: str, request: BuildRequest, context: Path) -> list[str]:
    """The ``nixpacks build`` argv for ``request`` (no secret values in it)."""
    args = [cli, "build", str(context), "--name", request.tag]
    for key, value in sorted(request.labels.items()):
        args += ["--label", f"{key}={value}"]
    args += env_flags(request.build_args)
    args += setting_flags(request.settings)
    if request.no_cache:
        args.append("--no-cache")
    if request.cpu_limit:
        # docker's CFS quota: microseconds of CPU per 100 ms period.
        args += ["--cpu-quota", str(int(request.cpu_limit * 100_000))]
    if request.memory_limit:
        args += ["--memory", str(request.memory_limit)]
    return args


def plan_command(cli: str, request: BuildRequest, context: Path) -> list[str]:
    return [
        cli,
        "plan",
        str(context),
        "--format",
        "json",
        *env_flags(request.build_args),
        *setting_flags(request.settings),
    ]


def summarize_plan(data: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of ``nixpacks plan`` JSON a person choosing a builder looks at: providers, phases' commands,
    the start command."""
    phases = data.get("phases") or {}
    commands = {
        name: phase.get("cmds") or []
        for name, phase in phases.items()
        if isinstance(phase, dict) and phase.get("cmds")
    }
    start = data.get("start") or {}
    providers = [str(p) for p in data.get("providers") or []]
    return {
        "builder": NAME,
        "detector": ", ".join(providers) or None,
        "facts": {"providers": providers, "commands": commands},
        "start_command": start.get("cmd") if isinstance(start, dict) else None,
    }


class NixpacksBuilder:
    name = NAME

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("rivetr.builder.nixpacks")

    def detect(self, source_dir: Path, request: BuildRequest) -> bool:
        """Yes for any non-empty build context when the CLI is installed (nixpacks knows many languages; it
        comes after the Dockerfile and autodetect builders under "auto"); no without the CLI."""
        if unavailable() is not None:
            return False
        try:
            context = context_dir(source_dir, request)
        except BuildFailed:
            return False
        return context.is_dir() and any(context.iterdir())

    @staticmethod
    def _cli() -> str:
        reason = unavailable()
        cli = shutil.which(CLI)
        if reason is not None or cli is None:
            raise BuildFailed(f"the {NAME} builder is unavailable: {reason}")
        return cli

    def plan(self, source_dir: Path, request: BuildRequest) -> dict[str, Any]:
        """``nixpacks plan`` (reads files, builds nothing), summarised. Blocking: callers run it in a thread."""
        cli = self._cli()
        context = context_dir(source_dir, request)
        try:
            done = subprocess.run(
                plan_command(cli, request, context),
                capture_output=True,
                text=True,
                timeout=PLAN_TIMEOUT,
                env=child_env(request.build_args, None, os.environ),
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BuildFailed(f"nixpacks plan took longer than {PLAN_TIMEOUT:.0f} s") from None
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-20:])
            raise BuildFailed(f"nixpacks plan failed (exit {done.returncode}): {tail}")
        try:
            return summarize_plan(json.loads(done.stdout))
        except (ValueError, AttributeError) as exc:
            raise BuildFailed(f"nixpacks plan printed something that is not a plan: {exc}") from None

    async def build(self, request: BuildRequest, runtime: ContainerRuntime) -> AsyncIterator[str]:
        cli = self._cli()
        context = context_dir(request.source_dir, request)
        args = build_command(cli, request, context)
        host = engine_host(runtime)
        yield f"{LOG_PREFIX} {shlex.join(args)}" + (f" (DOCKER_HOST={host})" if host else "")
        env = child_env(request.build_args, host, os.environ)
        async for line in stream_lines(args, env, what="nixpacks build"):
            yield line
