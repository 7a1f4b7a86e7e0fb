"""A connected account's token clones a private repository with the pipeline's real clone (GitPython +
askpass) from a smart-HTTP server that, like GitLab, accepts OAuth tokens only with the user name ``oauth2``."""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rivetr_core.engine.gitsource import CloneRequest, GitSourceError, clone_sync
from rivetr_core.gitproviders.accounts import with_clone_username

TOKEN = "glpat-oauth-token-123456"


class _OAuthGitHttp(BaseHTTPRequestHandler):
    root: Path
    seen_users: list[str]

    def log_message(self, *args: object) -> None:
        pass

    def _serve(self) -> None:
        header = self.headers.get("Authorization", "")
        user, _, password = base64.b64decode(header[6:]).decode().partition(":") if header else ("", "", "")
        self.seen_users.append(user)
        if user != "oauth2" or password != TOKEN:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="GitLab"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = {
            **os.environ,
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "REMOTE_USER": user,
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


def test_gitlab_style_token_clone_needs_and_gets_the_oauth2_user(git_server, tmp_path: Path) -> None:
    repo = git_server.create_repo("private-gl")
    handler = type("H", (_OAuthGitHttp,), {"root": git_server.base, "seen_users": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/private-gl.git"
    try:
        lines: list[str] = []
        # What the pipeline does with a bare URL: askpass answers x-access-token, which GitLab refuses.
        with pytest.raises(GitSourceError):
            clone_sync(CloneRequest(url, token=TOKEN), tmp_path / "a", lines.append)
        assert "x-access-token" in handler.seen_users
        # With the user name in the URL (what linking a GitLab account does), the same clone works.
        result = clone_sync(
            CloneRequest(with_clone_username(url, "oauth2"), token=TOKEN), tmp_path / "b", lines.append
        )
        assert result.commit_sha == repo.head()
        assert TOKEN not in "\n".join(lines)
    finally:
        server.shutdown()
        server.server_close()
