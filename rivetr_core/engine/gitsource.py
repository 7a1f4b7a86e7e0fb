"""Fetch an app's source: a shallow clone with GitPython, run in a worker thread (never on the event loop).

* Branch or commit: ``git fetch --depth 1 origin <branch|sha>``; when a server refuses a bare commit id in a
  shallow fetch, the branch is fetched in full and the commit checked out.
* SSH: the decrypted private key goes to a 0600 file in a private temp dir, used through ``GIT_SSH_COMMAND``
  (``IdentitiesOnly``, ``BatchMode``), then deleted. Host keys are pinned per host (:mod:`rivetr_core.knownhosts`):
  the request carries the host's pinned keys, written to the clone's own known_hosts and checked with
  ``StrictHostKeyChecking=yes`` (no global or user known_hosts); with none pinned, ``accept-new`` into an empty
  file, and the key accepted comes back in ``CloneResult.learned_host_keys`` to be pinned. A key that differs
  from the pinned one raises :class:`HostKeyChanged` naming the host and both fingerprints.
* HTTPS token: handed to git by a ``GIT_ASKPASS`` helper reading it (and the user name that goes with it:
  ``x-access-token`` unless the request names one, e.g. GitLab's ``oauth2`` or Bitbucket's ``x-token-auth``)
  from the child's environment, so it never appears in a URL, a command line, the build log or an error
  message. A user name written in the URL itself wins (git then asks only for the password).
* Progress lines (``Receiving objects: 100% …``, ``remote: …``) go to ``on_line`` (the build log), with any
  URL credentials redacted.

Cancellation: a git process cannot be interrupted from the event loop through GitPython, so a cancelled clone
is abandoned by the pipeline (its thread ends by ``clone_timeout`` at the latest) and its work dir removed.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rivetr_core.knownhosts import (
    HostKey,
    HostKeyMismatch,
    known_hosts_text,
    offered_fingerprints,
    parse_known_hosts,
    scan_fingerprints,
    ssh_target,
)

_USERINFO = re.compile(r"\b([a-z][a-z0-9+.-]*://)([^/@\s:]*)(:[^/@\s]*)?@", re.IGNORECASE)
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!//).+")
_SHA = re.compile(r"^[0-9a-f]{7,64}$")
#: The user name the askpass helper answers when the request names none (GitHub's, accepted by Gitea too).
DEFAULT_TOKEN_USER = "x-access-token"
ASKPASS = """#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "${RIVETR_GIT_USERNAME:-x-access-token}" ;;
  *) printf '%s\\n' "$RIVETR_GIT_TOKEN" ;;
esac
"""


class GitSourceError(Exception):
    """The repository could not be fetched; the message is safe to show and log (credentials redacted)."""


class HostKeyChanged(GitSourceError):
    """The SSH host offered a key other than the pinned one (the message names the host and both fingerprints)."""

    def __init__(self, mismatch: HostKeyMismatch) -> None:
        super().__init__(str(mismatch))
        self.mismatch = mismatch


@dataclass
class CloneRequest:
    url: str
    branch: str = "main"
    commit: str | None = None
    ssh_private_key: str | None = None  # decrypted PEM/OpenSSH text
    token: str | None = None  # HTTPS token (password of the askpass helper)
    username: str | None = None  # user name sent with the token; None: DEFAULT_TOKEN_USER
    timeout: float = 300.0
    host_keys: list[HostKey] | None = None  # pinned keys of the SSH host; empty: first use (accept-new)


@dataclass
class CloneResult:
    commit_sha: str
    commit_message: str
    learned_host_keys: list[HostKey] = field(default_factory=list)  # accepted on first use: to be pinned


def redact(text: str) -> str:
    """Hide credentials in any URL inside ``text``: the password of ``user:password@``, and the whole user
    part of an http(s) URL (``https://<token>@host`` is a common way to pass a token). SSH user names stay."""

    def _sub(match: re.Match[str]) -> str:
        scheme, user, password = match.group(1), match.group(2), match.group(3)
        if password:
            return f"{scheme}{user}:***@"
        return f"{scheme}***@" if scheme.lower().startswith("http") else match.group(0)

    return _USERINFO.sub(_sub, text)


def classify_url(url: str) -> str | None:
    """Kind of a git URL: ``https``, ``http``, ``ssh``, ``git``, ``file``, ``local``; None when invalid."""
    text = url.strip()
    if not text or any(ch.isspace() for ch in text):
        return None
    lowered = text.lower()
    for scheme in ("https", "http", "ssh", "git", "file"):
        if lowered.startswith(scheme + "://"):
            rest = text[len(scheme) + 3 :]
            if scheme != "file" and (not rest or rest.startswith("/") or "/" not in rest.strip("/")):
                return None
            return scheme
    if "://" in text:
        return None
    if _SCP_LIKE.match(text):
        return "ssh"
    if text.startswith(("/", "./", "../")):
        return "local"
    return None


def is_commit_sha(value: str) -> bool:
    return bool(_SHA.match(value))


def _progress_class(on_line: Callable[[str], None]):  # type: ignore[no-untyped-def]
    import git

    class Progress(git.RemoteProgress):
        # git prints a percentage line per object batch; keep the build log readable: stage ends and
        # remote messages only.
        def update(self, op_code: int, cur_count, max_count=None, message: str = "") -> None:  # type: ignore[no-untyped-def]
            if op_code & self.END:
                on_line(redact(self._cur_line or ""))

        def line_dropped(self, line: str) -> None:
            if line.strip():
                on_line(redact(line.strip()))

    return Progress


def clone_sync(request: CloneRequest, dest: Path, on_line: Callable[[str], None]) -> CloneResult:
    """Blocking clone into ``dest`` (created, must not exist). Call through ``asyncio.to_thread``."""
    import git

    dest.mkdir(parents=True)
    cred_dir = Path(tempfile.mkdtemp(prefix="rivetr-git-"))
    target = ssh_target(request.url) if classify_url(request.url) == "ssh" else None
    pinned = list(request.host_keys or [])
    known_hosts = cred_dir / "known_hosts"
    seen: list[str] = []  # ssh's own lines (a changed key's fingerprint) reach us as progress lines

    def on_line_seen(line: str) -> None:
        if len(seen) < 200:
            seen.append(line)
        on_line(line)

    try:
        env = _git_env(request, cred_dir, target, pinned)
        progress = _progress_class(on_line_seen)()
        if request.commit:
            result = _fetch_commit(request, dest, env, progress, on_line_seen)
        else:
            # The common case (branch head) in one git process: noticeably faster than init + fetch + checkout.
            on_line(f"$ git clone --depth 1 --branch {request.branch} {redact(request.url)}")
            dest.rmdir()
            repo = git.Repo.clone_from(
                request.url,
                dest,
                env=env,
                progress=progress,
                depth=1,
                branch=request.branch,
                single_branch=True,
                no_tags=True,
                kill_after_timeout=request.timeout,
            )
            try:
                result = _result(repo)
            finally:
                repo.close()
        on_line(f"checked out {result.commit_sha[:12]} {result.commit_message}")
        if target is not None and not pinned and known_hosts.exists():
            result.learned_host_keys = parse_known_hosts(known_hosts.read_text())
        return result
    except git.GitCommandError as exc:
        stderr = redact((exc.stderr or "").strip().replace("stderr: ", ""))
        everything = "\n".join([*seen, stderr])
        if target is not None and pinned and "Host key verification failed" in everything:
            offered = offered_fingerprints(everything) or scan_fingerprints(*target)
            raise HostKeyChanged(HostKeyMismatch(*target, pinned, offered)) from None
        raise GitSourceError(
            f"git fetch of {redact(request.url)} ({request.commit or request.branch}) failed: "
            f"{stderr or redact(str(exc))}"
        ) from None
    except git.InvalidGitRepositoryError as exc:
        raise GitSourceError(f"not a git repository: {exc}") from None
    finally:
        shutil.rmtree(cred_dir, ignore_errors=True)


def _git_env(
    request: CloneRequest, cred_dir: Path, target: tuple[str, int] | None, pinned: list[HostKey]
) -> dict[str, str]:
    """git's environment for ``request``: no prompts, and its SSH key, pinned host keys and HTTPS token as files
    in ``cred_dir`` (private, deleted by the caller) — never on a command line."""
    env = {"GIT_TERMINAL_PROMPT": "0", "GIT_PROTOCOL": "version=2"}
    if target is not None:
        known_hosts = cred_dir / "known_hosts"
        known_hosts.write_text(known_hosts_text(*target, pinned))
        # Only this file is consulted (no global or user known_hosts, no hashing, no IP entries), so the DB
        # alone decides which keys a host may present.
        options = [
            "-o BatchMode=yes",
            f"-o StrictHostKeyChecking={'yes' if pinned else 'accept-new'}",
            f"-o UserKnownHostsFile={known_hosts}",
            "-o GlobalKnownHostsFile=/dev/null",
            "-o HashKnownHosts=no",
            "-o CheckHostIP=no",
            "-o UpdateHostKeys=no",
        ]
        if request.ssh_private_key:
            key_path = cred_dir / "id"
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(request.ssh_private_key.strip() + "\n")
            options = [f"-i {key_path}", "-o IdentitiesOnly=yes", *options]
        env["GIT_SSH_COMMAND"] = "ssh " + " ".join(options)
    if request.token:
        askpass = cred_dir / "askpass.sh"
        askpass.write_text(ASKPASS)
        askpass.chmod(stat.S_IRWXU)
        env["GIT_ASKPASS"] = str(askpass)
        env["RIVETR_GIT_TOKEN"] = request.token
        env["RIVETR_GIT_USERNAME"] = request.username or DEFAULT_TOKEN_USER
    return env


@dataclass
class RemoteRefs:
    default_branch: str | None  # what the remote's HEAD points at
    branches: list[str]


def list_remote_sync(request: CloneRequest) -> RemoteRefs:
    """Blocking ``git ls-remote --symref``: the repository's branches and default branch, nothing downloaded
    (the check a new app's repository and branch get). Call through ``asyncio.to_thread``."""
    import git

    cred_dir = Path(tempfile.mkdtemp(prefix="rivetr-git-"))
    target = ssh_target(request.url) if classify_url(request.url) == "ssh" else None
    try:
        env = _git_env(request, cred_dir, target, list(request.host_keys or []))
        out = str(
            git.cmd.Git().ls_remote(
                "--symref", request.url, "HEAD", "refs/heads/*", env=env, kill_after_timeout=request.timeout
            )
        )
    except git.GitCommandError as exc:
        stderr = redact((exc.stderr or "").strip().replace("stderr: ", "").strip("'").strip())
        raise GitSourceError(
            f"git ls-remote of {redact(request.url)} failed: {stderr or redact(str(exc))}"
        ) from None
    finally:
        shutil.rmtree(cred_dir, ignore_errors=True)
    default: str | None = None
    branches: list[str] = []
    for line in out.splitlines():
        if line.startswith("ref: ") and line.endswith("\tHEAD"):
            ref = line[len("ref: ") : -len("\tHEAD")]
            default = ref.removeprefix("refs/heads/")
        elif "\trefs/heads/" in line:
            branches.append(line.split("\trefs/heads/", 1)[1])
    return RemoteRefs(default, sorted(branches))


def _result(repo) -> CloneResult:  # type: ignore[no-untyped-def]
    head = repo.head.commit
    return CloneResult(head.hexsha, head.summary if isinstance(head.summary, str) else "")


def _fetch_commit(request: CloneRequest, dest: Path, env: dict[str, str], progress, on_line) -> CloneResult:  # type: ignore[no-untyped-def]
    import git

    on_line(f"$ git fetch --depth 1 {redact(request.url)} {request.commit}")
    repo = git.Repo.init(dest)
    try:
        with repo.git.custom_environment(**env):
            origin = repo.create_remote("origin", request.url)
            target = "FETCH_HEAD"
            try:
                origin.fetch(request.commit, depth=1, progress=progress, kill_after_timeout=request.timeout)
            except git.GitCommandError:
                # Servers refuse abbreviated ids (and some any bare id) in a shallow fetch: fetch the branch.
                on_line(f"commit fetch refused; fetching branch {request.branch} in full")
                origin.fetch(request.branch, progress=progress, kill_after_timeout=request.timeout)
                target = request.commit or ""
            repo.git.checkout("--detach", "--force", target)
            result = _result(repo)
        if not result.commit_sha.startswith((request.commit or "").lower()):
            raise GitSourceError(f"commit {request.commit} not found on {redact(request.url)}")
        return result
    finally:
        repo.close()
