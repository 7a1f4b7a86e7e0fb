"""A token clones a private repository with the pipeline's real clone (GitPython + askpass) from a smart-HTTP
server that, like GitLab, accepts OAuth tokens only with the user name ``oauth2``: the clone request (and the
app's ``git_token_user``) carries the user name, the URL stays as the user wrote it."""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rivetr_core.engine.gitsource import CloneRequest, GitSourceError, clone_sync
from tests.test_deploy_pipeline import deploy, events, fake_runtime, make_app, papi, wait_status  # noqa: F401

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
        # The request names the user (what linking a GitLab account stores): the same URL clones.
        handler.seen_users.clear()
        result = clone_sync(CloneRequest(url, token=TOKEN, username="oauth2"), tmp_path / "b", lines.append)
        assert result.commit_sha == repo.head()
        assert "oauth2" in handler.seen_users and "x-access-token" not in handler.seen_users
        assert TOKEN not in "\n".join(lines)
    finally:
        server.shutdown()
        server.server_close()


def _serve(git_server, handler_users: list[str]):  # type: ignore[no-untyped-def]
    handler = type("H", (_OAuthGitHttp,), {"root": git_server.base, "seen_users": handler_users})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


async def test_app_token_user_reaches_the_pipeline_clone(papi, git_server) -> None:  # noqa: F811
    """``git_token_user`` set through the API (or by linking a GitLab account) is the user the pipeline's clone
    sends with the token; the app's URL is not rewritten."""
    repo = git_server.create_repo("private-gl")
    seen: list[str] = []
    server = _serve(git_server, seen)
    url = f"http://127.0.0.1:{server.server_address[1]}/private-gl.git"
    try:
        app = await make_app(papi, repo, git_url=url, git_token=TOKEN)
        assert app["git_token_user"] is None
        denied = await wait_status(papi, (await deploy(papi, app["id"]))["id"], ("running", "failed"))
        assert denied["status"] == "failed" and seen and set(seen) <= {"", "x-access-token"}
        code, body = await papi.put(f"/api/apps/{app['id']}", json={"git_token_user": "oauth2"})
        assert code == 200 and body["git_token_user"] == "oauth2" and body["git_url"] == url
        done = await wait_status(papi, (await deploy(papi, app["id"]))["id"], ("running", "failed"))
        assert done["status"] == "running" and done["commit_sha"] == repo.head(), done
        assert "oauth2" in seen
        code, err = await papi.put(f"/api/apps/{app['id']}", json={"git_token_user": "a b:c"})
        assert code == 422 and "git_token_user" in str(err)
        code, body = await papi.put(f"/api/apps/{app['id']}", json={"git_token_user": None})
        assert code == 200 and body["git_token_user"] is None
    finally:
        server.shutdown()
        server.server_close()
