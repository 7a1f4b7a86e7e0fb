"""A real git server for tests: bare repositories served by ``git daemon`` on 127.0.0.1.

``git_server`` fixture → :class:`GitServer`; ``git_server.create_repo("web")`` → :class:`GitRepo` holding the
busybox test app (Dockerfile ``FROM localhost/rivetr-test/busybox:latest``, ``busybox httpd`` on port 8000
serving ``www/index.html``, and ``/cgi-bin/env`` printing the container's environment). Change it and push:

    repo.write("www/index.html", "v2")
    sha = repo.commit("v2")          # commits and pushes to the bare repo; returns the new head

``repo.url`` is ``git://127.0.0.1:<port>/<name>.git``; ``repo.path`` the bare repository (for ``allow_local``
unit tests).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.engines import BASE_IMAGE
from tests.support.proxy import free_port, stop_process

APP_PORT = 8000

DOCKERFILE = f"""FROM {BASE_IMAGE}
COPY www /www
EXPOSE {APP_PORT}
CMD ["httpd", "-f", "-v", "-p", "{APP_PORT}", "-h", "/www"]
"""
# CRLF on purpose: busybox httpd passes CGI headers through verbatim, and the builtin proxy (httptools)
# rejects bare-LF header lines with a 502.
ENV_CGI = """#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
env
"""


def busybox_app(content: str = "hello from v1\n") -> dict[str, tuple[str, int]]:
    """Files of the test app: path → (text, mode)."""
    return {
        "Dockerfile": (DOCKERFILE, 0o644),
        "www/index.html": (content, 0o644),
        "www/cgi-bin/env": (ENV_CGI, 0o755),
    }


def _git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@dataclass
class GitRepo:
    name: str
    path: Path  # the bare repository
    work: Path  # a clone the test edits
    url: str

    def write(self, rel: str, content: str, mode: int = 0o644) -> None:
        target = self.work / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        target.chmod(mode)

    def remove(self, rel: str) -> None:
        (self.work / rel).unlink()

    def commit(self, message: str) -> str:
        """Commit everything in the work tree and push it; returns the new commit id."""
        _git("add", "-A", cwd=self.work)
        _git("commit", "-q", "--allow-empty", "-m", message, cwd=self.work)
        _git("push", "-q", "origin", "HEAD:main", cwd=self.work)
        return self.head()

    def head(self) -> str:
        return _git("rev-parse", "HEAD", cwd=self.work).strip()


class GitServer:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.base.mkdir(parents=True, exist_ok=True)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10) -> None:
        self.port, self.proc = _start_listening(
            "git daemon",
            lambda port: [
                "git",
                "daemon",
                "--listen=127.0.0.1",
                f"--port={port}",
                f"--base-path={self.base}",
                "--export-all",
                "--reuseaddr",
                "--informative-errors",
                str(self.base),
            ],
            timeout,
        )

    def stop(self) -> None:
        stop_process(self.proc)

    def create_repo(
        self, name: str, files: dict[str, tuple[str, int]] | None = None, message: str = "initial"
    ) -> GitRepo:
        bare = self.base / f"{name}.git"
        _git("init", "-q", "--bare", "-b", "main", str(bare), cwd=self.base)
        work = self.base / f"{name}.work"
        _git("init", "-q", "-b", "main", str(work), cwd=self.base)
        _git("config", "user.name", "Rivetr Tests", cwd=work)
        _git("config", "user.email", "tests@rivetr.invalid", cwd=work)
        _git("config", "commit.gpgsign", "false", cwd=work)
        _git("remote", "add", "origin", str(bare), cwd=work)
        repo = GitRepo(name, bare, work, f"git://127.0.0.1:{self.port}/{name}.git")
        for rel, (content, mode) in (files if files is not None else busybox_app()).items():
            repo.write(rel, content, mode)
        repo.commit(message)
        return repo


def _listening(proc: subprocess.Popen[bytes], port: int, timeout: float) -> bool:
    """Wait until ``proc`` accepts connections on ``port``; False if it exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def _start_listening(
    what: str, argv: Callable[[int], list[str]], timeout: float
) -> tuple[int, subprocess.Popen[bytes]]:
    """Start ``argv(port)`` on a free port and wait until it listens; another port if that one was taken
    between probe and bind (up to 5 tries)."""
    for _ in range(5):
        port = free_port()
        proc = subprocess.Popen(argv(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if _listening(proc, port, timeout):
            return port, proc
        stop_process(proc)
    raise RuntimeError(f"{what} did not start")


@pytest.fixture
def git_server(tmp_path: Path) -> Iterator[GitServer]:
    server = GitServer(tmp_path / "git")
    server.start()
    try:
        yield server
    finally:
        server.stop()


class SshGitServer:
    """``sshd`` on 127.0.0.1 serving the git daemon's repositories over SSH for one generated client key.

    ``url(repo)`` → ``ssh://root@127.0.0.1:<port>/<bare path>``; ``private_key`` is the OpenSSH text of the
    only key it accepts. Installs Debian's openssh-server on first use when running as root.
    """

    SSHD = "/usr/sbin/sshd"

    def __init__(self, base: Path) -> None:
        self.base = base
        self.base.mkdir(parents=True, exist_ok=True)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.private_key = ""

    def start(self, timeout: float = 10) -> None:
        if not Path(self.SSHD).exists():
            if os.geteuid() != 0:
                pytest.skip("sshd is not installed (apt-get install -y openssh-server)")
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", "openssh-server"],
                check=True,
                capture_output=True,
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                timeout=600,
            )
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege-separation directory
        for name in ("host_key", "client_key"):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.base / name)], check=True
            )
        self.private_key = (self.base / "client_key").read_text()
        (self.base / "authorized_keys").write_text((self.base / "client_key.pub").read_text())
        config = self.base / "sshd_config"

        def argv(port: int) -> list[str]:
            config.write_text(
                f"Port {port}\nListenAddress 127.0.0.1\nHostKey {self.base / 'host_key'}\n"
                f"PidFile {self.base / 'sshd.pid'}\nAuthorizedKeysFile {self.base / 'authorized_keys'}\n"
                "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
                "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
            )
            return [self.SSHD, "-D", "-e", "-f", str(config)]

        self.port, self.proc = _start_listening("sshd", argv, timeout)

    def url(self, repo: GitRepo) -> str:
        return f"ssh://root@127.0.0.1:{self.port}{repo.path}"

    def host_fingerprint(self) -> str:
        """``SHA256:…`` of the host key sshd presents (as ``ssh-keygen -l`` prints it)."""
        out = subprocess.run(
            ["ssh-keygen", "-l", "-f", str(self.base / "host_key.pub")],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return out.split()[1]

    def change_host_key(self, timeout: float = 10) -> None:
        """Stop sshd and start another one on the same port with a new host key: what a man in the middle (or
        a key rotation) looks like to a client that pinned the old key."""
        self.stop()
        for name in ("host_key", "host_key.pub"):
            (self.base / name).unlink()
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.base / "host_key")], check=True
        )
        self.proc = subprocess.Popen(
            [self.SSHD, "-D", "-e", "-f", str(self.base / "sshd_config")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not _listening(self.proc, self.port, timeout):
            raise RuntimeError("sshd did not start again on its port")

    def stop(self) -> None:
        stop_process(self.proc)


@pytest.fixture
def ssh_git_server(tmp_path: Path) -> Iterator[SshGitServer]:
    server = SshGitServer(tmp_path / "sshd")
    server.start()
    try:
        yield server
    finally:
        server.stop()


class GitHttpServer:
    """Smart HTTP through ``git http-backend`` (CGI) behind Basic auth that wants ``user:token``, the way
    GitHub (``x-access-token``), GitLab (``oauth2``) and Bitbucket (``x-token-auth``) take tokens.

    ``url(name)`` → ``http://127.0.0.1:<port>/<name>.git``; ``seen_users`` / ``seen_auth`` record what clients
    sent (to prove which user a clone used, and that a token went in a header, never a URL or a log).
    """

    def __init__(self, root: Path, *, user: str, token: str) -> None:
        import base64
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.seen_users: list[str] = []
        self.seen_auth: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                header = self.headers.get("Authorization", "")
                outer.seen_auth.append(header)
                sent_user, _, password = (
                    base64.b64decode(header[6:]).decode().partition(":")
                    if header.startswith("Basic ")
                    else ("", "", "")
                )
                outer.seen_users.append(sent_user)
                if (sent_user, password) != (user, token):
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path, _, query = self.path.partition("?")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                env = {
                    **os.environ,
                    "GIT_PROJECT_ROOT": str(root),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "PATH_INFO": path,
                    "QUERY_STRING": query,
                    "REQUEST_METHOD": self.command,
                    "REMOTE_USER": sent_user,
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                    "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                }
                out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
                head, _, payload = out.partition(b"\r\n\r\n")
                status, headers = 200, []
                for line in head.decode().split("\r\n"):
                    key, _, value = line.partition(":")
                    if key.lower() == "status":
                        status = int(value.strip().split()[0])
                    elif key:
                        headers.append((key, value.strip()))
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _serve
            do_POST = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}.git"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> GitHttpServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
