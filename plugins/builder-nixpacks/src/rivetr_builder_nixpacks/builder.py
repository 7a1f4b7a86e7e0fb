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
import subprocess
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from rivetr_core.contract import BuildFailed, BuildRequest, ContainerRuntime
from rivetr_core.contract.cliproc import TAIL_LINES, child_env, engine_host, run_logged

from .plugin import NAME, TOOL

LOG_PREFIX = "[nixpacks]"
#: The app's overrides (BuildRequest.settings) nixpacks takes as options; base_image has no nixpacks option.
SETTING_FLAGS = (
    ("install_command", "--install-cmd"),
    ("build_command", "--build-cmd"),
    ("start_command", "--start-cmd"),
)
PLAN_TIMEOUT = 60.0


def setting_flags(settings: Mapping[str, str | None]) -> list[str]:
    return [arg for key, flag in SETTING_FLAGS if settings.get(key) for arg in (flag, str(settings[key]))]


def build_command(cli: str, request: BuildRequest, context: Path) -> list[str]:
    """The ``nixpacks build`` argv for ``request`` (no secret values in it)."""
    args = [cli, "build", str(context), "--name", request.tag]
    for key, value in sorted(request.labels.items()):
        args += ["--label", f"{key}={value}"]
    args += TOOL.env_flags(request.build_args)
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
        *TOOL.env_flags(request.build_args),
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
        """Any non-empty build context while the CLI is installed (nixpacks knows many languages)."""
        return TOOL.detect(source_dir, request)

    def plan(self, source_dir: Path, request: BuildRequest) -> dict[str, Any]:
        """``nixpacks plan`` (reads files, builds nothing), summarised. Blocking: callers run it in a thread."""
        cli = TOOL.executable()
        context = request.resolve_context(source_dir)
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
            tail = "\n".join(done.stderr.strip().splitlines()[-TAIL_LINES:])
            raise BuildFailed(f"nixpacks plan failed (exit {done.returncode}): {tail}")
        try:
            return summarize_plan(json.loads(done.stdout))
        except (ValueError, AttributeError) as exc:
            raise BuildFailed(f"nixpacks plan printed something that is not a plan: {exc}") from None

    async def build(self, request: BuildRequest, runtime: ContainerRuntime) -> AsyncIterator[str]:
        args = build_command(TOOL.executable(), request, request.resolve_context())
        host = engine_host(runtime)
        async for line in run_logged(
            args, request.build_args, host, prefix=LOG_PREFIX, what="nixpacks build"
        ):
            yield line
