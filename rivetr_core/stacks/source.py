"""A stack's compose file from its git repository: a shallow clone of the branch (the app pipeline's clone, so
the same URL rules, timeouts, credentials and their redaction apply: the stack's deploy key or HTTPS token, and
an SSH host's key pinned on first use like an app's), then the file at ``compose_path`` or compose's default
names."""

from __future__ import annotations

import asyncio
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rivetr_core.engine.gitsource import CloneRequest, clone_sync

if TYPE_CHECKING:
    from rivetr_core.models.stacks import Stack

#: compose's own lookup order when no path is given
DEFAULT_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
MAX_FILE = 1024 * 1024


@dataclass
class Checkout:
    text: str
    base_dir: Path
    commit_sha: str
    commit_message: str


def find_compose_file(root: Path, compose_path: str | None) -> Path:
    """The compose file in the checkout ``root``; a path may not leave it (``..`` or a symlink out)."""
    from rivetr_core.compose.errors import ComposeError

    names = [compose_path] if compose_path else list(DEFAULT_NAMES)
    for name in names:
        rel = posixpath.normpath(name.lstrip("/"))
        candidate = (root / rel).resolve()
        if rel.startswith("..") or not candidate.is_relative_to(root.resolve()):
            raise ComposeError.on("compose_path", f"{name!r} is outside the repository")
        if candidate.is_file():
            return candidate
    wanted = compose_path or " / ".join(DEFAULT_NAMES)
    raise ComposeError.on("compose_path", f"no compose file in the repository ({wanted})")


async def checkout(deployer: Any, stack: Stack, workdir: Path, *, commit: str | None = None) -> Checkout:
    """Clone the stack's branch (at ``commit``: a rollback) into ``workdir`` (its log lines go to the
    deployment's log)."""
    if workdir.exists():
        import shutil

        await asyncio.to_thread(shutil.rmtree, workdir, True)
    from rivetr_core.engine.gitsource import classify_url
    from rivetr_core.knownhosts import KnownHostsStore, host_pattern, ssh_target

    svc = deployer.svc
    url = stack.repo_url or ""
    # SSH host keys are pinned per host in the DB, shared with apps: the clone accepts only the pinned ones.
    store = KnownHostsStore(svc.db)
    target = ssh_target(url) if classify_url(url) == "ssh" else None
    request = CloneRequest(
        url=url,
        branch=stack.branch,
        commit=commit,
        ssh_private_key=await svc.ssh_private_key(stack),
        token=svc.token_of(stack),
        username=stack.git_token_user,
        timeout=svc.ctx.config.git.clone_timeout,
        host_keys=await store.keys(*target) if target is not None else None,
    )
    loop = asyncio.get_running_loop()

    def on_line(line: str) -> None:  # called from the clone thread
        loop.call_soon_threadsafe(deployer.log, line)

    result = await asyncio.to_thread(clone_sync, request, workdir, on_line)
    if target is not None:
        if result.learned_host_keys:
            for row in await store.pin(*target, result.learned_host_keys):
                deployer.log(
                    f"pinned the SSH host key of {host_pattern(*target)} on first use: "
                    f"{row.fingerprint} ({row.key_type})"
                )
        else:
            await store.touch(*target)
    path = find_compose_file(workdir, stack.compose_path)
    if path.stat().st_size > MAX_FILE:
        from rivetr_core.compose.errors import ComposeError

        raise ComposeError.on("compose_path", "the compose file is larger than 1 MiB")
    deployer.log(f"compose file: {path.relative_to(workdir.resolve())} at {result.commit_sha[:12]}")
    return Checkout(
        text=path.read_text(encoding="utf-8", errors="replace"),
        base_dir=path.parent,
        commit_sha=result.commit_sha,
        commit_message=result.commit_message,
    )
