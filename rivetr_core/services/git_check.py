"""Does a repository answer, and has it the branch? (``POST /api/git/check``.)

A new app's form asks before the app exists ("Load branches", and the check before "Create"), so a wrong URL,
branch or credential shows up at once with git's own message instead of as the first deployment's failure.
``git ls-remote`` only: nothing is downloaded. The credentials are the request's (an SSH key by id, an HTTPS
token), else those of an existing app (``app_id``: its settings page) or compose stack (``stack_id``). SSH host
keys are checked against the pinned ones but never pinned here (that is a deployment's decision, as for the build plan).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from rivetr_core.contract import NotFound, ValidationFailed

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext

#: A check waits at most this long for the remote (a form is waiting), whatever the clone timeout is.
CHECK_TIMEOUT = 30.0
MAX_BRANCHES = 500


class GitCheckService:
    def __init__(self, ctx: RivetrContext) -> None:
        self.ctx = ctx

    async def check(
        self,
        git_url: str,
        branch: str | None = None,
        *,
        ssh_key_id: str | None = None,
        git_token: str | None = None,
        git_username: str | None = None,
        app_id: str | None = None,
        stack_id: str | None = None,
    ) -> dict[str, Any]:
        from rivetr_core.engine.gitsource import CloneRequest, GitSourceError, classify_url, list_remote_sync
        from rivetr_core.knownhosts import KnownHostsStore, ssh_target

        kind = classify_url(git_url)
        if kind in ("file", "local") and not self.ctx.config.git.allow_local:
            raise ValidationFailed.on(
                "git_url", "local paths and file:// URLs are disabled ([git] allow_local)"
            )
        if stack_id is not None and ssh_key_id is None and git_token is None:
            # A compose stack's settings page: its stored credentials (another team's stack is a 404).
            try:
                stack = await self.ctx.services.stacks.get(stack_id)
            except NotFound:
                raise NotFound.on("stack_id", f"no stack with id {stack_id!r}") from None
            ssh_key_id, git_token = stack.ssh_key_id, self.ctx.services.stacks.token_of(stack)
            git_username = git_username or stack.git_token_user
        private_key, token, username = await self._credentials(ssh_key_id, git_token, git_username, app_id)
        target = ssh_target(git_url) if kind == "ssh" else None
        request = CloneRequest(
            url=git_url,
            ssh_private_key=private_key,
            token=token,
            username=username,
            timeout=min(CHECK_TIMEOUT, self.ctx.config.git.clone_timeout),
            host_keys=await KnownHostsStore(self.ctx.db).keys(*target) if target is not None else None,
        )
        try:
            refs = await asyncio.to_thread(list_remote_sync, request)
        except GitSourceError as exc:
            return {
                "ok": False,
                "error": str(exc),
                "default_branch": None,
                "branches": [],
                "branch": branch,
                "branch_exists": None,
            }
        return {
            "ok": branch is None or branch in refs.branches,
            "error": None if branch is None or branch in refs.branches else _missing(branch, refs.branches),
            "default_branch": refs.default_branch,
            "branches": refs.branches[:MAX_BRANCHES],
            "branch": branch,
            "branch_exists": None if branch is None else branch in refs.branches,
        }

    async def _credentials(
        self, ssh_key_id: str | None, token: str | None, username: str | None, app_id: str | None
    ) -> tuple[str | None, str | None, str | None]:
        from rivetr_core.models.apps import App, SshKey

        box = self.ctx.secrets
        async with self.ctx.db.session() as session:
            if app_id is not None:
                app = await session.get(App, app_id)  # the team filter applies: another team's app is a 404
                if app is None:
                    raise NotFound.on("app_id", f"no app with id {app_id!r}")
                if ssh_key_id is None and token is None:
                    ssh_key_id = app.ssh_key_id
                    token = box.decrypt(app.git_token_enc) if app.git_token_enc else None
                    username = username or app.git_token_user
            key = None
            if ssh_key_id is not None:
                key = await session.get(SshKey, ssh_key_id)
                if key is None:
                    raise NotFound.on("ssh_key_id", f"no SSH key with id {ssh_key_id!r}")
        return (box.decrypt(key.private_key_enc) if key is not None else None), token, username


def _missing(branch: str, branches: list[str]) -> str:
    shown = ", ".join(branches[:10]) + (" …" if len(branches) > 10 else "")
    return f"the repository has no branch {branch!r}" + (
        f" (it has: {shown})" if branches else " (it is empty)"
    )
